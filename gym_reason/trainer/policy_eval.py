"""Evaluation of the :class:`~gym_reason.policy.LMPolicy` being trained: matches against fixed opponents, held-out
task episodes, exact exploitability."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from gym_reason.agents import make_agent
from gym_reason.agents.lm import LMAgent
from gym_reason.core import derive_seed
from gym_reason.eval.agent_policy import agent_policy_table, exploitability_unsupported_reason
from gym_reason.eval.engine import LEARNER, Learner, Seating, labelled_requests, play_episodes
from gym_reason.eval.evaluation import TASK, Summary, summarize
from gym_reason.eval.exploitability import exploitability, tabular_policy
from gym_reason.policy import LMPolicy


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


def evaluate_policy(
    policy: LMPolicy,
    env_id: str,
    make_env: Callable[[], Any],
    opponents: Sequence[str],
    games: int,
    seed: int,
    generator: torch.Generator,
) -> dict[str, Summary]:
    """The policy's results on ``env_id``, one :class:`~gym_reason.eval.evaluation.Summary` per opponent.

    A game: ``games`` games against each opponent spec, the policy's seat rotating game by game (seeds
    ``seed``, ``seed + 1``, ...). A single-agent task: ``games`` episodes alone, under the key
    :data:`~gym_reason.eval.evaluation.TASK` (``make_env`` should build the held-out split). All of it on
    the episode engine, every episode in flight, one batched sample per round.
    """
    probe = make_env()
    learner = Learner(policy, generator)
    if not hasattr(probe, "agent_iter"):
        probe.close()
        seatings = [Seating(seed + g, (LEARNER,)) for g in range(games)]
        requests = labelled_requests(seatings, {LEARNER: learner}, env_id)
        return {TASK: summarize(play_episodes(requests, make_env=make_env), LEARNER, paired=False)}
    seats = len(probe.possible_agents)
    agents: dict[str, Any] = {LEARNER: learner}
    matchups: list[tuple[str, list[Seating]]] = []
    for o, opponent in enumerate(opponents):
        agents[opponent] = make_agent(opponent, probe, seed=derive_seed(seed, o, 1))  # its own stream, not the deal's
        seatings = []
        for g in range(games):
            labels = [opponent] * seats
            labels[g % seats] = LEARNER
            seatings.append(Seating(seed + g, tuple(labels)))
        matchups.append((opponent, seatings))
    requests = labelled_requests([s for _, group in matchups for s in group], agents, env_id)
    episodes = play_episodes(requests, make_env=make_env)
    results, start = {}, 0
    for opponent, group in matchups:
        results[opponent] = summarize(episodes[start : start + len(group)], LEARNER, paired=False)
        start += len(group)
    return results
