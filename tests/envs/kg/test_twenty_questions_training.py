"""A short run of the shipped Twenty Questions config (the training loop, the tiny model, the Guess Who board)
transfers to the held-out split: on the same seeded held-out games (countries no training game holds), the trained
policy wins more often than the initial one, with the two 95% intervals apart, because it learnt to ask until the
board is small before it guesses (bench/task_training.py and the README report the longer run)."""

from __future__ import annotations

import time

import pytest
import torch

import gym_reason
from gym_reason.core import derive_seed
from gym_reason.eval.evaluation import Summary
from gym_reason.policy.checkpoints import load_policy
from gym_reason.trainer.config import load_config
from gym_reason.trainer.loop import build_policy, train
from gym_reason.trainer.policy_eval import evaluate_policy

ENV = "gym_reason/TwentyQuestionsEasy-v0"
HELD_OUT_GAMES = 100


def held_out(policy, env_args: dict) -> Summary:
    """Results over 100 held-out games (split=test), game seeds and sampling seed fixed."""
    make = lambda: gym_reason.make(ENV, **{**env_args, "split": "test"})  # noqa: E731
    generator = torch.Generator().manual_seed(5)
    (summary,) = evaluate_policy(policy, ENV, make, [], HELD_OUT_GAMES, derive_seed(0, 7, 0), generator).values()
    return summary


@pytest.mark.slow
def test_a_short_twenty_questions_run_raises_held_out_success(tmp_path):
    torch.set_num_threads(1)
    overrides = {
        "steps": 30, "eval_every": 0, "eval_games": 4, "run_dir": str(tmp_path), "run_name": "tq",
        "progress": False, "checkpoint_every": 10**6, "time_limit": 3600,
    }  # fmt: skip
    config = load_config("configs/train_twenty_questions.yaml", overrides=overrides)
    env_args = config.env_args[ENV]
    assert env_args["board"] is True
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        before = held_out(build_policy(config), env_args)
    started = time.perf_counter()
    result = train(config)
    after = held_out(load_policy(result.checkpoint), env_args)
    print(
        f"held-out return {before.mean_reward:.3f} {before.reward_ci} -> {after.mean_reward:.3f} {after.reward_ci}; "
        f"turns {before.mean_turns:.2f} -> {after.mean_turns:.2f}; success {before.win.rate:.1%} -> "
        f"{after.win.rate:.1%}; {result.step} steps in {time.perf_counter() - started:.0f} s"
    )
    assert result.step == 30
    # the same games and sampling seeds on both sides: a run that learned nothing stays inside its start's interval
    assert after.win.ci.low > before.win.ci.high
    assert after.win.rate >= 0.6 and before.win.rate <= 0.25
    assert after.mean_turns > before.mean_turns + 2  # it wins by asking first
