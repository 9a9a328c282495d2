"""Returns and advantages: small pure functions (doctested), no tensors.

A *sample* here is one turn of the learning policy, identified by the key of its
baseline, ``(env_id, role)``, with the return it is credited with. The trainer builds
the returns (:func:`episode_returns` or :func:`turn_returns`), then one advantage
estimator turns them into advantages:

* :func:`role_conditioned_advantages` (RAE, SPIRAL): one exponential-moving-average
  baseline per (env, role), read *before* it is updated with this batch.
  In a zero-sum game the first player's expected return is not the second's
  (Kuhn Poker: -1/18 vs +1/18 at equilibrium; TicTacToe: X wins far more often
  under weak play), so one shared baseline would bias every update towards a role.
* :func:`group_normalized_advantages` (GRPO style): mean/std normalisation within
  each (env, role) group of the batch.
* :func:`no_baseline` (plain REINFORCE).

Step-level estimators, for credit per turn rather than per episode:

* :func:`state_grouped_advantages` (GiGPO-style): turns of different episodes that start from
  the same ``state_key`` form a group; a turn's advantage is its return-to-go minus the mean of
  the *other* members' (leave-one-out, so the baseline never holds the turn's own outcome).
* :func:`step_value_advantage` (Monte-Carlo step values, as in CPL/OREO-style work): the mean
  return of K continuations after the move minus that of K continuations from the state before
  it (:mod:`gym_reason.trainer.step_values` plays the continuations).
* :func:`turn_baseline_advantages` and :func:`per_turn_normalized_advantages`: turn returns
  against a baseline per turn index. **Normalising per turn when the policy chooses when to
  stop biases the gradient**: MT-GRPO-style per-turn normalisation
  (:func:`per_turn_normalized_advantages`) subtracts, from a turn's return-to-go, the sum of the
  per-index means over *its own* remaining turns, a sum whose length is set by the episode's own
  stopping turn; that baseline depends on the actions it is meant to judge, and the gradient
  gets a hidden bonus of minus the mean intermediate reward per extra turn (and the per-index
  standard deviations reweight turns on top). :func:`turn_baseline_advantages` is the unbiased
  variant and the **default** (``turn_normalization: baseline``): the return-to-go minus the
  leave-one-out mean return-to-go of the other episodes at the same turn index, no division.
  ``tests/trainer/test_advantages.py`` measures both against the exact policy gradient of a
  task where the policy decides when to stop.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from typing import Literal

AdvantageEstimator = Literal["rae", "grpo", "none", "state_grouped", "turn_grouped", "monte_carlo"]
"""The estimators a config can name (its ``advantage`` field): ``rae`` is :func:`role_conditioned_advantages`,
``grpo`` :func:`group_normalized_advantages`, ``none`` :func:`no_baseline`, ``state_grouped``
:func:`state_grouped_advantages`, ``turn_grouped`` :func:`turn_baseline_advantages` (or, with
``turn_normalization: per_turn``, the biased :func:`per_turn_normalized_advantages`), ``monte_carlo``
:func:`step_value_advantage` over continuations (:mod:`gym_reason.trainer.step_values`)."""

TurnNormalization = Literal["baseline", "per_turn"]
"""How ``turn_grouped`` treats turn indices: ``baseline`` (unbiased, the default) or ``per_turn`` (MT-GRPO's, biased)."""


def process_reward(components: Mapping[str, float], reward: float, weights: Mapping[str, float]) -> float:
    """A turn's reward re-weighted by component: ``reward + sum((w - 1) * component)``.

    Components not named in ``weights`` keep weight 1, so empty weights give the env's reward.

    >>> process_reward({"outcome": 1.0, "format": 0.2}, 1.2, {})
    1.2
    >>> process_reward({"outcome": 1.0, "format": 0.2}, 1.2, {"format": 0.0})
    1.0
    >>> round(process_reward({"outcome": -1.0, "step": 0.5}, -0.5, {"step": 2.0}), 6)
    0.0
    """
    return reward + sum((weights[name] - 1.0) * value for name, value in components.items() if name in weights)


def episode_returns(rewards: Sequence[float]) -> list[float]:
    """Every turn of one player's episode gets the player's whole return (the SPIRAL setting).

    >>> episode_returns([0.0, 0.0, 1.0])
    [1.0, 1.0, 1.0]
    """
    total = float(sum(rewards))
    return [total] * len(rewards)


def turn_returns(rewards: Sequence[float], gamma: float = 1.0) -> list[float]:
    """Discounted reward-to-go per turn: ``G_t = r_t + gamma * G_{t+1}``, for step-level credit.

    >>> turn_returns([0.5, 0.0, 1.0], gamma=0.5)
    [0.75, 0.5, 1.0]
    >>> turn_returns([0.5, 0.0, 1.0])
    [1.5, 1.0, 1.0]
    """
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
    out = [0.0] * len(rewards)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        out[t] = running
    return out


def role_conditioned_advantages(
    keys: Sequence[Hashable], returns: Sequence[float], baselines: Mapping[Hashable, float], decay: float = 0.95
) -> tuple[list[float], dict[Hashable, float]]:
    """RAE: ``A = R - b[key]`` with ``b`` as it was before this batch; then ``b <- decay * b + (1 - decay) * mean(R)``.

    Returns the advantages and the updated baselines (a new dict; the input is not
    changed). A key seen for the first time starts at baseline 0.

    >>> keys = [("kuhn", "player_0"), ("kuhn", "player_0"), ("kuhn", "player_1")]
    >>> adv, b = role_conditioned_advantages(keys, [1.0, -1.0, 2.0], {("kuhn", "player_0"): 0.5}, decay=0.9)
    >>> adv                      # player_0 read 0.5, player_1 read 0 (new)
    [0.5, -1.5, 2.0]
    >>> round(b[("kuhn", "player_0")], 6), round(b[("kuhn", "player_1")], 6)  # 0.9*0.5 + 0.1*0, 0.9*0 + 0.1*2
    (0.45, 0.2)
    """
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"RAE decay must be in [0, 1), got {decay!r}")
    if len(keys) != len(returns):
        raise ValueError(f"{len(keys)} keys but {len(returns)} returns")
    advantages = [float(r) - baselines.get(k, 0.0) for k, r in zip(keys, returns, strict=True)]
    updated = dict(baselines)
    for key, values in _grouped(keys, returns).items():
        updated[key] = decay * baselines.get(key, 0.0) + (1.0 - decay) * (sum(values) / len(values))
    return advantages, updated


