"""The contracts' helpers in gym_reason.core."""

from __future__ import annotations

import gym_reason
from gym_reason.core import MAX_TEXT_LENGTH, TEXT_CHARSET, text_space


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
