"""Evaluation matches are unbiased: sampled results agree with the exact value of the same policies."""

import math

import torch

import gym_reason
from gym_reason.eval.exact import expected_returns, uniform_policy
from gym_reason.eval.exploitability import tabular_policy
from gym_reason.trainer.config import load_config
from gym_reason.trainer.loop import build_policy
from gym_reason.trainer.policy_eval import evaluate_policy, lm_policy_table

KUHN = "gym_reason/KuhnPoker-v0"


def test_evaluate_policy_random_agrees_with_the_exact_value():
    # A near-deterministic policy makes any dependence between the opponent's dice and the deal show:
    # seeding the random opponent with the game's own seed once made it play its card, not uniformly.
    policy = build_policy(load_config(overrides={"seed": 4, "temperature": 0.05}))
    env = gym_reason.make(KUHN)
    learned = tabular_policy(lm_policy_table(policy, KUHN, env))
    exact = (
        expected_returns(env.game, [learned, uniform_policy])[0]
        + expected_returns(env.game, [uniform_policy, learned])[1]
    ) / 2
    games = 8192
    result = evaluate_policy(
        policy,
        KUHN,
        lambda: gym_reason.make(KUHN),
        ["random"],
        games,
        seed=0,
        generator=torch.Generator().manual_seed(0),
    )["random"]
    standard_error = 1.5 / math.sqrt(games)  # rewards are +-1 or +-2
    assert abs(result.mean_reward - exact) < 4 * standard_error, (result.mean_reward, exact)
