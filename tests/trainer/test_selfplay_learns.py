"""The default tiny model learns Kuhn Poker by self-play: exploitability falls, winnings against random rise."""

import time

import pytest
import torch

import gym_reason
from gym_reason.policy import load_policy
from gym_reason.trainer.config import load_config
from gym_reason.trainer.loop import build_policy, train
from gym_reason.trainer.policy_eval import evaluate_policy, lm_policy_exploitability

KUHN = "gym_reason/KuhnPoker-v0"


def _strength(policy):
    env = gym_reason.make(KUHN)
    versus_random = evaluate_policy(
        policy,
        KUHN,
        lambda: gym_reason.make(KUHN),
        ["random"],
        games=1024,
        seed=99,
        generator=torch.Generator().manual_seed(5),
    )["random"]
    return lm_policy_exploitability(policy, KUHN, env), versus_random.mean_reward


@pytest.mark.slow
def test_default_selfplay_on_kuhn_improves(tmp_path):
    config = load_config(
        overrides={
            "steps": 250,
            "eval_every": 0,
            "eval_games": 64,
            "run_dir": str(tmp_path),
            "run_name": "learn",
            "progress": False,
        }
    )
    before_exploitability, before_reward = _strength(build_policy(config))
    started = time.perf_counter()
    result = train(config)
    seconds = time.perf_counter() - started
    after_exploitability, after_reward = _strength(load_policy(result.checkpoint))
    print(f"exploitability {before_exploitability:.3f} -> {after_exploitability:.3f}; "
          f"reward vs random {before_reward:+.3f} -> {after_reward:+.3f}; {seconds:.0f} s")  # fmt: skip
    assert before_exploitability > 0.4  # random init is near uniform (0.458)
    assert after_exploitability < 0.25
    assert after_exploitability < before_exploitability - 0.2
    assert after_reward > before_reward + 0.05
    assert after_reward > 0.05
