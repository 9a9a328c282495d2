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
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Mapping, Sequence
from typing import Literal

AdvantageEstimator = Literal["rae", "grpo", "none"]
"""The estimators a config can name (its ``advantage`` field): ``rae`` is :func:`role_conditioned_advantages`,
``grpo`` :func:`group_normalized_advantages`, ``none`` :func:`no_baseline`."""


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


def _grouped(keys: Sequence[Hashable], values: Sequence[float]) -> dict[Hashable, list[float]]:
    groups: dict[Hashable, list[float]] = defaultdict(list)
    for key, value in zip(keys, values, strict=True):
        groups[key].append(float(value))
    return groups
