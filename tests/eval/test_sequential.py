"""Sequential paired evaluation: the SPRT's error rates on 1,000 simulated matches of known deal-win probability,
its decisions on real games, the games cap, and ``gym-reason eval --until-decided``."""

from __future__ import annotations

import json
import random

import pytest

from gym_reason.cli import main
from gym_reason.eval.sequential import Decision, SequentialTest, play_until_decided, simulate
from gym_reason.eval.stats import wilson_interval

MATCHES = 1000


def _errors(p: float, wrong: set[Decision], *, delta: float, alpha: float, beta: float, seed: int) -> int:
    rng = random.Random(seed)
    return sum(simulate(p, delta=delta, alpha=alpha, beta=beta, rng=rng)[0] in wrong for _ in range(MATCHES))


@pytest.mark.parametrize(("delta", "alpha", "beta"), [(0.1, 0.05, 0.1), (0.2, 0.1, 0.05)])
def test_simulated_error_rates_match_the_nominal_ones(delta, alpha, beta):
    # Equal players: calling either better or worse is the alpha error.
    false_calls = _errors(0.5, {Decision.BETTER, Decision.WORSE}, delta=delta, alpha=alpha, beta=beta, seed=1)
    lo, hi = wilson_interval(false_calls, MATCHES)
    assert lo <= alpha <= hi, (false_calls, lo, hi)
    # A real difference of delta: anything but "better" is the beta error (and it is never called worse).
    rng = random.Random(2)
    decisions = [simulate(0.5 + delta, delta=delta, alpha=alpha, beta=beta, rng=rng)[0] for _ in range(MATCHES)]
    misses = sum(d is not Decision.BETTER for d in decisions)
    lo, hi = wilson_interval(misses, MATCHES)
    assert lo <= beta <= hi, (misses, lo, hi)
    assert Decision.WORSE not in decisions and Decision.UNDECIDED not in decisions


def test_ties_are_skipped_and_a_clear_difference_stops_early():
    rng = random.Random(0)
    decision, deals = simulate(0.9, delta=0.1, alpha=0.05, beta=0.05, rng=rng, p_tie=0.5)
    assert decision is Decision.BETTER and deals < 60
    test = SequentialTest(0.1, 0.05, 0.05)
    assert [test.observe(0) for _ in range(100)] == [None] * 100 and test.ties == 100 and test.llr_better == 0
    assert test.upper_bound == pytest.approx(
        3.6375862
    )  # log(0.95 / 0.025) and test.lower_bound == pytest.approx(-2.9704145)  # log(0.05 / 0.975)


def test_bad_arguments_name_the_valid_range():
    with pytest.raises(ValueError, match=r"delta must be in \(0, 0.5\)"):
        SequentialTest(delta=0.5)
    with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\)"):
        SequentialTest(alpha=0)


def test_real_head_to_heads_are_decided_and_capped():
    better = play_until_decided("fixed:nash", "random", "kuhn_poker", max_games=2000, seed=0, batch_deals=16)
    assert better.decision is Decision.BETTER and better.games < 200 and better.games_played >= better.games
    worse = play_until_decided("random", "fixed:always_bet", "kuhn_poker", max_games=2000, seed=0)
    assert worse.decision is Decision.WORSE and worse.mean_reward < 0
    capped = play_until_decided("fixed:nash", "fixed:nash", "kuhn_poker", max_games=100, seed=0)
    assert capped.decision is Decision.UNDECIDED and capped.games_played == 100 and capped.deals == 50


def test_cli_until_decided_writes_the_decision(tmp_path, capsys):
    out = tmp_path / "seq.json"
    args = ["eval", "--agent", "fixed:nash", "--game", "kuhn_poker", "--opponents", "random", "--until-decided"]
    assert main([*args, "--games", "1000", "--delta", "0.2", "--out", str(out)]) == 0
    assert "fixed:nash vs random: BETTER" in capsys.readouterr().out
    [result] = json.loads(out.read_text())
    assert result["decision"] == "better" and result["delta"] == 0.2 and result["games"] <= 1000
