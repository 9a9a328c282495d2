"""The policy update of one step: PPO-clip epochs over minibatches of turns.

Policy loss minus an entropy bonus, plus a KL penalty toward the magnet policy when the run
has one. The losses are pure functions in :mod:`gym_reason.trainer.loss`.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import TYPE_CHECKING

import torch

from gym_reason.core import derive_seed
from gym_reason.trainer.loss import clipped_policy_loss
from gym_reason.trainer.rollout import Turn

if TYPE_CHECKING:
    from gym_reason.trainer.loop import Trainer


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
            completions = [t.completion for t in batch]
            scores = policy.score(completions, reference=trainer.magnet)
            owner = scores.owner
            old = torch.tensor([lp for c in completions for lp in c.logprobs], device=owner.device)
            advantage = torch.tensor([t.advantage for t in batch], device=owner.device)[owner]
            loss, info = clipped_policy_loss(scores.logprobs, old, advantage, clip=config.clip, normalizer=normalizer)
            entropy = scores.entropies.sum() / normalizer
            total = loss - config.entropy_coef * entropy
            if scores.kl is not None:
                kl = scores.kl.sum() / normalizer
                total = total + config.kl_coef * kl
                stats["kl_magnet"].append(kl.item())
            trainer.optimizer.zero_grad(set_to_none=True)
            total.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(
                [p for p in model.parameters() if p.requires_grad], config.max_grad_norm
            )
            trainer.optimizer.step()
            stats["loss"].append(loss.item())
            stats["entropy"].append(scores.entropies.mean().item())
            stats["grad_norm"].append(float(grad_norm))
            stats["clip_fraction"].append(info["clip_fraction"])
            stats["approx_kl"].append(info["approx_kl"])
    stats["lr"].append(config.lr * scale)
    model.eval()
    if trainer.magnet is not None and config.magnet_rate > 0:
        with torch.no_grad():
            for m, p in zip(trainer.magnet.parameters(), model.parameters(), strict=True):
                m.lerp_(p, config.magnet_rate)
    return {k: sum(v) / len(v) for k, v in stats.items()}
