"""The contracts' helpers in gym_reason.core."""

from __future__ import annotations

import argparse
import re

import pytest

import gym_reason
from gym_reason.core import (
    ANSWER_FORMATS,
    INVALID_MOVE_RULES,
    MAX_TEXT_LENGTH,
    TEXT_CHARSET,
    AnswerFormat,
    InvalidMoveRule,
    text_space,
)


def test_text_spaces_are_equal_but_each_has_its_own_generator() -> None:
    a, b = text_space(), text_space()
    assert a is not b and a == b
    assert a.max_length == MAX_TEXT_LENGTH and a.min_length == 0
    assert set(a.character_set) == set(TEXT_CHARSET)
    a.seed(0)
    first = [a.sample() for _ in range(3)]
    b.seed(1)
    b.sample()  # seeding and drawing from b leaves a's stream alone
    a.seed(0)
    assert [a.sample() for _ in range(3)] == first
    b.seed(0)
    assert [b.sample() for _ in range(3)] == first


def test_every_env_gets_its_own_spaces() -> None:
    one, two = gym_reason.make("kuhn_poker"), gym_reason.make("kuhn_poker")
    assert one.observation_space("player_0") is not two.observation_space("player_0")
    assert text_space(10).max_length == 10 and text_space().max_length == MAX_TEXT_LENGTH


def test_named_rules_and_formats_each_come_from_one_table() -> None:
    """INVALID_MOVE_RULES and ANSWER_FORMATS are where a name resolves, what its error lists and what the CLI offers."""
    from gym_reason.cli import build_parser

    assert InvalidMoveRule.named("spiral") is INVALID_MOVE_RULES["spiral"] == InvalidMoveRule(-1.5, 0.5)
    assert AnswerFormat.named("boxed") is ANSWER_FORMATS["boxed"]
    with pytest.raises(ValueError, match=re.escape(f"'spiarl'; valid: {sorted(INVALID_MOVE_RULES)}")):
        InvalidMoveRule.named("spiarl")
    with pytest.raises(ValueError, match=re.escape(f"'box'; valid: {sorted(ANSWER_FORMATS)}")):
        AnswerFormat.named("box")
    subcommands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    play = {a.dest: a.choices for a in subcommands.choices["play"]._actions}
    assert play["answer_format"] == list(ANSWER_FORMATS) and play["invalid_move"] == list(INVALID_MOVE_RULES)
    with pytest.raises(TypeError):
        INVALID_MOVE_RULES["mine"] = InvalidMoveRule()  # type: ignore[index]
