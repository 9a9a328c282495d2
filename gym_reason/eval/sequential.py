"""Sequential paired evaluation: play a head-to-head only until it is decided.

A fixed number of games either wastes games on a match that was clear after fifty or stops a close
one undecided. ``gym-reason eval --until-decided`` instead plays **paired deals** (one env seed
played once from every seat, so the luck of the deal cancels) and after each deal updates a
sequential probability ratio test (Wald's SPRT) on the deal's result, stopping as soon as it can say

* **better**: the agent wins a deal (its total over the deal's games is positive) with probability
  at least ``1/2 + delta`` among deals that are not tied,
* **worse**: at most ``1/2 - delta``,
* **equal within delta**: neither,

with error rates ``alpha`` (calling better or worse when the two are equal) and ``beta`` (missing a
difference of ``delta``). It runs two one-sided Bernoulli SPRTs at once (the Sobel-Wald three-way
test): ``p = 1/2`` against ``p = 1/2 + delta`` and ``p = 1/2`` against ``p = 1/2 - delta``, each at
``alpha / 2`` and ``beta``. A side that accepts ``p = 1/2`` stops; *equal* needs both to. Tied deals
carry no information about which is better and are skipped. A cap on games ends an undecided test
as ``undecided``.

Wald's boundaries ``log((1 - beta) / a)`` and ``log(beta / (1 - a))`` (``a = alpha / 2``) keep the
error rates at or a little below nominal; ``tests/eval/test_sequential.py`` checks it on 1,000
simulated matches of known win probability.

>>> test = SequentialTest(delta=0.2, alpha=0.05, beta=0.05)
>>> decisions = [test.observe(+1) for _ in range(20)]
>>> test.decision, test.deals
(<Decision.BETTER: 'better'>, 11)
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel

from gym_reason.eval.stats import CONFIDENCE, mean_interval, wilson_interval


class Decision(enum.StrEnum):
    BETTER = "better"
    WORSE = "worse"
    EQUAL = "equal"
    UNDECIDED = "undecided"


class SequentialTest:
    """The three-way SPRT on paired-deal results (+1 the agent won the deal, -1 lost, 0 tied).

    Args:
        delta: the smallest difference in deal-win probability from 1/2 worth detecting, in (0, 0.5).
        alpha: the chance of calling better or worse when the two are equal (split evenly), in (0, 1).
        beta: the chance of missing a difference of ``delta`` (each side), in (0, 1).
    """

    def __init__(self, delta: float = 0.1, alpha: float = 0.05, beta: float = 0.05) -> None:
        if not 0 < delta < 0.5:
            raise ValueError(f"delta must be in (0, 0.5) (a deal-win probability above 1/2), got {delta!r}; e.g. 0.1")
        for name, value in (("alpha", alpha), ("beta", beta)):
            if not 0 < value < 1:
                raise ValueError(f"{name} must be in (0, 1), got {value!r}; e.g. 0.05")
        if alpha / 2 + beta >= 1:
            raise ValueError(f"alpha / 2 + beta must be below 1, got alpha={alpha}, beta={beta}")
        self.delta, self.alpha, self.beta = delta, alpha, beta
        side = alpha / 2
        self.upper_bound = math.log((1 - beta) / side)
        """Log-likelihood ratio at which a side accepts its alternative (a difference of ``delta``)."""
        self.lower_bound = math.log(beta / (1 - side))
        """Log-likelihood ratio at which a side accepts ``p = 1/2``."""
        self._up = math.log(1 + 2 * delta)  # log(p1 / p0) with p1 = 1/2 + delta, p0 = 1/2
        self._down = math.log(1 - 2 * delta)  # log((1 - p1) / (1 - p0))
        self.llr_better = 0.0
        """The SPRT of ``p = 1/2 + delta`` against ``p = 1/2``."""
        self.llr_worse = 0.0
        """The SPRT of ``p = 1/2 - delta`` against ``p = 1/2``."""
        self._better_open = self._worse_open = True
        self.wins = self.losses = self.ties = 0
        self.decision: Decision | None = None

    @property
    def deals(self) -> int:
        return self.wins + self.losses + self.ties

    def observe(self, result: int) -> Decision | None:
        """Add one deal's result (its sign is read: > 0 won, < 0 lost, 0 tied); returns the decision once
        there is one (and keeps returning it)."""
        if self.decision is not None:
            return self.decision
        if result > 0:
            self.wins += 1
            better, worse = self._up, self._down
        elif result < 0:
            self.losses += 1
            better, worse = self._down, self._up
        else:
            self.ties += 1
            return None
        if self._better_open:
            self.llr_better += better
            if self.llr_better >= self.upper_bound:
                self.decision = Decision.BETTER
                return self.decision
            self._better_open = self.llr_better > self.lower_bound
        if self._worse_open:
            self.llr_worse += worse
            if self.llr_worse >= self.upper_bound:
                self.decision = Decision.WORSE
                return self.decision
            self._worse_open = self.llr_worse > self.lower_bound
        if not (self._better_open or self._worse_open):
            self.decision = Decision.EQUAL
        return self.decision


def simulate(
    p_win: float,
    *,
    delta: float,
    alpha: float,
    beta: float,
    rng: random.Random,
    max_deals: int = 100_000,
    p_tie: float = 0.0,
) -> tuple[Decision, int]:
    """One simulated match whose deals are won with probability ``p_win`` among untied ones (tied with
    ``p_tie``): the decision and the deals it took (``undecided`` after ``max_deals``)."""
    test = SequentialTest(delta, alpha, beta)
    for _ in range(max_deals):
        if rng.random() < p_tie:
            test.observe(0)
        elif test.observe(1 if rng.random() < p_win else -1) is not None:
            return test.decision, test.deals  # type: ignore[return-value]
    return Decision.UNDECIDED, test.deals


class SequentialResult(BaseModel):
    """One head-to-head played until decided."""

    agent: str
    opponent: str
    env_id: str
    decision: Decision
    deals: int
    """Paired deals counted by the test (the games of later deals of the last batch are not)."""
    games: int
    """Games those deals took (one per seat each)."""
    games_played: int
    """Games actually played, counting the rest of the last batch."""
    wins: int
    losses: int
    ties: int
    deal_win_rate: float
    deal_win_interval: tuple[float, float]
    """Wilson interval of the deal-win probability among untied deals."""
    mean_reward: float
    reward_interval: tuple[float, float]
    """Student t interval of the agent's mean reward per game, over deals."""
    llr_better: float
    llr_worse: float
    upper_bound: float
    lower_bound: float
    delta: float
    alpha: float
    beta: float
    max_games: int
    seed: int
    failed: int

    def line(self) -> str:
        lo, hi = self.deal_win_interval
        return (
            f"{self.agent} vs {self.opponent}: {self.decision.value.upper()} after {self.deals} deals "
            f"({self.games} games; deal wins {self.wins}, losses {self.losses}, ties {self.ties}; "
            f"deal-win rate {self.deal_win_rate:.3f} [{lo:.3f}, {hi:.3f}]; mean reward {self.mean_reward:+.3f}; "
            f"delta {self.delta}, alpha {self.alpha}, beta {self.beta})"
        )


