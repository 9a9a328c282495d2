"""Tournament ratings: Bradley–Terry recovers a known order and its Elo gaps, openskill agrees at the ends."""

from __future__ import annotations

import numpy as np
import pytest

from gym_reason.eval.ratings import (
    ELO_PER_LOGIT,
    PairResult,
    fit_bradley_terry,
    fit_openskill,
    rate_tournament,
    win_rate_matrix,
)

# True strengths; the names sort in a different order so that alphabetical order cannot pass for skill.
TRUE_ELO = {"delta": 0.0, "alpha": 100.0, "echo": 200.0, "bravo": 400.0, "charlie": 600.0}


def _simulated_tournament(seed: int, games_per_pair: int = 200) -> list[PairResult]:
    """Every pair plays ``games_per_pair`` games; ``a`` wins each with the Elo probability of the true ratings."""
    rng = np.random.default_rng(seed)
    names = list(TRUE_ELO)
    results = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            p = 1.0 / (1.0 + 10.0 ** ((TRUE_ELO[b] - TRUE_ELO[a]) / 400.0))
            wins = int(rng.binomial(games_per_pair, p))
            results.append(PairResult(a=a, b=b, wins=wins, losses=games_per_pair - wins))
    return results


@pytest.mark.parametrize("seed", [0, 1])
def test_bradley_terry_recovers_the_true_order_and_elo(seed: int) -> None:
    ratings = rate_tournament(_simulated_tournament(seed), seed=seed)
    by_true_elo = sorted(TRUE_ELO, key=TRUE_ELO.__getitem__, reverse=True)
    assert [row.name for row in ratings.rows] == by_true_elo
    assert [row.rank for row in ratings.rows] == [1, 2, 3, 4, 5]
    assert sum(row.elo for row in ratings.rows) == pytest.approx(0.0, abs=1e-6)  # mean-centred

    mean = np.mean(list(TRUE_ELO.values()))
    covered = [row.name for row in ratings.rows if row.elo_low <= TRUE_ELO[row.name] - mean <= row.elo_high]
    assert len(covered) >= 4, [(row.name, row.elo_low, row.elo_high) for row in ratings.rows]
    for row in ratings.rows:
        assert row.elo_low < row.elo < row.elo_high
        # With 800 games each the bootstrap interval and the Fisher interval are about as wide.
        assert (row.elo_high - row.elo_low) / (2 * 1.96 * row.elo_se) == pytest.approx(1.0, rel=0.25)
        assert row.games == 800

    ordinals = {row.name: row.openskill_ordinal for row in ratings.rows}
    assert max(ordinals, key=ordinals.__getitem__) == "charlie"
    assert min(ordinals, key=ordinals.__getitem__) == "delta"
    for row in ratings.rows:
        assert row.openskill_ordinal == pytest.approx(row.openskill_mu - 3 * row.openskill_sigma)


def test_two_agents_get_the_log_odds_of_their_score() -> None:
    # 3-to-1 odds are 400·log10(3) = 190.8 Elo apart; the tiny prior barely shrinks that.
    fit = fit_bradley_terry([PairResult(a="strong", b="weak", wins=300, losses=100)], prior_draws=0.01, resamples=0)
    gap = fit.ratings["strong"].elo - fit.ratings["weak"].elo
    assert gap == pytest.approx(400 * np.log10(3), abs=0.1)
    assert ELO_PER_LOGIT * np.log(3) == pytest.approx(400 * np.log10(3))


def test_symmetric_results_give_equal_ratings() -> None:
    results = [
        PairResult(a="x", b="y", wins=4, losses=4, draws=2),
        PairResult(a="y", b="z", wins=3, losses=3),
        PairResult(a="z", b="x", wins=5, losses=5, draws=1),
    ]
    ratings = rate_tournament(results, resamples=200)
    for row in ratings.rows:
        assert row.elo == pytest.approx(0.0, abs=1e-6)
        assert row.score_rate == pytest.approx(0.5)
    assert [row.name for row in ratings.rows] == ["x", "y", "z"]  # ties are broken by name


def test_an_undefeated_agent_gets_a_finite_first_rating_from_the_prior() -> None:
    results = [
        PairResult(a="champion", b="b", wins=20, losses=0),
        PairResult(a="c", b="champion", wins=0, losses=20),
        PairResult(a="b", b="c", wins=10, losses=10),
    ]
    ratings = rate_tournament(results)
    top = ratings.rows[0]
    assert top.name == "champion"
    assert np.isfinite([top.elo, top.elo_low, top.elo_high, top.elo_se]).all()
    assert top.elo_low < top.elo  # the parametric bootstrap sees losses the sample did not
    assert ratings.method.prior_draws == 1.0

    # A weaker prior lets the rating run further out; it stays finite.
    weaker = fit_bradley_terry(results, prior_draws=0.1, resamples=0)
    assert np.isfinite(weaker.ratings["champion"].elo)
    assert weaker.ratings["champion"].elo > top.elo


def test_a_draw_counts_as_half_a_win() -> None:
    with_draws = [PairResult(a="x", b="y", wins=3, losses=1, draws=2), PairResult(a="y", b="z", wins=2, losses=2)]
    as_halves = [PairResult(a="x", b="y", wins=4, losses=2), PairResult(a="y", b="z", wins=2, losses=2)]
    for name in ("x", "y", "z"):
        assert fit_bradley_terry(with_draws, resamples=0).ratings[name].elo == pytest.approx(
            fit_bradley_terry(as_halves, resamples=0).ratings[name].elo, abs=1e-9
        )
    only_draws = win_rate_matrix([PairResult(a="x", b="y", wins=0, losses=0, draws=7)], ["x", "y"])
    assert only_draws == {"x": {"x": None, "y": 0.5}, "y": {"x": 0.5, "y": None}}
    drawn = fit_openskill([PairResult(a="x", b="y", wins=0, losses=0, draws=7)])
    assert drawn["x"].mu == pytest.approx(drawn["y"].mu)


