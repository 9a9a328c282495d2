"""Batched rollout vs one game at a time, same model, same games.

Plays 256 Kuhn Poker games with the default tiny model (constrained decoding) twice:
all in flight at once (one batched forward pass per round) and one after another.
Prints games/s of each, the speed-up ratio (goal >= 20x), and the share of batched
rollout time spent outside the model's forward passes (goal <= 10%).

    python bench/rollout_overhead.py [--games 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch

import gym_reason
from gym_reason.trainer.config import load_config
from gym_reason.trainer.loop import build_policy
from gym_reason.trainer.rollout import EpisodeRequest, play_episodes

KUHN = "gym_reason/KuhnPoker-v0"


class ForwardTimer:
    """Accumulates wall time spent inside the model's forward passes."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.seconds = 0.0
        self.calls = 0
        model.register_forward_pre_hook(self._start)
        model.register_forward_hook(self._stop)

    def _start(self, module, args):
        self._t0 = time.perf_counter()

    def _stop(self, module, args, output):
        self.seconds += time.perf_counter() - self._t0
        self.calls += 1


def requests(n: int, seed: int) -> list[EpisodeRequest]:
    return [EpisodeRequest(KUHN, gym_reason.make(KUHN), seed=seed + i) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    policy = build_policy(load_config())
    timer = ForwardTimer(policy.model)
    play_episodes(policy, requests(32, 0), torch.Generator().manual_seed(0))  # warm-up

    batched, one_by_one, outside = [], [], []
    for r in range(args.repeats):
        reqs = requests(args.games, 1000 * r)
        timer.seconds = 0.0
        t0 = time.perf_counter()
        episodes = play_episodes(policy, reqs, torch.Generator().manual_seed(r))
        elapsed = time.perf_counter() - t0
        assert all(e.error is None for e in episodes)
        batched.append(elapsed)
        outside.append(1 - timer.seconds / elapsed)

        reqs = requests(args.games, 1000 * r)
        generator = torch.Generator().manual_seed(r)
        t0 = time.perf_counter()
        for request in reqs:
            play_episodes(policy, [request], generator)
        one_by_one.append(time.perf_counter() - t0)

    b, s = min(batched), min(one_by_one)
    print(f"{args.games} concurrent Kuhn games, tiny model, constrained decoding, best of {args.repeats}")
    print(f"  batched:    {b:.3f} s  ({args.games / b:,.0f} games/s)")
    print(f"  one by one: {s:.3f} s  ({args.games / s:,.0f} games/s)")
    print(f"  speed-up:   {s / b:.1f}x   (goal >= 20x)")
    print(
        f"  batched rollout time outside forward passes: {min(outside):.1%} (best) / {max(outside):.1%} (worst)  (goal <= 10%)"
    )


if __name__ == "__main__":
    main()
