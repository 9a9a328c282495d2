"""Evaluation of an :class:`LMPolicy` during training: matches against fixed opponents, exact exploitability."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gym_reason.agents import make_agent
from gym_reason.core import LEGAL_ACTIONS, derive_seed
from gym_reason.eval.exploitability import decision_points, exploitability, tabular_policy
from gym_reason.trainer.models import LMPolicy
from gym_reason.trainer.rollout import EpisodeRequest, play_episodes


def supports_exploitability(env: Any, policy: LMPolicy) -> bool:
    """Whether ``env`` is a two-player game env whose tree is small enough to solve exactly, and the policy
    decodes over its legal answers (so its move distribution is exactly readable; a free-form model's is not)."""
    game = getattr(env, "game", None)
    return bool(
        policy.constrained
        and game is not None
        and hasattr(env, "set_state")
        and game.num_players == 2
        and game.finite_actions
        and game.exact_analysis
    )


def policy_table(policy: LMPolicy, env_id: str, env: Any) -> dict[str, dict[str, float]]:
    """The policy's exact move distribution at every information state of ``env``'s game.

    Each information state is shown to the policy as the env would show it (``env.set_state``),
    and the probability of each legal answer under constrained decoding is read off the model.
    """
    game = env.game
    prompts, legal, keys = [], [], []
    for player in range(game.num_players):
        for key, state in decision_points(game, player):
            env.set_state(state)
            obs, _, _, _, info = env.last()
            prompts.append(policy.prompt(env_id, obs, info))
            legal.append(list(info[LEGAL_ACTIONS]))
            keys.append(key)
    table = {}
    for key, answers, probs in zip(keys, legal, policy.answer_probabilities(prompts, legal), strict=True):
        table[key] = {env.answer_format.extract(a): probs[a] for a in answers}
    return table


def policy_exploitability(policy: LMPolicy, env_id: str, env: Any) -> float:
    """Exact exploitability (NashConv / 2) of the policy's constrained-decoding distribution."""
    return exploitability(env.game, tabular_policy(policy_table(policy, env_id, env)))


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