def group_normalized_advantages(keys: Sequence[Hashable], returns: Sequence[float], eps: float = 1e-6) -> list[float]:
    """GRPO-style: ``(R - mean) / (std + eps)`` within each key's group of this batch.

    >>> [round(a, 3) for a in group_normalized_advantages(["a", "a", "b", "b"], [1.0, -1.0, 3.0, 3.0])]
    [1.0, -1.0, 0.0, 0.0]
    """
    stats = {}
    for key, values in _grouped(keys, returns).items():
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        stats[key] = (mean, std)
    return [(float(r) - stats[k][0]) / (stats[k][1] + eps) for k, r in zip(keys, returns, strict=True)]


def no_baseline(returns: Sequence[float]) -> list[float]:
    """Plain REINFORCE: the advantage is the return.

    >>> no_baseline([1, -1])
    [1.0, -1.0]
    """
    return [float(r) for r in returns]


def state_grouped_advantages(
    state_keys: Sequence[Hashable], returns: Sequence[float], fallback_keys: Sequence[Hashable] | None = None
) -> list[float]:
    """GiGPO-style step advantages: a turn's return-to-go minus the mean return-to-go of the *other*
    turns of the batch that start from the same state.

    A state seen once has no one to compare with: it is compared with the other turns of its
    ``fallback_keys`` group (e.g. its ``(env, role)``), and alone there too its advantage is its return.

    >>> state_grouped_advantages(["J", "J", "J", "K"], [1.0, -1.0, 0.0, 2.0], ["p0", "p0", "p0", "p0"])
    [1.5, -1.5, 0.0, 2.0]
    >>> state_grouped_advantages(["a", "b"], [1.0, 3.0], ["r", "r"])  # singletons: the role's other turns
    [-2.0, 2.0]
    """
    if len(state_keys) != len(returns):
        raise ValueError(f"{len(state_keys)} state keys but {len(returns)} returns")
    fallback = list(fallback_keys) if fallback_keys is not None else [None] * len(returns)
    if len(fallback) != len(returns):
        raise ValueError(f"{len(fallback)} fallback keys but {len(returns)} returns")
    sums: dict[Hashable, list[float]] = defaultdict(lambda: [0.0, 0])
    fallback_sums: dict[Hashable, list[float]] = defaultdict(lambda: [0.0, 0])
    for state, group, value in zip(state_keys, fallback, returns, strict=True):
        sums[state][0] += value
        sums[state][1] += 1
        fallback_sums[group][0] += value
        fallback_sums[group][1] += 1
    out = []
    for state, group, value in zip(state_keys, fallback, returns, strict=True):
        total, count = sums[state] if sums[state][1] > 1 else fallback_sums[group]
        out.append(float(value) - ((total - value) / (count - 1) if count > 1 else 0.0))
    return out


