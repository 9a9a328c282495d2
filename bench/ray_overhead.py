"""Episodes per second through Ray env workers vs in-process, on the episode engine, in one process.

    python bench/ray_overhead.py [--workers 2] [--kuhn-episodes 400] [--code-episodes 64] [--code-envs 32] [--rounds 3]

* **Kuhn poker, random agents** (a cheap game: its cost is all overhead): in-process
  ``play_episodes`` vs the same requests on remote envs (``EnvWorkerPool.make`` proxies, the engine
  here, one round trip per env call) and vs the worker-pool front (``EnvWorkerPool.play``: whole
  episodes on the workers, chunks in parallel).
* **CodeInterpreter, random agent** (a sandboxed task: every step runs code under bubblewrap):
  ``--code-envs`` envs in flight in-process vs the same number spread over the workers as proxies,
  and vs the pool front (each worker holds ``code-envs / workers`` envs).

Each contender runs ``--rounds`` times interleaved and the median rate is reported with the ratio
ours/in-process. The Ray start and the workers' first env builds are outside the timings (a warm-up
round). On a machine with few cores the workers compete with the driver for the same CPUs, so the
ratio is the overhead here; with a core per worker the pool front can beat one process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.eval.engine import EpisodeRequest, play_episodes

KUHN = "gym_reason/KuhnPoker-v0"
CODE = "gym_reason/CodeInterpreter-v0"


def _requests(env_id: str, n: int, agents: list[Any], envs: list[Any] | None) -> list[EpisodeRequest]:
    return [
        EpisodeRequest(env_id, None if envs is None else envs[i % len(envs)], seed=i, players=agents) for i in range(n)
    ]


def _play_on(envs: list[Any], env_id: str, n: int, agents: list[Any]) -> int:
    """``n`` episodes, ``len(envs)`` in flight: each env plays every len(envs)-th request."""
    done = 0
    for start in range(0, n, len(envs)):
        batch = _requests(env_id, min(len(envs), n - start), agents, envs)
        for k, request in enumerate(batch):
            request.seed = start + k
        done += sum(not e.failed for e in play_episodes(batch))
    return done


def _rate(run: Callable[[], int]) -> tuple[float, int]:
    t0 = time.perf_counter()
    played = run()
    return played / (time.perf_counter() - t0), played


def _compare(title: str, contenders: dict[str, Callable[[], int]], rounds: int) -> None:
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    played: dict[str, int] = {}
    for run in contenders.values():  # warm-up: workers build their envs, sandboxes start
        run()
    for _ in range(rounds):
        for name, run in contenders.items():
            rate, played[name] = _rate(run)
            rates[name].append(rate)
    base = statistics.median(rates["in-process"])
    print(f"\n{title}")
    for name, values in rates.items():
        median = statistics.median(values)
        print(f"  {name:<32} {median:9.1f} episodes/s  ({played[name]} played)  ratio {median / base:6.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kuhn-episodes", type=int, default=400)
    parser.add_argument("--code-episodes", type=int, default=64)
    parser.add_argument("--code-envs", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--num-cpus", type=float, default=0, help="CPUs Ray reserves per worker")
    args = parser.parse_args()

    import ray

    from gym_reason.trainer.ray_workers import EnvWorkerPool

    ray.init(include_dashboard=False, log_to_driver=False)
    pool = EnvWorkerPool(args.workers, num_cpus=args.num_cpus)
    print(f"{args.workers} Ray env workers, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")

    kuhn = gym_reason.make(KUHN)
    agents = [make_agent("random", kuhn, seed=1), make_agent("random", kuhn, seed=2)]
    n = args.kuhn_episodes
    local_kuhn = [gym_reason.make(KUHN) for _ in range(16)]
    remote_kuhn = [pool.make(KUHN) for _ in range(16)]
    _compare(
        f"Kuhn poker, random agents, {n} episodes (16 in flight)",
        {
            "in-process": lambda: _play_on(local_kuhn, KUHN, n, agents),
            "remote envs (engine here)": lambda: _play_on(remote_kuhn, KUHN, n, agents),
            "pool front (episodes on workers)": lambda: sum(
                not e.failed for e in pool.play(_requests(KUHN, n, agents, None))
            ),
        },
        args.rounds,
    )

    code = gym_reason.make(CODE)
    coder = [make_agent("random", code, seed=3)]
    m, k = args.code_episodes, args.code_envs
    local_code = [gym_reason.make(CODE) for _ in range(k)]
    remote_code = [pool.make(CODE) for _ in range(k)]

    def front() -> int:  # each worker's chunk runs with code-envs / workers envs in flight
        episodes = []
        for start in range(0, m, k):
            episodes += pool.play(_requests(CODE, min(k, m - start), coder, None))
        return sum(not e.failed for e in episodes)

    _compare(
        f"CodeInterpreter (bwrap), random agent, {m} episodes, {k} envs in flight",
        {
            "in-process": lambda: _play_on(local_code, CODE, m, coder),
            "remote envs (engine here)": lambda: _play_on(remote_code, CODE, m, coder),
            "pool front (episodes on workers)": front,
        },
        args.rounds,
    )
    for env in local_code + remote_code:
        env.close()
    pool.close()
    ray.shutdown()


if __name__ == "__main__":
    main()
