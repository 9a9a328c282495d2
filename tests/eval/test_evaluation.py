"""Matches and their statistics: paired seeds, interval coverage, failed games, the results schema."""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence

import pytest

import gym_reason
from gym_reason.agents import AgentError, make_agent
from gym_reason.agents.base import Observation
from gym_reason.core import GAME_OBSERVATION
from gym_reason.eval.engine import Seating, labelled_requests, play_episodes
from gym_reason.eval.evaluation import AGENT, EvalResult, evaluate, seatings_for, summarize
from gym_reason.eval.stats import bootstrap_interval, mean_interval, t_quantile, wilson_interval

KUHN_FIRST_SEAT_VALUE = -1 / 18
"""The value of Kuhn Poker for the first player under any Nash equilibrium."""


def _first_views(transcript: list[dict]) -> dict[str, str]:
    views: dict[str, str] = {}
    for move in transcript:
        views.setdefault(move["agent"], move["observation"])
    return views


def test_paired_seeds_play_each_deal_from_both_seats(tmp_path) -> None:
    path = tmp_path / "games.jsonl"
    result = evaluate("fixed:nash", "kuhn_poker", ["random"], games=40, seed=3, transcripts=path)
    games = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(games) == 40 and result.provenance.paired
    for first, second in zip(games[::2], games[1::2], strict=True):
        assert first["seed"] == second["seed"]
        assert first["seats"] == ["fixed:nash", "random"] and second["seats"] == ["random", "fixed:nash"]
        # The same deal: each seat is dealt the same card in both games, so its first view is identical.
        assert _first_views(first["moves"])["player_0"] == _first_views(second["moves"])["player_0"]
        # ... and the agent holds player_0's card in one game and player_1's in the other.
    assert len({g["seed"] for g in games}) == 20
    # Different groups get different deals (20 deals of 6 possible: several distinct first views).
    assert len({_first_views(g["moves"])["player_0"] for g in games}) >= 3


def test_unpaired_games_use_fresh_seeds_and_still_alternate_seats() -> None:
    seatings = seatings_for(2, 5, 100, "a", "b", paired=False)
    assert [s.seed for s in seatings] == [100, 101, 102, 103, 104]
    assert [s.seats[0] for s in seatings] == ["a", "b", "a", "b", "a"]
    assert len(seatings_for(2, 5, 0, "a", "b", paired=True)) == 6  # rounded up to whole groups


def test_paired_intervals_are_narrower_than_unpaired() -> None:
    paired = evaluate("fixed:nash", "kuhn_poker", ["fixed:nash"], games=800, seed=0)
    unpaired = evaluate("fixed:nash", "kuhn_poker", ["fixed:nash"], games=800, seed=0, paired=False)
    width = [r.results[0].overall.reward_ci.high - r.results[0].overall.reward_ci.low for r in (paired, unpaired)]
    assert paired.results[0].overall.reward_ci_unit == "paired group"
    assert width[0] < 0.6 * width[1]  # the deal's luck cancels within a group


def test_interval_covers_nash_first_seat_value_in_at_least_90_of_100_repetitions() -> None:
    covered, covered_paired = 0, 0
    for rep in range(100):
        result = evaluate("fixed:nash", "kuhn_poker", ["fixed:nash"], games=200, seed=1000 * rep, concurrency=40)
        seat = result.results[0].by_seat["player_0"]
        covered += seat.reward_ci.low <= KUHN_FIRST_SEAT_VALUE <= seat.reward_ci.high
        overall = result.results[0].overall  # Nash against Nash over both seats: exactly 0
        covered_paired += overall.reward_ci.low <= 0.0 <= overall.reward_ci.high
    assert covered >= 90, covered
    assert covered_paired >= 90, covered_paired


