"""The policy update of one step: PPO-clip epochs over minibatches of turns, each in micro-batches.

Policy loss minus an entropy bonus, plus a KL penalty toward the magnet policy when the run
has one. The losses are pure functions in :mod:`gym_reason.trainer.loss`.

Memory is bounded by configuration, not by games per step: a minibatch is scored and
backpropagated in micro-batches of at most ``micro_batch_tokens`` padded tokens (the
tensor the forward pass allocates: rows x longest row), and their gradients accumulate
before the one optimizer step. Every term of the loss is a sum over decisions divided by
the minibatch's constant normaliser, so the accumulated gradient is the one-batch gradient
(``tests/trainer/test_update.py`` checks it to 1e-6).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from gym_reason.core import derive_seed
from gym_reason.trainer.loss import clipped_policy_loss
from gym_reason.trainer.rollout import Turn

if TYPE_CHECKING:
    from gym_reason.trainer.loop import Trainer


def micro_batches(turns: Sequence[Turn], token_budget: int) -> list[list[Turn]]:
    """``turns`` cut into micro-batches whose padded forward (rows x longest row) fits ``token_budget``.

    Turns are sorted by length first, so each micro-batch holds rows of similar length and
    pads little; identical sequences (self-play repeats positions) land in one micro-batch and
    count once, as the forward pass runs them once. A turn longer than the budget gets a micro-batch of its own.
    ``token_budget=0`` means one micro-batch.

    >>> from gym_reason.policy import Completion
    >>> def turn(n):
    ...     return Turn("env", "a", Completion("", list(range(n)), [n], [(0, None)], [0.0]))
    >>> [[len(t.completion.prompt_ids) for t in b] for b in micro_batches([turn(3), turn(9), turn(4), turn(2)], 15)]
    [[2, 3, 4], [9]]
    >>> [len(b) for b in micro_batches([turn(3)] * 100, 4)]         # one distinct sequence, run once
    [100]
    """
    if token_budget < 0:
        raise ValueError(f"token_budget must be >= 0 (0 = no limit), got {token_budget!r}")
    if token_budget == 0:
        return [list(turns)] if turns else []

    def sequence(turn: Turn) -> tuple[int, ...]:
        return (*turn.completion.prompt_ids, *turn.completion.completion_ids)

    ordered = sorted(turns, key=lambda t: (len(sequence(t)), sequence(t)))  # copies of a sequence side by side
    batches: list[list[Turn]] = []
    current: list[Turn] = []
    distinct: set[tuple[int, ...]] = set()
    for turn in ordered:
        key = sequence(turn)
        if current and key not in distinct and (len(distinct) + 1) * len(key) > token_budget:
            # sorted: this row is the longest so far, so it sets the width
            batches.append(current)
            current, distinct = [], set()
        current.append(turn)
        distinct.add(key)
    if current:
        batches.append(current)
    return batches


def update(trainer: Trainer, turns: list[Turn], step: int) -> dict[str, float]:
    """PPO-clip epochs over minibatches of turns: policy loss - entropy bonus + KL to the magnet."""
    config = trainer.config
    policy = trainer.policy
    model = policy.model
    stats: dict[str, list[float]] = defaultdict(list)
    if not turns:
        return {}
    model.train()
    rng = random.Random(derive_seed(config.seed, step, 4))
    scale = 1.0 - step / config.steps if config.lr_schedule == "linear" else 1.0
    for group in trainer.optimizer.param_groups:
        group["lr"] = config.lr * scale
    size = math.ceil(len(turns) / config.minibatches)
    normalizer = float(max(size, 1))
    for _ in range(config.ppo_epochs):
        order = list(range(len(turns)))
        rng.shuffle(order)
        for start in range(0, len(order), size):
            batch = [turns[i] for i in order[start : start + size]]
            trainer.optimizer.zero_grad(set_to_none=True)
            batch_stats = accumulate_gradients(trainer, batch, normalizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(
                [p for p in model.parameters() if p.requires_grad], config.max_grad_norm
            )
            trainer.optimizer.step()
            for key, value in batch_stats.items():
                stats[key].append(value)
            stats["grad_norm"].append(float(grad_norm))
    stats["lr"].append(config.lr * scale)
    model.eval()
    if trainer.magnet is not None and config.magnet_rate > 0:
        with torch.no_grad():
            for m, p in zip(trainer.magnet.parameters(), model.parameters(), strict=True):
                m.lerp_(p, config.magnet_rate)
    return {k: sum(v) / len(v) for k, v in stats.items()}


def accumulate_gradients(trainer: Trainer, batch: Sequence[Turn], normalizer: float) -> dict[str, float]:
    """Backpropagate the loss of ``batch`` micro-batch by micro-batch into ``.grad`` (not zeroed here).

    Each micro-batch's loss is its decisions' share of the minibatch loss (sums over decisions
    divided by the same ``normalizer``), so the accumulated gradient is the minibatch's. Returns
    the minibatch's statistics: the loss, the mean entropy, clip fraction and approximate KL per
    decision, the KL to the magnet, and how many micro-batches it took.
    """
    config = trainer.config
    totals: dict[str, float] = defaultdict(float)
    decisions = 0
    parts = micro_batches(batch, config.micro_batch_budget())
    for part in parts:
        completions = [t.completion for t in part]
        scores = trainer.policy.score(completions, reference=trainer.magnet)
        owner = scores.owner
        n = int(owner.numel())
        if n == 0:
            continue  # only forced tokens: nothing to learn from
        old = torch.tensor([lp for c in completions for lp in c.logprobs], device=owner.device)
        advantage = torch.tensor([t.advantage for t in part], device=owner.device)[owner]
        loss, info = clipped_policy_loss(scores.logprobs, old, advantage, clip=config.clip, normalizer=normalizer)
        total = loss - config.entropy_coef * scores.entropies.sum() / normalizer
        if scores.kl is not None:
            kl = scores.kl.sum() / normalizer
            total = total + config.kl_coef * kl
            totals["kl_magnet"] += kl.item()
        total.backward()
        totals["loss"] += loss.item()
        totals["entropy"] += scores.entropies.sum().item()
        totals["clip_fraction"] += info["clip_fraction"] * n
        totals["approx_kl"] += info["approx_kl"] * n
        decisions += n
    per_decision = ("entropy", "clip_fraction", "approx_kl")
    stats = {k: v / max(decisions, 1) if k in per_decision else v for k, v in totals.items()}
    stats["micro_batches"] = float(len(parts))
    return stats
