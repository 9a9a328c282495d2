"""A run of one env alone starts from the config values its registration declares; files and flags override them."""

from __future__ import annotations

from gym_reason.registry import spec
from gym_reason.trainer.config import FIELDS, load_config


def test_simple_negotiation_alone_trains_against_its_heuristic_with_short_replies():
    config = load_config(overrides={"games": "simple_negotiation"})
    assert config.opponents == ["fixed:heuristic", "random"] and config.opponent_fraction == 0.5
    assert config.max_new_tokens == 48 and config.steps == 30 and config.eval_every == 10 and config.eval_at_start
    assert load_config().opponents == [] and load_config().steps == FIELDS["steps"].default  # Kuhn: plain defaults


def test_flags_and_config_files_override_a_games_defaults(tmp_path):
    assert load_config(overrides={"games": "simple_negotiation", "opponents": "", "steps": "7"}).opponents == []
    path = tmp_path / "c.yaml"
    path.write_text("games: [simple_negotiation]\nmax_new_tokens: 64\n")
    config = load_config(path)
    assert config.max_new_tokens == 64 and config.opponents == ["fixed:heuristic", "random"]


def test_a_run_of_several_games_starts_from_the_plain_defaults():
    """The heuristic is Simple Negotiation's: Kuhn Poker has no fixed:heuristic, so nothing carries over."""
    config = load_config(overrides={"games": "kuhn_poker,simple_negotiation"})
    assert config.opponents == [] and config.max_new_tokens == FIELDS["max_new_tokens"].default
    assert spec("kuhn_poker").training == {}