def test_win_rate_matrix_adds_both_orders_and_leaves_unplayed_pairs_none() -> None:
    results = [
        PairResult(a="x", b="y", wins=6, losses=2, draws=0),
        PairResult(a="y", b="x", wins=1, losses=0, draws=1),  # seats swapped: from y's point of view
        PairResult(a="x", b="z", wins=0, losses=0, draws=0),  # every game failed
    ]
    matrix = win_rate_matrix(results, ["x", "y", "z", "w"])
    assert matrix["x"]["y"] == pytest.approx((6 + 0 + 0.5) / 10)
    assert matrix["y"]["x"] == pytest.approx(1 - matrix["x"]["y"])
    assert [matrix[name][name] for name in "xyzw"] == [None] * 4
    assert matrix["x"]["z"] is None and matrix["z"]["x"] is None
    assert all(value is None for value in matrix["w"].values())
    assert list(matrix) == ["x", "y", "z", "w"] and list(matrix["x"]) == ["x", "y", "z", "w"]


def test_ratings_are_deterministic_under_the_seed() -> None:
    results = _simulated_tournament(seed=3, games_per_pair=20)
    first = rate_tournament(results, seed=7, resamples=300)
    assert rate_tournament(results, seed=7, resamples=300) == first
    other = rate_tournament(results, seed=8, resamples=300)
    assert [row.elo for row in other.rows] == pytest.approx([row.elo for row in first.rows])  # the fit has no noise
    assert [row.elo_low for row in other.rows] != [row.elo_low for row in first.rows]  # the bootstrap does
    assert [row.openskill_mu for row in other.rows] != [row.openskill_mu for row in first.rows]  # so does the order


def test_anchor_and_base_shift_the_scale() -> None:
    results = _simulated_tournament(seed=4, games_per_pair=30)
    centred = fit_bradley_terry(results, resamples=0)
    anchored = fit_bradley_terry(results, anchor="delta", base=1000.0, resamples=100)
    assert anchored.ratings["delta"].elo == 1000.0
    assert anchored.ratings["delta"].se == pytest.approx(0.0, abs=1e-6)
    shift = anchored.ratings["delta"].elo - centred.ratings["delta"].elo
    for name in TRUE_ELO:
        assert anchored.ratings[name].elo == pytest.approx(centred.ratings[name].elo + shift)


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: PairResult(a="x", b="y", wins=-1, losses=2), "wins=-1"),
        (lambda: PairResult(a="x", b="y", wins=1, losses=2, draws=-3), "draws=-3"),
        (lambda: PairResult(a="x", b="x", wins=1, losses=2), "'x'"),
        (lambda: PairResult(a="x", b="y", wins=1, losses=2, games=4), "games=4"),
        (lambda: fit_bradley_terry([]), "results is empty"),
        (lambda: rate_tournament([]), "results is empty"),
        (lambda: fit_openskill([]), "results is empty"),
        (lambda: fit_bradley_terry([PairResult(a="x", b="y", wins=1, losses=1)], anchor="nobody"), "'nobody'"),
        (lambda: fit_bradley_terry([PairResult(a="x", b="y", wins=1, losses=1)], prior_draws=0), "prior_draws=0"),
        (lambda: fit_bradley_terry([PairResult(a="x", b="y", wins=1, losses=1)], resamples=-5), "resamples=-5"),
        (lambda: fit_bradley_terry([PairResult(a="x", b="y", wins=1, losses=1)], confidence=95), "confidence=95"),
        (
            lambda: fit_bradley_terry(
                [PairResult(a="x", b="y", wins=1, losses=1), PairResult(a="x", b="z", wins=0, losses=0)]
            ),
            "['z']",
        ),
        (lambda: win_rate_matrix([PairResult(a="x", b="y", wins=1, losses=1)], ["x"]), "'y'"),
        (lambda: win_rate_matrix([], ["x", "x"]), "['x']"),
        (lambda: fit_bradley_terry([{"a": "x", "b": "y", "wins": 1, "losses": 0}]), "dict"),
    ],
)
def test_bad_input_raises_a_value_error_naming_the_value(build, named: str) -> None:
    with pytest.raises(ValueError) as error:
        build()
    assert named in str(error.value)


def test_intervals_contain_the_estimate_when_the_model_misfits_a_pair() -> None:
    """Intransitive pairs (A beats B, B crushes C, but A and C mostly draw) made the bootstrap draw games whose
    mean score differed from the fitted one, and two estimates fell outside their own 95% intervals."""
    results = [
        PairResult(a="A", b="B", wins=146, losses=54, draws=0),
        PairResult(a="B", b="C", wins=200, losses=0, draws=0),
        PairResult(a="A", b="C", wins=36, losses=18, draws=146),
        PairResult(a="A", b="D", wins=110, losses=49, draws=41),
        PairResult(a="B", b="D", wins=97, losses=75, draws=28),
        PairResult(a="D", b="C", wins=124, losses=14, draws=62),
    ]
    fit = fit_bradley_terry(results, seed=0)
    for name, estimate in fit.ratings.items():
        assert estimate.ci_low <= estimate.elo <= estimate.ci_high, (name, estimate)
