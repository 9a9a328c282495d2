"""Ratings for a tournament of agents in a two-player zero-sum game.

The tournament runner hands over one :class:`PairResult` per pair of agents
(wins, losses and draws from the first agent's point of view; failed games are
left out before this point). From those:

- :func:`win_rate_matrix` is the score rate of every agent against every other;
- :func:`fit_bradley_terry` fits Bradley–Terry strengths by maximum a posteriori
  Newton iteration and reports them on the Elo scale with 95% bootstrap
  intervals and Fisher-information standard errors;
- :func:`fit_openskill` runs the games, in a seeded shuffled order, through
  openskill's Plackett–Luce model (TrueSkill-style mu and sigma);
- :func:`rate_tournament` puts both into one :class:`Ratings` table, best first.

Bradley–Terry, as fitted here:

- **Draws count as half a win for each side** (the chess convention), so the
  fit uses each agent's *score* ``wins + draws / 2`` out of ``games``. Davidson's
  tie model would add a draw parameter that none of our games needs in order to
  rank agents, and the score rate is what the win-rate matrix and the Markdown
  leaderboard report, so the two agree.
- **Prior**: every agent also plays ``prior_draws`` virtual draws against a
  virtual reference player of fixed strength 0 (the prior of Coulom's
  Whole-History Rating). It keeps every rating finite when an agent never loses
  (or never wins), where the maximum-likelihood estimate is infinite, and it is
  symmetric, so it shrinks ratings towards the middle without favouring anyone.
  One virtual draw is a weak prior (a standard deviation of π logits, about 550
  Elo, for an agent alone) that moves an agent with a few hundred games by a
  few Elo. The value used is recorded in every :class:`Ratings`.
- **Scale**: ``400 · log10`` of the odds, so 400 Elo more means 10-to-1 odds of
  scoring; the ratings have mean ``base`` (0 by default), or the ``anchor``
  agent has exactly ``base``.
- **Intervals**: a parametric bootstrap over games: each resample redraws
  every pair's games from the fitted model (a draw with the pair's observed
  draw rate, otherwise a win with the probability that gives the fitted
  expected score) and refits; the interval is the central 95% of the refitted
  ratings, deterministic under ``seed``. Redrawing from the fit rather than
  from the observed counts matters for an undefeated agent: a resample of its
  observed games would never show a loss, and its interval would have no width.
  Its interval is one-sided all the same (no resample can beat a clean sweep),
  so the Fisher standard error (from the curvature of the log posterior, prior
  included) is reported beside it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Sequence
from statistics import NormalDist
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

ELO_PER_LOGIT = 400.0 / math.log(10.0)
"""Elo points per unit of natural log odds: a rating gap ``d`` gives odds ``10 ** (d / 400)``."""

_NEWTON_STEPS = 100
_HALVINGS = 60
_STEP_TOLERANCE = 1e-9  # logits: below 1e-6 Elo


class PairResult(BaseModel):
    """The games between agents ``a`` and ``b``, counted from ``a``'s point of view.

    ``games`` may be left out: it is filled in as ``wins + losses + draws`` (and
    checked against them when given). ``mean_reward`` is ``a``'s mean reward per
    game, kept for the record; the ratings use only the counts.

    >>> PairResult(a="random", b="nash", wins=3, losses=5, draws=2).games
    10
    >>> PairResult(a="nash", b="nash", wins=1, losses=0)  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ValidationError: PairResult has a == b == 'nash': an agent cannot play itself in a rated game; ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    a: str
    b: str
    wins: int
    losses: int
    draws: int = 0
    games: int = Field(default=0, description="wins + losses + draws; filled in when left out")
    mean_reward: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _fill_games(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("games") is None:
            with contextlib.suppress(KeyError, TypeError, ValueError):  # the field validators report those
                data = {**data, "games": int(data["wins"]) + int(data["losses"]) + int(data.get("draws", 0))}
        return data

    @model_validator(mode="after")
    def _check(self) -> PairResult:
        if self.a == self.b:
            raise ValueError(
                f"PairResult has a == b == {self.a!r}: an agent cannot play itself in a rated game; "
                "drop self-play pairs before rating"
            )
        for count in ("wins", "losses", "draws"):
            if getattr(self, count) < 0:
                raise ValueError(
                    f"PairResult {self.a!r} vs {self.b!r} has {count}={getattr(self, count)}; "
                    "wins, losses and draws must be >= 0"
                )
        if self.games != self.wins + self.losses + self.draws:
            raise ValueError(
                f"PairResult {self.a!r} vs {self.b!r} has games={self.games} but wins + losses + draws = "
                f"{self.wins} + {self.losses} + {self.draws} = {self.wins + self.losses + self.draws}; "
                "leave games out or make it the sum"
            )
        return self


class EloEstimate(BaseModel):
    """One agent's Bradley–Terry rating on the Elo scale."""

    model_config = ConfigDict(frozen=True)

    elo: float
    ci_low: float
    ci_high: float
    se: float
    """Standard error from the observed Fisher information of the log posterior (prior included)."""


class BradleyTerryFit(BaseModel):
    """The result of :func:`fit_bradley_terry`: ratings by agent name (sorted) and how they were made."""

    model_config = ConfigDict(frozen=True)

    ratings: dict[str, EloEstimate]
    prior_draws: float
    anchor: str | None
    base: float
    confidence: float
    resamples: int
    """Bootstrap resamples behind the intervals; 0 means normal intervals from the Fisher standard errors."""
    seed: int


class OpenSkillRating(BaseModel):
    """An openskill rating: skill mean ``mu``, its uncertainty ``sigma`` and ``ordinal = mu - 3 sigma``."""

    model_config = ConfigDict(frozen=True)

    mu: float
    sigma: float
    ordinal: float


class RatingMethod(BaseModel):
    """How a :class:`Ratings` table was computed (enough to recompute it from the pair results)."""

    model_config = ConfigDict(frozen=True)

    prior_draws: float
    """Virtual draws per agent against a reference player of strength 0 (see the module docstring)."""
    anchor: str | None
    base: float
    confidence: float
    resamples: int
    seed: int
    """Seeds both the bootstrap and the order in which openskill sees the games."""
    openskill_model: str = "PlackettLuce"


class RatingRow(BaseModel):
    """One agent's line in the ratings table."""

    model_config = ConfigDict(frozen=True)

    rank: int
    name: str
    games: int
    score_rate: float
    """(wins + draws / 2) / games over all of the agent's games."""
    elo: float
    elo_low: float
    elo_high: float
    elo_se: float
    openskill_mu: float
    openskill_sigma: float
    openskill_ordinal: float


class Ratings(BaseModel):
    """The rows of :func:`rate_tournament`, best Bradley–Terry rating first, and the method behind them."""

    model_config = ConfigDict(frozen=True)

    method: RatingMethod
    rows: list[RatingRow]


def win_rate_matrix(results: Iterable[PairResult], agents: Sequence[str]) -> dict[str, dict[str, float | None]]:
    """``matrix[row][column]``: the score rate ``(wins + draws / 2) / games`` of ``row`` against ``column``.

    Results for the same pair (in either order) are added up. The diagonal and
    pairs that played no games are ``None``. Rows and columns follow ``agents``,
    which may name agents that played nobody.

    >>> results = [PairResult(a="x", b="y", wins=3, losses=1, draws=0), PairResult(a="y", b="x", wins=1, losses=1, draws=2)]
    >>> win_rate_matrix(results, ["x", "y", "z"])
    {'x': {'x': None, 'y': 0.625, 'z': None}, 'y': {'x': 0.375, 'y': None, 'z': None}, 'z': {'x': None, 'y': None, 'z': None}}

    Raises:
        ValueError: when ``agents`` repeats a name or a result names an agent that is not in ``agents``.
    """
    agents = list(agents)
    if len(set(agents)) != len(agents):
        repeated = sorted({name for name in agents if agents.count(name) > 1})
        raise ValueError(f"win_rate_matrix: agents repeats {repeated}; list each agent once")
    index = {name: i for i, name in enumerate(agents)}
    _, score, games, _ = _tally(list(results), "win_rate_matrix", agents=index)
    return {
        row: {
            column: float(score[i, j] / games[i, j]) if i != j and games[i, j] > 0 else None
            for j, column in enumerate(agents)
        }
        for i, row in enumerate(agents)
    }


def fit_bradley_terry(
    results: Iterable[PairResult],
    *,
    anchor: str | None = None,
    base: float = 0.0,
    prior_draws: float = 1.0,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BradleyTerryFit:
    """Bradley–Terry ratings on the Elo scale, draws counting half, with bootstrap intervals.

    The model: agent ``i`` scores against ``j`` with probability
    ``1 / (1 + 10 ** ((elo_j - elo_i) / 400))``. The fit maximises the likelihood
    of the scores times the prior of ``prior_draws`` virtual draws per agent
    (module docstring); ratings then have mean ``base``, or ``anchor`` has
    ``base`` (and an interval of zero width). ``resamples`` parametric bootstrap
    refits give the intervals; with ``resamples=0`` they are normal intervals from
    the Fisher standard errors instead.

    >>> fit = fit_bradley_terry([PairResult(a="strong", b="weak", wins=30, losses=10)], prior_draws=0.01)
    >>> round(fit.ratings["strong"].elo - fit.ratings["weak"].elo)  # 3-to-1 odds: 400 * log10(3) = 191
    191
    >>> fit = fit_bradley_terry([PairResult(a="strong", b="weak", wins=30, losses=0)], anchor="weak", base=1000)
    >>> round(fit.ratings["strong"].elo), fit.ratings["weak"].elo  # undefeated: finite thanks to the prior
    (1749, 1000.0)

    Raises:
        ValueError: for no results, an agent without games, an ``anchor`` that is not an agent, or a
            ``prior_draws``, ``resamples``, ``confidence`` or ``base`` out of range.
    """
    results = list(results)
    agents, score, games, draws = _tally(results, "fit_bradley_terry")
    _check_fit_options(agents, anchor, base, prior_draws, resamples, confidence)
    n = len(agents)
    theta = _posterior_mode(score[None], games, prior_draws, np.zeros(n))[0]
    _, information = _gradient_and_information(theta[None], score[None], games, prior_draws)
    to_reported = _reporting_transform(n, None if anchor is None else agents.index(anchor))
    covariance = ELO_PER_LOGIT**2 * to_reported @ np.linalg.inv(information[0]) @ to_reported.T
    elo = ELO_PER_LOGIT * to_reported @ theta + base
    se = np.sqrt(np.clip(np.diag(covariance), 0.0, None))

    if resamples > 0:
        resampled = _bootstrap_scores(theta, games, draws, resamples, np.random.default_rng(seed))
        boot_theta = _posterior_mode(resampled, games, prior_draws, theta)
        boot_elo = ELO_PER_LOGIT * boot_theta @ to_reported.T + base
        tail = (1.0 - confidence) / 2.0
        low, high = np.quantile(boot_elo, [tail, 1.0 - tail], axis=0)
    else:
        z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
        low, high = elo - z * se, elo + z * se
    return BradleyTerryFit(
        ratings={
            name: EloEstimate(elo=float(elo[i]), ci_low=float(low[i]), ci_high=float(high[i]), se=float(se[i]))
            for i, name in enumerate(agents)
        },
        prior_draws=prior_draws,
        anchor=anchor,
        base=base,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )


def fit_openskill(results: Iterable[PairResult], *, seed: int = 0) -> dict[str, OpenSkillRating]:
    """openskill Plackett–Luce ratings after playing every game once, in an order shuffled with ``seed``.

    openskill updates online, one game at a time, so the ratings depend on the
    order of the games; the seed makes it reproducible. Draws are games with
    equal ranks. Agents start at openskill's defaults (``mu=25``, ``sigma=25/3``).

    >>> ratings = fit_openskill([PairResult(a="strong", b="weak", wins=9, losses=1)])
    >>> ratings["strong"].ordinal > ratings["weak"].ordinal
    True

    Raises:
        ValueError: for no results or an agent without games.
    """
    from openskill.models import PlackettLuce

    results = list(results)
    agents, _, _, _ = _tally(results, "fit_openskill")
    index = {name: i for i, name in enumerate(agents)}
    played: list[tuple[int, int, list[int]]] = []  # (a, b, openskill ranks: lower is better)
    for result in results:
        i, j = index[result.a], index[result.b]
        played += [(i, j, [0, 1])] * result.wins + [(i, j, [1, 0])] * result.losses + [(i, j, [0, 0])] * result.draws
    model = PlackettLuce()
    current = [model.rating(name=name) for name in agents]
    for g in np.random.default_rng(seed).permutation(len(played)):
        i, j, ranks = played[g]
        [[current[i]], [current[j]]] = model.rate([[current[i]], [current[j]]], ranks=ranks)
    return {
        name: OpenSkillRating(mu=rating.mu, sigma=rating.sigma, ordinal=rating.ordinal())
        for name, rating in zip(agents, current, strict=True)
    }


def rate_tournament(
    results: Iterable[PairResult],
    *,
    anchor: str | None = None,
    base: float = 0.0,
    prior_draws: float = 1.0,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Ratings:
    """Bradley–Terry (:func:`fit_bradley_terry`) and openskill (:func:`fit_openskill`) ratings in one table.

    Rows are sorted by Bradley–Terry rating, best first (ties by name), and
    ranked 1, 2, ... in that order.

    >>> results = [PairResult(a="a", b="b", wins=6, losses=2), PairResult(a="b", b="c", wins=5, losses=3, draws=2)]
    >>> [(row.rank, row.name, row.games, round(row.score_rate, 3)) for row in rate_tournament(results, resamples=50).rows]
    [(1, 'a', 8, 0.75), (2, 'b', 18, 0.444), (3, 'c', 10, 0.4)]

    Raises:
        ValueError: as :func:`fit_bradley_terry` does.
    """
    results = list(results)
    agents, score, games, _ = _tally(results, "rate_tournament")
    bradley_terry = fit_bradley_terry(
        results,
        anchor=anchor,
        base=base,
        prior_draws=prior_draws,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
    )
    openskill = fit_openskill(results, seed=seed)
    order = sorted(range(len(agents)), key=lambda i: (-bradley_terry.ratings[agents[i]].elo, agents[i]))
    rows = []
    for rank, i in enumerate(order, start=1):
        name = agents[i]
        bt, skill = bradley_terry.ratings[name], openskill[name]
        rows.append(
            RatingRow(
                rank=rank,
                name=name,
                games=int(games[i].sum()),
                score_rate=float(score[i].sum() / games[i].sum()),
                elo=bt.elo,
                elo_low=bt.ci_low,
                elo_high=bt.ci_high,
                elo_se=bt.se,
                openskill_mu=skill.mu,
                openskill_sigma=skill.sigma,
                openskill_ordinal=skill.ordinal,
            )
        )
    method = RatingMethod(
        prior_draws=prior_draws, anchor=anchor, base=base, confidence=confidence, resamples=resamples, seed=seed
    )
    return Ratings(method=method, rows=rows)


def _tally(
    results: list[PairResult], caller: str, agents: dict[str, int] | None = None
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Agent names and ``(score, games, draws)`` matrices: ``i`` scored ``score[i, j]`` against ``j`` in ``games[i, j]``.

    Without ``agents`` the names are those in ``results``, sorted, and each must have played.
    """
    for k, result in enumerate(results):
        if not isinstance(result, PairResult):
            raise ValueError(
                f"{caller}: results[{k}] is a {type(result).__name__}, not a PairResult; "
                "build each with PairResult(a=..., b=..., wins=..., losses=..., draws=...)"
            )
    strict = agents is None
    if agents is None:
        if not results:
            raise ValueError(f"{caller}: results is empty; rate a tournament with at least one PairResult")
        agents = {name: i for i, name in enumerate(sorted({r.a for r in results} | {r.b for r in results}))}
    n = len(agents)
    score = np.zeros((n, n))
    games = np.zeros((n, n))
    draws = np.zeros((n, n))
    for result in results:
        for name in (result.a, result.b):
            if name not in agents:
                raise ValueError(f"{caller}: a result names agent {name!r}, which is not among agents {list(agents)}")
        i, j = agents[result.a], agents[result.b]
        score[i, j] += result.wins + result.draws / 2
        score[j, i] += result.losses + result.draws / 2
        games[i, j] += result.games
        games[j, i] += result.games
        draws[i, j] += result.draws
        draws[j, i] += result.draws
    if strict:
        idle = [name for name, i in agents.items() if games[i].sum() == 0]
        if idle:
            raise ValueError(
                f"{caller}: agents {idle} have no games (all their pairs have games=0); "
                "drop them from the results or play some games"
            )
    return list(agents), score, games, draws


def _check_fit_options(
    agents: list[str], anchor: str | None, base: float, prior_draws: float, resamples: int, confidence: float
) -> None:
    if anchor is not None and anchor not in agents:
        raise ValueError(f"anchor={anchor!r} is not one of the agents {agents}; name one of them or pass None")
    if not (math.isfinite(prior_draws) and prior_draws > 0):
        raise ValueError(
            f"prior_draws={prior_draws!r} must be a finite number > 0: without a prior an undefeated agent's "
            "rating is infinite; use 1.0 (the default) or a small value such as 0.01 for nearly plain maximum likelihood"
        )
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 0:
        raise ValueError(
            f"resamples={resamples!r} must be an int >= 0 (0: normal intervals from the Fisher information)"
        )
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence!r} must be strictly between 0 and 1, e.g. 0.95")
    if not math.isfinite(base):
        raise ValueError(f"base={base!r} must be a finite number, e.g. 0 or 1000")


def _reporting_transform(n: int, anchor: int | None) -> np.ndarray:
    """The matrix taking strengths to reported ratings (before scaling): mean-centred, or minus the anchor's."""
    subtract = np.full((n, n), 1.0 / n) if anchor is None else np.eye(n)[[anchor] * n]
    return np.eye(n) - subtract


def _bootstrap_scores(
    theta: np.ndarray, games: np.ndarray, draws: np.ndarray, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """``(resamples, n, n)`` score matrices, every pair's games redrawn from the fitted model.

    A game between ``i`` and ``j`` is a draw with the pair's observed draw rate
    ``delta`` (capped at ``2 * min(p, 1 - p)``); otherwise ``i`` wins with the probability
    that makes ``i``'s expected score the fitted ``p``: ``(p - delta / 2) / (1 - delta)``.
    """
    n = len(theta)
    score = np.zeros((resamples, n, n))
    for i in range(n):
        for j in range(i + 1, n):
            total = int(games[i, j])
            if total == 0:
                continue
            expected = float(_sigmoid(theta[i] - theta[j]))
            # The observed draw rate, lowered where it must be so the resampled games keep the fitted
            # expected score: a model that does not fit a pair exactly (intransitive agents) must not
            # drag the bootstrap away from the estimate.
            draw_rate = min(draws[i, j] / total, 2 * min(expected, 1 - expected))
            decisive_win = (expected - draw_rate / 2) / (1 - draw_rate) if draw_rate < 1 else 0.5
            outcome = [(1 - draw_rate) * decisive_win, (1 - draw_rate) * (1 - decisive_win), draw_rate]
            drawn = rng.multinomial(total, outcome, size=resamples)
            score[:, i, j] = drawn[:, 0] + drawn[:, 2] / 2
            score[:, j, i] = drawn[:, 1] + drawn[:, 2] / 2
    return score


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _log_posterior(theta: np.ndarray, score: np.ndarray, prior_draws: float) -> np.ndarray:
    """Per batch row: the log likelihood of the scores plus the log prior of ``prior_draws`` virtual draws each."""
    diff = theta[:, :, None] - theta[:, None, :]
    log_likelihood = -(score * np.logaddexp(0.0, -diff)).sum(axis=(1, 2))
    log_prior = -0.5 * prior_draws * (np.logaddexp(0.0, -theta) + np.logaddexp(0.0, theta)).sum(axis=1)
    return log_likelihood + log_prior


def _gradient_and_information(
    theta: np.ndarray, score: np.ndarray, games: np.ndarray, prior_draws: float
) -> tuple[np.ndarray, np.ndarray]:
    """The gradient of :func:`_log_posterior` and minus its Hessian (the observed information), per batch row."""
    p = _sigmoid(theta[:, :, None] - theta[:, None, :])
    versus_reference = _sigmoid(theta)
    gradient = (score - games * p).sum(axis=2) + prior_draws * (0.5 - versus_reference)
    weight = games * p * (1.0 - p)
    information = -weight
    diagonal = weight.sum(axis=2) + prior_draws * versus_reference * (1.0 - versus_reference)
    information[:, np.arange(theta.shape[1]), np.arange(theta.shape[1])] = diagonal
    return gradient, information


def _posterior_mode(score: np.ndarray, games: np.ndarray, prior_draws: float, start: np.ndarray) -> np.ndarray:
    """Newton's method with backtracking, for a batch of score matrices ``(B, n, n)`` at once; returns ``(B, n)``.

    The log posterior is strictly concave (the prior makes it so), so Newton
    steps with an Armijo line search converge from any start.
    """
    theta = np.broadcast_to(start, score.shape[:2]).copy()
    value = _log_posterior(theta, score, prior_draws)
    for _ in range(_NEWTON_STEPS):
        gradient, information = _gradient_and_information(theta, score, games, prior_draws)
        step = np.linalg.solve(information, gradient[..., None])[..., 0]
        if np.max(np.abs(step)) < _STEP_TOLERANCE:
            return theta
        slope = np.einsum("bi,bi->b", gradient, step)
        size = np.ones(len(theta))
        for _ in range(_HALVINGS):
            candidate = theta + size[:, None] * step
            candidate_value = _log_posterior(candidate, score, prior_draws)
            # Armijo's sufficient increase, less rounding noise: near the mode the gain is below float precision.
            accepted = candidate_value >= value + 1e-4 * size * slope - 1e-12 * (1.0 + np.abs(value))
            if accepted.all():
                break
            size = np.where(accepted, size, size / 2)
        theta, value = candidate, candidate_value
    raise RuntimeError(
        f"the Bradley–Terry fit did not converge in {_NEWTON_STEPS} Newton steps (largest step {np.max(np.abs(step))!r}); "
        "this is a bug: please report it with the pair results"
    )