def step_value_advantage(before: Sequence[float], after: Sequence[float]) -> float:
    """Monte-Carlo step value: the mean return of the continuations after the move minus that of the
    continuations from the state before it (both counted from the state before the move, so the move's
    own reward is in ``after``).

    >>> step_value_advantage([1.0, -1.0, 2.0, -2.0], [2.0, 2.0, -1.0, 1.0])
    1.0
    """
    if not before or not after:
        raise ValueError(
            f"step_value_advantage needs at least one continuation on each side, got {len(before)} and {len(after)}"
        )
    return sum(after) / len(after) - sum(before) / len(before)


def turn_baseline_advantages(
    episode_keys: Sequence[Hashable], rewards: Sequence[Sequence[float]], gamma: float = 1.0
) -> list[list[float]]:
    """Unbiased per-turn credit: ``G_t - b_t`` with ``b_t`` the mean return-to-go at turn index ``t`` of the
    *other* episodes of the same key that reached turn ``t``.

    The baseline depends on other episodes only, never on this episode's own later moves or on when
    it stops, so it adds no bias to the gradient; there is no per-index division. ``rewards[e]`` are
    episode ``e``'s per-turn rewards (one agent's turns); returns are per episode, per turn.

    >>> turn_baseline_advantages(["a", "a", "a"], [[0.0, 1.0], [0.5], [0.0, 0.0, 3.0]])  # G: [1, 1], [0.5], [3, 3, 3]
    [[-0.75, -2.0], [-1.5], [2.25, 2.0, 3.0]]

    An index only one episode reached has no baseline (its advantage is its return-to-go).
    """
    if len(episode_keys) != len(rewards):
        raise ValueError(f"{len(episode_keys)} episode keys but {len(rewards)} reward lists")
    returns = [turn_returns(r, gamma) for r in rewards]
    sums: dict[tuple[Hashable, int], list[float]] = defaultdict(lambda: [0.0, 0])
    for key, values in zip(episode_keys, returns, strict=True):
        for t, value in enumerate(values):
            sums[key, t][0] += value
            sums[key, t][1] += 1
    out = []
    for key, values in zip(episode_keys, returns, strict=True):
        row = []
        for t, value in enumerate(values):
            total, count = sums[key, t]
            row.append(value - ((total - value) / (count - 1) if count > 1 else 0.0))
        out.append(row)
    return out


def per_turn_normalized_advantages(
    episode_keys: Sequence[Hashable], rewards: Sequence[Sequence[float]], eps: float = 1e-6
) -> list[list[float]]:
    """MT-GRPO-style per-turn normalisation, kept to show its bias (the default is :func:`turn_baseline_advantages`).

    Each turn's reward is normalised over the episodes of the same key that have a turn at that
    index, ``(r_t - mean_t) / (std_t + eps)``, and a turn's advantage is the sum of its episode's
    normalised rewards from ``t`` on. The sum runs to the episode's own last turn, so the baseline
    it subtracts depends on when the episode stops: when the policy chooses that, the gradient is
    biased (see the module docstring).

    >>> [[round(a, 3) for a in row] for row in per_turn_normalized_advantages(["a", "a"], [[1.0, 0.0], [0.0]])]
    [[1.0, 0.0], [-1.0]]
    """
    if len(episode_keys) != len(rewards):
        raise ValueError(f"{len(episode_keys)} episode keys but {len(rewards)} reward lists")
    by_index: dict[tuple[Hashable, int], list[float]] = defaultdict(list)
    for key, row in zip(episode_keys, rewards, strict=True):
        for t, r in enumerate(row):
            by_index[key, t].append(float(r))
    stats = {}
    for index, values in by_index.items():
        mean = sum(values) / len(values)
        stats[index] = (mean, math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)))
    out = []
    for key, row in zip(episode_keys, rewards, strict=True):
        normalised = [(float(r) - stats[key, t][0]) / (stats[key, t][1] + eps) for t, r in enumerate(row)]
        out.append(turn_returns(normalised))
    return out


def _grouped(keys: Sequence[Hashable], values: Sequence[float]) -> dict[Hashable, list[float]]:
    groups: dict[Hashable, list[float]] = defaultdict(list)
    for key, value in zip(keys, values, strict=True):
        groups[key].append(float(value))
    return groups
