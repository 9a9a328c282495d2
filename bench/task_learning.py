"""Learning on a task: held-out success of the tiny model rises above the initial policy's, within 15 CPU-minutes.

The task family, added here for this purpose, is **Parity**: "is 437 odd or even?", answered ``[odd]`` or
``[even]``. Why this one: the tiny default model reads a compact prompt (``env|role|state key``, bytes)
and decodes over the legal answers, so it can learn a rule that reads the key; the code envs' keys are
hashes of transcripts (nothing to generalise from) and their replies are free-form code the tiny
model cannot write. Parity's rule (the last digit decides) generalises to numbers never seen in
training, so the held-out split measures learning, not memory: the train and test splits hold
disjoint numbers by construction (a hash of the number's text, as the code envs split their tasks).

The run is ``gym-reason train``'s loop (``train()``) with evaluation on the test split every
``--eval-every`` steps: success rate with its Wilson 95% interval. Prints the curve, the initial
policy's success on the same held-out episodes, and the CPU time used.

    python bench/task_learning.py [--steps 300] [--eval-every 25] [--minutes 15]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from typing import Any

import gymnasium
import torch

import gym_reason
from gym_reason.core import (
    ACTION_FORMAT,
    ACTION_GRAMMAR,
    INVALID_ACTION,
    LEGAL_ACTIONS,
    OUTCOME,
    REWARD_COMPONENTS,
    ROLE,
    STATE_KEY,
    AnswerFormat,
    Outcome,
    text_space,
)
from gym_reason.envs.code.episodes import check_split, split_of
from gym_reason.trainer.config import load_config
from gym_reason.trainer.loop import build_policy, train
from gym_reason.trainer.policy_eval import evaluate_policy

PARITY = "bench_tasks/Parity-v0"
ANSWERS = ("[odd]", "[even]")


class ParityEnv(gymnasium.Env):
    """One question: is the number shown odd or even? +1 for the right answer (a win), 0 otherwise."""

    splits = ("train", "test")

    def __init__(self, split: str = "train", digits: int = 3) -> None:
        self.split = check_split(split)
        self.digits = digits
        self.answer_format = AnswerFormat.named("bracket")
        self.observation_space = self.action_space = text_space()
        self.rng = random.Random()
        self.number = 0

    def _info(self) -> dict[str, Any]:
        return {
            ROLE: "solver",
            LEGAL_ACTIONS: list(ANSWERS),
            ACTION_FORMAT: "Answer [odd] or [even].",
            ACTION_GRAMMAR: self.answer_format.choice_grammar(["odd", "even"]),
            STATE_KEY: str(self.number),
        }

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self.rng.seed(seed)
        while True:  # about 1.25 draws for train, 5 for test
            self.number = self.rng.randrange(10 ** (self.digits - 1), 10**self.digits)
            if split_of(str(self.number)) == self.split:
                return f"Is {self.number} odd or even? Answer [odd] or [even].", self._info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        answer = self.answer_format.extract(action)
        right = answer == ("odd" if self.number % 2 else "even")
        info = {
            INVALID_ACTION: answer not in ("odd", "even"),
            REWARD_COMPONENTS: {"right": float(right)},
            OUTCOME: Outcome.WIN if right else Outcome.LOSS,
        }
        return "Done.", float(right), True, False, info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--eval-games", type=int, default=400)
    parser.add_argument("--minutes", type=float, default=15.0, help="wall-clock limit of the training run")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    gym_reason.register(id=PARITY, entry_point=ParityEnv)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    with tempfile.TemporaryDirectory() as runs:
        overrides = {
            "games": [PARITY], "steps": args.steps, "games_per_step": 64, "eval_every": args.eval_every,
            "eval_games": args.eval_games, "eval_opponents": [], "run_dir": runs, "run_name": "parity",
            "progress": False, "threads": 1, "seed": args.seed, "time_limit": args.minutes * 60,
            "checkpoint_every": 10**6,
        }  # fmt: skip
        config = load_config(overrides=overrides)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            initial_policy = build_policy(config)
        from gym_reason.core import derive_seed

        held_out = lambda: gym_reason.make(PARITY, split="test")  # noqa: E731
        initial = evaluate_policy(initial_policy, PARITY, held_out, [], args.eval_games, derive_seed(config.seed, 7, 0),
                                  torch.Generator().manual_seed(derive_seed(config.seed, 0, 5)))  # fmt: skip
        (first,) = initial.values()
        started = time.perf_counter()
        result = train(config)
        wall = time.perf_counter() - started
        lines = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    key = "eval/Parity-v0/success_rate"
    print(
        f"Parity-v0 (3-digit numbers, held-out split), tiny model, seed {args.seed}: held-out success (95% Wilson CI)"
    )
    print(f"  step {0:4d}: {first.win.rate:6.1%} [{first.win.ci.low:6.1%}, {first.win.ci.high:6.1%}]  (initial policy)")
    for line in lines:
        if key in line:
            low, high = line[key + "_low"], line[key + "_high"]
            print(f"  step {line['step']:4d}: {line[key]:6.1%} [{low:6.1%}, {high:6.1%}]")
    final = next(line for line in reversed(lines) if key in line)
    above = final[key + "_low"] > first.win.ci.high
    print(f"  {result.step} steps in {wall:.0f} s wall, {cpu / 60:.1f} CPU-minutes (this process)")
    print(f"  final held-out success above the initial policy's (intervals apart): {above}")


if __name__ == "__main__":
    main()