def play_until_decided(
    agent: str,
    opponent: str,
    env_id: str,
    *,
    delta: float = 0.1,
    alpha: float = 0.05,
    beta: float = 0.05,
    max_games: int = 10_000,
    seed: int = 0,
    batch_deals: int = 32,
    env_kwargs: dict[str, Any] | None = None,
    concurrency: int = 256,
    on_batch: Callable[[SequentialTest], None] | None = None,
) -> SequentialResult:
    """Play paired deals of ``agent`` against ``opponent`` (agent specs) on ``env_id`` until the
    :class:`SequentialTest` decides or ``max_games`` games are played.

    Deals are played ``batch_deals`` at a time (every game of a batch in flight together) and fed to
    the test in seed order; the test stops at the first deal that decides it, so the decision is the
    one a deal-by-deal run would reach. Deal ``k`` has env seed ``seed + k``; the agent sits in every
    seat once per deal, the opponent in the others.
    """
    import gym_reason
    from gym_reason.agents import make_agent
    from gym_reason.eval.engine import labelled_requests, play_episodes
    from gym_reason.eval.evaluation import seatings_for

    test = SequentialTest(delta, alpha, beta)  # checks the arguments first
    if max_games < 1 or batch_deals < 1:
        raise ValueError(f"max_games and batch_deals must be at least 1, got {max_games} and {batch_deals}")
    kwargs = dict(env_kwargs or {})
    env = gym_reason.make(env_id, **kwargs)
    seats = len(getattr(env, "possible_agents", ()))
    if seats < 2:
        raise ValueError(f"{env_id} has {seats} seat(s); a head-to-head needs a game of two or more players")
    agent_label, opponent_label = f"A:{agent}", f"B:{opponent}"
    agents = {agent_label: make_agent(agent, env, seed=seed), opponent_label: make_agent(opponent, env, seed=seed + 1)}
    env.close()
    deal_rewards: list[float] = []
    played = failed = 0
    next_deal = 0
    while test.decision is None and played + seats <= max_games:
        deals = min(batch_deals, (max_games - played) // seats)
        seatings = seatings_for(seats, deals * seats, seed + next_deal, agent_label, opponent_label, paired=True)
        episodes = play_episodes(
            labelled_requests(seatings, agents),
            make_env=lambda: gym_reason.make(env_id, **kwargs),
            concurrency=concurrency,
        )
        played += len(episodes)
        next_deal += deals
        for k in range(deals):
            group = episodes[k * seats : (k + 1) * seats]
            if any(e.failed for e in group):
                failed += 1
                continue
            total = sum(e.rewards[e.seats.index(agent_label)] for e in group)
            deal_rewards.append(total / seats)
            if test.observe((total > 1e-12) - (total < -1e-12)) is not None:
                break
        if on_batch is not None:
            on_batch(test)
    decided = test.decision or Decision.UNDECIDED
    untied = test.wins + test.losses
    return SequentialResult(
        agent=agent,
        opponent=opponent,
        env_id=env_id,
        decision=decided,
        deals=test.deals,
        games=test.deals * seats,
        games_played=played,
        wins=test.wins,
        losses=test.losses,
        ties=test.ties,
        deal_win_rate=test.wins / untied if untied else 0.5,
        deal_win_interval=wilson_interval(test.wins, untied, CONFIDENCE),
        mean_reward=sum(deal_rewards) / len(deal_rewards) if deal_rewards else 0.0,
        reward_interval=mean_interval(deal_rewards) if len(deal_rewards) > 1 else (-math.inf, math.inf),
        llr_better=test.llr_better,
        llr_worse=test.llr_worse,
        upper_bound=test.upper_bound,
        lower_bound=test.lower_bound,
        delta=delta,
        alpha=alpha,
        beta=beta,
        max_games=max_games,
        seed=seed,
        failed=failed,
    )


def error_rates(
    p_values: Sequence[float], *, delta: float, alpha: float, beta: float, matches: int, seed: int = 0
) -> dict[float, dict[str, float]]:
    """Simulated decision frequencies (and mean deals) of ``matches`` matches at each true deal-win
    probability in ``p_values``: the data behind the error-rate check."""
    rng = random.Random(seed)
    out: dict[float, dict[str, float]] = {}
    for p in p_values:
        counts = dict.fromkeys([d.value for d in Decision], 0)
        deals = 0
        for _ in range(matches):
            decision, used = simulate(p, delta=delta, alpha=alpha, beta=beta, rng=rng)
            counts[decision.value] += 1
            deals += used
        out[p] = {**{k: v / matches for k, v in counts.items()}, "mean_deals": deals / matches}
    return out
