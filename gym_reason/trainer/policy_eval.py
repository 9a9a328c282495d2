"""Evaluation of the :class:`~gym_reason.policy.LMPolicy` being trained: matches against fixed opponents, exact exploitability."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gym_reason.agents import make_agent
from gym_reason.agents.lm import LMAgent
from gym_reason.core import derive_seed
from gym_reason.eval.agent_policy import agent_policy_table, exploitability_unsupported_reason
from gym_reason.eval.exploitability import exploitability, tabular_policy
from gym_reason.policy import LMPolicy
from gym_reason.trainer.rollout import EpisodeRequest, play_episodes


def can_measure_exploitability(env: Any, policy: LMPolicy) -> bool:
    """Whether ``env`` is a two-player game env whose tree is small enough to solve exactly, and the policy
    decodes over its legal answers (so its move distribution is exactly readable; a free-form model's is not)."""
    return policy.constrained and exploitability_unsupported_reason(env) is None


def lm_policy_table(policy: LMPolicy, env_id: str, env: Any) -> dict[str, dict[str, float]]:
    """The policy's exact move distribution at every information state of ``env``, each shown as the env shows it."""
    return agent_policy_table(LMAgent(policy, env_id, env.answer_format), env)


def lm_policy_exploitability(policy: LMPolicy, env_id: str, env: Any) -> float:
    """Exact exploitability (NashConv / 2) of the policy's constrained-decoding distribution."""
    return exploitability(env.game, tabular_policy(lm_policy_table(policy, env_id, env)))


def match_against(
    policy: LMPolicy,
    env_id: str,
    make_env: Callable[[], Any],
    opponent: str,
    games: int,
    seed: int,
    generator: torch.Generator,
) -> dict[str, float]:
    """``games`` games of the policy against ``opponent``, seats alternating; rates and mean reward of the policy."""
    requests = []
    for g in range(games):
        env = make_env()
        agents = list(env.possible_agents)
        opponent_seat = agents[(g + 1) % len(agents)]
        agent = make_agent(opponent, env, seed=derive_seed(seed, g, 1))  # its own stream, not the deal's
        requests.append(
            EpisodeRequest(
                env_id, env, seed=seed + g, seats={opponent_seat: agent}, opponent_specs={opponent_seat: opponent}
            )
        )
    episodes = play_episodes(policy, requests, generator)
    played = [e for e in episodes if e.error is None]
    counts = {"win": 0, "loss": 0, "draw": 0, "forfeit": 0, "truncated": 0}
    reward = 0.0
    invalid = moves = 0
    for episode in played:
        (me,) = episode.policy_agents()
        outcome = episode.outcomes.get(me, "draw")
        counts[outcome] = counts.get(outcome, 0) + 1
        reward += episode.returns[me]
        invalid += episode.invalid.get(me, 0)
        moves += len(episode.turns)
    n = max(len(played), 1)
    return {
        "win_rate": counts["win"] / n,
        "loss_rate": (counts["loss"] + counts["forfeit"]) / n,
        "draw_rate": (counts["draw"] + counts["truncated"]) / n,
        "mean_reward": reward / n,
        "invalid_rate": invalid / max(moves, 1),
        "failed_games": float(len(episodes) - len(played)),
    }
