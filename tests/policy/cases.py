"""Shared cases of the policy tests: a seeded tiny policy, legal-answer sets with awkward tries, Kuhn prompts."""

from __future__ import annotations

import gym_reason
from gym_reason.policy import LMPolicy, tiny_policy

KUHN = "gym_reason/KuhnPoker-v0"

LEGAL_SETS = [
    ["[check]", "[bet]"],
    ["[fold]", "[call]"],
    ["[a]", "[ab]", "[abc]", "[b]"],  # answers that are prefixes of each other (before the closing mark)
    ["[é]", "[e]", "[ü]"],  # multi-byte answers share their first byte
    ["[only]"],  # a forced answer: no decision at all
]


def tiny(**overrides) -> LMPolicy:
    """The tiny model as the default self-play config builds it (``state`` prompts, constrained), seed 3."""
    return tiny_policy(**{"seed": 3, **overrides})


def kuhn_prompts(policy: LMPolicy, seeds=range(4)) -> tuple[list[str], list[list[str]]]:
    """Prompts and legal answers of the first decision of a few Kuhn deals, plus a second-round decision."""
    env = gym_reason.make(KUHN)
    prompts, legal = [], []
    for seed in seeds:
        env.reset(seed=seed)
        for _ in range(2):  # the first player's turn, then the second player's facing a bet
            obs, _, _, _, info = env.last()
            prompts.append(policy.prompt(KUHN, obs, info))
            legal.append(list(info["legal_actions"]))
            env.step("[bet]" if "[bet]" in info["legal_actions"] else info["legal_actions"][0])
    return prompts, legal
