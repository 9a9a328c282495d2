"""Policy-gradient losses over decision tokens (pure tensor functions, doctested).

Every token of a turn carries the turn's advantage. The summed token losses are
divided by a constant (the nominal number of turns in a minibatch), not averaged
per sequence first: a per-sequence mean weights a token of a short answer more
than one of a long answer, a length bias (Dr. GRPO).
"""

from __future__ import annotations

import torch


def clipped_policy_loss(
    new_logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    *,
    clip: float | None,
    normalizer: float,
) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO's clipped surrogate, ``-min(r A, clip(r, 1-e, 1+e) A)`` summed over tokens / ``normalizer``.

    ``clip=None`` gives REINFORCE with importance ratio ``r`` (equal to the plain
    ``-A log p`` gradient on the first, on-policy epoch).

    >>> new = torch.log(torch.tensor([0.5, 0.9]))
    >>> old = torch.log(torch.tensor([0.5, 0.5]))
    >>> adv = torch.tensor([1.0, 1.0])
    >>> loss, stats = clipped_policy_loss(new, old, adv, clip=0.2, normalizer=2.0)
    >>> round(loss.item(), 4), stats["clip_fraction"]     # ratio 1.8 is clipped to 1.2
    (-1.1, 0.5)
    >>> loss, _ = clipped_policy_loss(new, old, adv, clip=None, normalizer=2.0)
    >>> round(loss.item(), 4)
    -1.4
    """
    if normalizer <= 0:
        raise ValueError(f"normalizer must be > 0, got {normalizer!r}")
    ratio = torch.exp(new_logprobs - old_logprobs)
    if clip is None:
        per_token = -ratio * advantages
        clipped = torch.zeros_like(ratio, dtype=torch.bool)
    else:
        unclipped = ratio * advantages
        bounded = torch.clamp(ratio, 1.0 - clip, 1.0 + clip) * advantages
        per_token = -torch.minimum(unclipped, bounded)
        clipped = bounded < unclipped
    loss = per_token.sum() / normalizer
    with torch.no_grad():
        stats = {
            "clip_fraction": float(clipped.float().mean()) if clipped.numel() else 0.0,
            "approx_kl": float(((ratio - 1) - (new_logprobs - old_logprobs)).mean()) if ratio.numel() else 0.0,
        }
    return loss, stats