def test_outcome_counts_match_the_games() -> None:
    result = evaluate("fixed:always_bet", "kuhn_poker", ["fixed:always_check"], games=300, seed=5)
    s = result.results[0].overall
    assert s.games == 300 and s.failed == 0
    assert s.win.count + s.loss.count + s.draw.count + s.forfeit.count + s.truncated.count == 300
    assert s.win.ci.low <= s.win.rate <= s.win.ci.high
    # Always-bet against always-check: the checker folds every bet, so the bettor wins every hand by 1 chip.
    assert s.win.rate == 1.0 and s.mean_reward == pytest.approx(1.0)
    assert s.invalid_moves.count == 0 and s.tokens_per_turn is None


def test_invalid_moves_and_forfeits_are_counted() -> None:
    class Gibberish:
        name = "gibberish"

        def act(self, batch: Sequence[Observation]) -> list[str]:
            return ["I fold my arms"] * len(batch)

    result = evaluate(Gibberish(), "kuhn_poker", ["random"], games=20, seed=0)
    s = result.results[0].overall
    assert s.forfeit.rate == 1.0 and s.invalid_moves.rate == 1.0 and s.mean_reward == -1.0


class _FlakyServerAgent:
    """Answers like ``random`` but cannot answer observations whose card is a King (a server down for them)."""

    name = "flaky"

    def __init__(self, env) -> None:
        self.inner = make_agent("random", env, seed=0)

    def act(self, batch: Sequence[Observation]) -> list[str]:
        answers = self.inner.act(batch)
        failed = {
            i: "HTTP 500 after 3 retries" for i, (_, info) in enumerate(batch) if info[GAME_OBSERVATION]["card"] == "K"
        }
        if failed:
            raise AgentError([None if i in failed else a for i, a in enumerate(answers)], failed)
        return answers


def test_games_an_agent_cannot_answer_are_failed_not_lost() -> None:
    env = gym_reason.make("kuhn_poker")
    result = evaluate(_FlakyServerAgent(env), "kuhn_poker", ["fixed:always_check"], games=120, seed=0)
    s = result.results[0].overall
    assert 0 < s.failed < 120 and s.games + s.failed == 120
    # Every scored game had the agent without a King, against a bot that never bets.
    assert s.games == sum(o.count for o in (s.win, s.loss, s.draw, s.forfeit, s.truncated))
    assert any("game(s) failed" in note and "HTTP 500" in note for note in result.notes)


def test_run_games_batches_each_agent_once_per_round() -> None:
    calls = []

    class Counting:
        name = "counting"

        def __init__(self, inner) -> None:
            self.inner = inner

        def act(self, batch: Sequence[Observation]) -> list[str]:
            calls.append(len(batch))
            return self.inner.act(batch)

    env = gym_reason.make("kuhn_poker")
    agents = {"a": Counting(make_agent("random", env, seed=1)), "b": make_agent("random", env, seed=2)}
    seatings = [Seating(s, ("a", "b")) for s in range(64)]
    records = play_episodes(
        labelled_requests(seatings, agents), make_env=lambda: gym_reason.make("kuhn_poker"), concurrency=64
    )
    assert len(records) == 64 and all(not r.failed for r in records)
    assert calls[0] == 64  # the first move of every game in one call
    assert sum(calls) == sum(r.moves[0] for r in records)
    assert len(calls) <= 2  # player_0 moves at most twice in a hand


def test_run_games_matches_one_by_one_play() -> None:
    """Batching changes only how many games are in flight, not the games: scripted agents that are
    deterministic per observation give identical records either way."""
    env = gym_reason.make("tic_tac_toe")
    agents = {"x": make_agent("fixed:minimax", env, seed=0), "o": make_agent("fixed:minimax", env, seed=0)}
    seatings = [Seating(s, ("x", "o")) for s in range(8)]
    batched = play_episodes(
        labelled_requests(seatings, agents), make_env=lambda: gym_reason.make("tic_tac_toe"), concurrency=8
    )
    serial = play_episodes(
        labelled_requests(seatings, agents), make_env=lambda: gym_reason.make("tic_tac_toe"), concurrency=1
    )
    assert [r.rewards for r in batched] == [r.rewards for r in serial]
    assert all(r.outcomes == ["draw", "draw"] for r in batched)


