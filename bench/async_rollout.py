"""Asynchronous rollouts against the synchronous loop, in one process: speed, and learning on Kuhn Poker.

Three parts (``--part``, default all):

* ``speed``: steps per second of ``gym-reason selfplay --game kuhn_poker`` (tiny model) with
  ``--async-lag 0`` and ``1``, run alternately ``--repeats`` times. The step time's median is the
  steady-state rate; the mean includes the first step (the async pipeline filling) and the final
  evaluation. Python-heavy decoding of the tiny model shares the GIL with the update, so expect little.
* ``slow-env``: the same on a task whose every step waits ``--env-ms`` (I/O-like: a sleep that releases
  the GIL, as a sandbox, browser or remote env does), played with ``--episode-timeout`` so the envs of
  a round wait at the same time. Here the rollout and the update can overlap: the ratio to expect is
  ``(rollout + update) / max(rollout, update)``, printed next to the measured one.
* ``learn``: the Kuhn learning curve (exact exploitability every ``--eval-every`` steps) for
  ``--steps`` steps, synchronous and with lag 1, and their wall times. Goal: lag 1 ends at <= 0.05.

    python bench/async_rollout.py [--part speed|slow-env|learn] [--threads 1] [--steps 300]

Every ratio compares runs made in this process, one after the other, on the same machine load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import gymnasium
import torch

import gym_reason
from gym_reason.core import ACTION_GRAMMAR, INVALID_ACTION, OUTCOME, ROLE, STATE_KEY, AnswerFormat, Outcome, text_space
from gym_reason.trainer.config import load_config
from gym_reason.trainer.loop import train

SLOW = "bench_tasks/SlowSteps-v0"


class SlowStepsTask(gymnasium.Env):
    """Four turns of ``[a]`` or ``[b]`` (+1 for ``a``); every step waits ``ms`` milliseconds first."""

    def __init__(self, ms: float = 50.0, turns: int = 4) -> None:
        self.ms, self.turns = ms, turns
        self.answer_format = AnswerFormat.named("bracket")
        self.observation_space = self.action_space = text_space()
        self.turn = 0

    def _info(self) -> dict[str, Any]:
        grammar = self.answer_format.choice_grammar(["a", "b"])
        return {ROLE: "agent", ACTION_GRAMMAR: grammar, STATE_KEY: str(self.turn)}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        self.turn = 0
        return "turn 0", self._info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        time.sleep(self.ms / 1000)
        self.turn += 1
        answer = self.answer_format.extract(action)
        info = {**self._info(), INVALID_ACTION: answer not in ("a", "b")}
        done = self.turn >= self.turns
        if done:
            info[OUTCOME] = Outcome.WIN
        return f"turn {self.turn}", float(answer == "a"), done, False, info


def run(overrides: dict[str, Any], runs: str, name: str) -> tuple[float, list[dict[str, Any]]]:
    config = load_config(overrides={**overrides, "run_dir": runs, "run_name": name, "progress": False})
    started = time.perf_counter()
    result = train(config)
    wall = time.perf_counter() - started
    return wall, [json.loads(line) for line in (Path(result.run_dir) / "metrics.jsonl").read_text().splitlines()]


def compare(label: str, base: dict[str, Any], repeats: int, runs: str) -> None:
    rates: dict[int, list[float]] = {0: [], 1: []}
    means: dict[int, list[float]] = {0: [], 1: []}
    waits: list[float] = []
    rollout: list[float] = []
    for r in range(repeats):
        for lag in (0, 1):
            _, metrics = run({**base, "async_lag": lag}, runs, f"{label}-{lag}-{r}")
            times = [m["step_time"] for m in metrics]
            rates[lag].append(1 / statistics.median(times))
            means[lag].append(len(times) / sum(times))
            if lag:
                waits += [m["rollout_wait"] for m in metrics[1:]]
            else:
                rollout += [m["games"] / m["games_per_s"] for m in metrics if m["games_per_s"] > 0]
    for lag in (0, 1):
        print(
            f"  lag {lag}: {statistics.median(rates[lag]):6.2f} steps/s (median step), "
            f"{statistics.median(means[lag]):6.2f} steps/s (all steps)   runs: "
            + ", ".join(f"{x:.2f}" for x in rates[lag])
        )
    ratio = statistics.median(rates[1]) / statistics.median(rates[0])
    step0 = 1 / statistics.median(rates[0])
    roll = statistics.median(rollout)
    ideal = step0 / max(roll, step0 - roll)
    print(f"  async/sync: {ratio:.2f}x; sync step {step0 * 1000:.0f} ms of which rollout {roll * 1000:.0f} ms: "
          f"perfect overlap would give {ideal:.2f}x; the learner waited {statistics.median(waits) * 1000:.0f} ms "
          "per step for the rollout thread (median)")  # fmt: skip


def learn(args: argparse.Namespace, runs: str) -> None:
    key = "eval/KuhnPoker-v0/exploitability"
    base = {"games": ["kuhn_poker"], "steps": args.steps, "eval_every": args.eval_every, "threads": args.threads,
            "seed": args.seed, "checkpoint_every": 10**6}  # fmt: skip
    curves = {}
    for lag in (0, 1):
        wall, metrics = run({**base, "async_lag": lag}, runs, f"learn-{lag}")
        curves[lag] = [(m["step"], m[key]) for m in metrics if key in m]
        print(f"  lag {lag}: {wall:.0f} s wall for {args.steps} steps, final exploitability {curves[lag][-1][1]:.4f}")
    print("  step  " + "  ".join(f"lag {lag}" for lag in curves))
    for (step, a), (_, b) in zip(curves[0], curves[1], strict=True):
        print(f"  {step:4d}  {a:.4f}  {b:.4f}")
    final = curves[1][-1][1]
    print(f"  lag 1 final exploitability {final:.4f}: {'meets' if final <= 0.05 else 'MISSES'} the goal <= 0.05")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["speed", "slow-env", "learn", "all"], default="all")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the run (async splits them)")
    parser.add_argument("--speed-steps", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--env-ms", type=float, default=50.0, help="slow-env: milliseconds each env step waits")
    parser.add_argument("--steps", type=int, default=300, help="learn: steps of each run")
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch threads {args.threads}; CPU count {torch.get_num_threads()} set, machine load may vary")
    with tempfile.TemporaryDirectory() as runs:
        quick = {"steps": args.speed_steps, "eval_every": 0, "eval_games": 2, "threads": args.threads,
                 "checkpoint_every": 10**6, "seed": args.seed}  # fmt: skip
        if args.part in ("speed", "all"):
            print("Kuhn Poker, tiny model, 128 games per step:")
            compare("kuhn", {**quick, "games": ["kuhn_poker"]}, args.repeats, runs)
        if args.part in ("slow-env", "all"):
            gym_reason.register(id=SLOW, entry_point=SlowStepsTask, kwargs={"ms": args.env_ms})
            print(
                f"SlowSteps task (every step waits {args.env_ms:g} ms), 32 episodes of 4 steps, episode timeout 30 s:"
            )
            slow = {**quick, "games": [SLOW], "games_per_step": 32, "episode_timeout": 30.0, "eval_opponents": []}
            compare("slow", slow, args.repeats, runs)
        if args.part in ("learn", "all"):
            print(f"Kuhn Poker learning, {args.steps} steps, default recipe (gym-reason selfplay --game kuhn_poker):")
            learn(args, runs)


if __name__ == "__main__":
    main()
