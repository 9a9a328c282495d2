"""WebShop-v0 throughput: the browser backend with 1, 4 and 16 envs sharing one Chromium, against the text twin,
in one process on the same seeded action sequences.

Per setting: steps per second (all envs stepped round-robin from one thread, as Playwright's synchronous API
requires), reset times (median and 90th percentile), errors (any exception), and memory: the proportional set
size (PSS, shared pages split among the processes that share them) of this process and every process below it
(Playwright's driver, Chromium's browser, renderer, GPU and utility processes). Then the twin's steps per
second and its ratio to the browser's.

    python bench/web_throughput.py [--steps 12] [--sizes 1,4,16]

Goals (issue 16): 16 concurrent envs without errors, reset <= 300 ms, the twin >= 50x the browser's steps/s.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from pathlib import Path

from gym_reason.envs.web import browser
from gym_reason.envs.web.oracles import RandomWebAgent, ShopOracle
from gym_reason.envs.web.shop_env import WebShopEnv

RESET_ROUNDS = 5


def pss_mb() -> float:
    """PSS of this process and all its descendants, in MB."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [os.getpid()]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


class Episode:
    """One env's play: the oracle on even seeds (searches, product pages, cart, checkout), random actions on odd."""

    def __init__(self, env: WebShopEnv, seed: int) -> None:
        self.env, self.seed = env, seed

    def reset(self) -> float:
        start = time.perf_counter()
        self.obs, _ = self.env.reset(seed=self.seed)
        elapsed = time.perf_counter() - start
        goal = self.env.goal
        assert goal is not None
        self.policy = ShopOracle(goal, self.env.catalog) if self.seed % 2 == 0 else RandomWebAgent(self.seed, 0.0)
        return elapsed

    def step(self) -> bool:
        """One step; whether the episode ended."""
        self.obs, _r, terminated, truncated, _info = self.env.step(self.policy(self.obs))
        return terminated or truncated


def run(backend: str, count: int, steps: int) -> dict[str, float]:
    envs = [WebShopEnv(backend=backend, split="test") for _ in range(count)]
    episodes = [Episode(env, seed) for seed, env in enumerate(envs)]
    errors, done_steps = 0, 0
    try:
        first_reset = max(episode.reset() for episode in episodes)  # the first page of each new browser context
        start = time.perf_counter()
        for _ in range(steps):
            for k, episode in enumerate(episodes):
                try:
                    if episode.step():
                        episode.seed += 1000 + k
                        episode.reset()
                    done_steps += 1
                except Exception as exc:  # counted and reported, never hidden
                    errors += 1
                    print(f"  error in env {k}: {exc!r}")
        elapsed = time.perf_counter() - start
        memory = pss_mb()
        # Reset times away from any episode's end: each env leaves the home page (a category search), then resets.
        resets = []
        for round_ in range(RESET_ROUNDS):
            for k, episode in enumerate(episodes):
                episode.seed = 5000 + 100 * round_ + k
                episode.env.step('{"action": "click", "id": 5}')
                resets.append(episode.reset())
    finally:
        for env in envs:
            env.close()
    resets.sort()
    return {
        "steps_per_s": done_steps / elapsed,
        "reset_median_ms": 1000 * statistics.median(resets),
        "reset_p90_ms": 1000 * resets[math.ceil(0.9 * len(resets)) - 1],
        "first_reset_ms": 1000 * first_reset,
        "errors": errors,
        "pss_mb": memory,
        "steps": done_steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12, help="steps per env in each browser setting")
    parser.add_argument("--sizes", default="1,4,16", help="numbers of concurrent browser envs")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    load = os.getloadavg()[0]
    print(f"this process before any env: {pss_mb():.0f} MB PSS; load average {load:.1f} on {os.cpu_count()} cores")
    print(
        f"{'backend':>8} {'envs':>4} {'steps/s':>9} {'reset median':>13} {'reset p90':>10} {'first reset':>12}"
        f" {'errors':>6} {'PSS MB':>7}"
    )

    def show(backend: str, count: int, r: dict[str, float]) -> None:
        print(
            f"{backend:>8} {count:>4} {r['steps_per_s']:>9.1f} {r['reset_median_ms']:>10.1f} ms "
            f"{r['reset_p90_ms']:>7.1f} ms {r['first_reset_ms']:>9.1f} ms {r['errors']:>6} {r['pss_mb']:>7.0f}"
        )

    browser_rates = {}
    for count in sizes:
        r = run("browser", count, args.steps)
        browser_rates[count] = r["steps_per_s"]
        show("browser", count, r)
    assert not browser.running(), "the browser outlived its envs"
    twin = run("text", 1, 3000)
    show("text", 1, twin)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    for count, rate in browser_rates.items():
        print(f"text twin / browser with {count} env(s): {twin['steps_per_s'] / rate:.0f}x steps/s")


if __name__ == "__main__":
    main()