def test_results_round_trip_and_carry_provenance(tmp_path) -> None:
    result = evaluate("random", "kuhn_poker", ["fixed:nash"], games=10, seed=9, command=["gym-reason", "eval"])
    path = result.save(tmp_path / "r.json")
    again = EvalResult.load(path)
    assert again == result
    p = again.provenance
    assert (p.env_id, p.env_version, p.seed, p.agent) == ("gym_reason/KuhnPoker-v0", 0, 9, "random")
    assert p.package_version == gym_reason.__version__ and p.command == ["gym-reason", "eval"]
    assert set(again.results[0].by_seat) == {"player_0", "player_1"}


def test_bad_arguments_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="at least one opponent"):
        evaluate("random", "kuhn_poker", [], games=10)
    with pytest.raises(ValueError, match="unknown interval method 'z'"):
        evaluate("random", "kuhn_poker", ["random"], games=10, ci="z")
    with pytest.raises(ValueError, match="games must be at least 1"):
        evaluate("random", "kuhn_poker", ["random"], games=0)
    with pytest.raises(ValueError, match=r"unknown fixed opponent 'nsh'.*fixed:nash"):
        evaluate("random", "kuhn_poker", ["fixed:nsh"], games=10)


# --- the statistics themselves -----------------------------------------------------------------------
def test_t_quantile_matches_scipy() -> None:
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 4, 5, 8, 15, 30, 99, 1000):
        for p in (0.9, 0.95, 0.975, 0.995):
            assert t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-4)


def test_wilson_and_mean_intervals() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(1 - hi) and 0.40 < lo < 0.41
    with pytest.raises(ValueError, match="successes=5, trials=3"):
        wilson_interval(5, 3)
    assert mean_interval([2.0]) == (-math.inf, math.inf)
    assert mean_interval([2.0, 2.0, 2.0]) == (2.0, 2.0)
    lo, hi = bootstrap_interval([0.0, 1.0] * 50, seed=1)
    assert lo < 0.5 < hi and bootstrap_interval([0.0, 1.0] * 50, seed=1) == (lo, hi)


def test_wilson_interval_covers_a_known_rate() -> None:
    import random

    rng = random.Random(0)
    covered = 0
    for _ in range(400):
        wins = sum(rng.random() < 0.3 for _ in range(60))
        lo, hi = wilson_interval(wins, 60)
        covered += lo <= 0.3 <= hi
    assert covered >= 0.92 * 400


def test_summarize_excludes_failed_games() -> None:
    from gym_reason.eval.engine import Episode as GameRecord

    good = GameRecord(1, [AGENT, "b"], [1.0, -1.0], ["win", "loss"], [0, 0], [2, 1], [None, None])
    bad = GameRecord(2, [AGENT, "b"], [0.0, 0.0], [None, None], [0, 0], [0, 0], [None, None], error="boom")
    s = summarize([good, bad], AGENT, paired=False)
    assert (s.games, s.failed, s.win.count, s.mean_reward, s.mean_turns) == (1, 1, 1, 1.0, 2.0)


def test_the_eval_table_shows_brackets_in_agent_names_as_text() -> None:
    from rich.console import Console

    from gym_reason.eval.report import eval_table

    agent = make_agent("fixed:nash", gym_reason.make("kuhn_poker"), seed=0)
    agent.name = "nash[bold]"  # rich would read "[bold]" as a style and drop it
    result = evaluate(agent, "kuhn_poker", ["random"], games=4, seed=0)
    console = Console(width=300, record=True, file=io.StringIO())
    console.print(eval_table(result))
    assert "nash[bold] on gym_reason/KuhnPoker-v0" in console.export_text()
