"""Evaluation throughput: games in flight with batched agents against one game at a time, in one process.

    python bench/eval_throughput.py [--games 10000] [--lm-games 512] [--rounds 3]

Two workloads, each run by the same engine (`gym_reason.eval.engine.play_episodes`) in
two ways, interleaved over several rounds (median games/s; this machine is noisy):

* **bots**: Kuhn Poker, `random` against `fixed:nash`, seats alternating. Batched
  (256 games in flight, one `act` call per agent per round) against one-by-one
  (one game in flight: one `act` call per move).
* **LM**: the default tiny model (a self-play checkpoint's architecture, random
  weights; constrained decoding) against `random`. Batched (all games in flight:
  one forward pass per round for every pending LM turn) against one-by-one.

For reference the bots line also times a bare PettingZoo loop over the same env with
the agents called per move (no engine), the floor any runner pays.
Torch runs on one thread so the LM figures do not depend on what else the machine does.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.agents.lm import LMAgent
from gym_reason.eval.engine import Seating, labelled_requests, play_episodes
from gym_reason.trainer.config import load_config
from gym_reason.trainer.loop import build_policy


def run_games(make_env: Callable[[], object], seatings: list[Seating], agents: dict, concurrency: int) -> None:
    play_episodes(labelled_requests(seatings, agents), make_env=make_env, concurrency=concurrency)


def _seatings(games: int, a: str, b: str) -> list[Seating]:
    return [Seating(g, (a, b) if g % 2 == 0 else (b, a)) for g in range(games)]


def _bare_loop(games: int, agents: dict[str, object]) -> None:
    env = gym_reason.make("kuhn_poker")
    for g in range(games):
        seats = ("random", "nash") if g % 2 == 0 else ("nash", "random")
        env.reset(seed=g)
        for agent in env.agent_iter():
            obs, _, terminated, truncated, info = env.last()
            if terminated or truncated:
                env.step(None)
            else:
                env.step(agents[seats[int(agent[-1])]].act([(obs, info)])[0])  # type: ignore[attr-defined]


def _median_rate(games: int, runs: list[float]) -> str:
    return f"{games / statistics.median(runs):9.0f} games/s"


def _time(fn: Callable[[], None]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_bots(games: int, rounds: int) -> None:
    env = gym_reason.make("kuhn_poker")
    agents = {"random": make_agent("random", env, seed=1), "nash": make_agent("fixed:nash", env, seed=2)}
    seatings = _seatings(games, "random", "nash")

    def make_env():
        return gym_reason.make("kuhn_poker")

    times: dict[str, list[float]] = {"batched (256 in flight)": [], "one-by-one": [], "bare AEC loop (reference)": []}
    for _ in range(rounds):
        times["batched (256 in flight)"].append(_time(lambda: run_games(make_env, seatings, agents, concurrency=256)))
        times["one-by-one"].append(_time(lambda: run_games(make_env, seatings, agents, concurrency=1)))
        times["bare AEC loop (reference)"].append(_time(lambda: _bare_loop(games, agents)))
    print(f"Kuhn Poker, random vs fixed:nash, {games} games, median of {rounds}:")
    for name, runs in times.items():
        print(f"  {name:28s} {_median_rate(games, runs)}")
    ratio = statistics.median(times["one-by-one"]) / statistics.median(times["batched (256 in flight)"])
    print(f"  batched / one-by-one: {ratio:.2f}x")


def bench_lm(games: int, rounds: int) -> None:
    torch.set_num_threads(1)
    env = gym_reason.make("kuhn_poker")
    policy = build_policy(load_config(None, {"games": "kuhn_poker", "seed": 0}))
    agents = {
        "lm": LMAgent(policy, "gym_reason/KuhnPoker-v0", seed=0),
        "random": make_agent("random", env, seed=1),
    }
    seatings = _seatings(games, "lm", "random")

    def make_env():
        return gym_reason.make("kuhn_poker")

    times: dict[str, list[float]] = {f"batched ({games} in flight)": [], "one-by-one": []}
    for _ in range(rounds):
        times[f"batched ({games} in flight)"].append(
            _time(lambda: run_games(make_env, seatings, agents, concurrency=games))
        )
        times["one-by-one"].append(_time(lambda: run_games(make_env, seatings, agents, concurrency=1)))
    print(f"Kuhn Poker, tiny LM (constrained decoding, 1 torch thread) vs random, {games} games, median of {rounds}:")
    for name, runs in times.items():
        print(f"  {name:28s} {_median_rate(games, runs)}")
    ratio = statistics.median(times["one-by-one"]) / statistics.median(times[f"batched ({games} in flight)"])
    print(f"  batched / one-by-one: {ratio:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=10_000)
    parser.add_argument("--lm-games", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bench_bots(args.games, args.rounds)
    bench_lm(args.lm_games, args.rounds)


if __name__ == "__main__":
    main()
