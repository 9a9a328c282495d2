"""Exact exploitability of an *agent*: read its move distribution at every information state, then solve.

Any agent with ``action_probabilities(batch) -> [{legal answer: probability}]`` can
be measured: scripted opponents (their explicit policy), ``random``, self-play
checkpoints (the exact constrained-decoding distribution) and ``hf:`` models
(each legal answer's probability as a free-form continuation, normalised over the
legal answers). Each information state is shown to the agent exactly as the env
would show it in a game (:meth:`GameEnv.set_state`), all in one batch.

>>> import gym_reason
>>> from gym_reason.agents import make_agent
>>> env = gym_reason.make("kuhn_poker")
>>> result = agent_exploitability(make_agent("random", env), env)
>>> round(result.exploitability, 9), result.information_states  # 11/24
(0.458333333, 12)
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from gym_reason.core import LEGAL_ACTIONS
from gym_reason.eval.exact import expected_returns
from gym_reason.eval.exploitability import (
    best_response_value,
    decision_points,
    exact_analysis_unsupported,
    tabular_policy,
)
from gym_reason.registry import env_id_of


class ExploitabilityResult(BaseModel):
    env_id: str
    agent: str
    exploitability: float
    """NashConv / 2: the mean over seats of what a best response wins against the agent."""
    nash_conv: float
    best_response_values: list[float]
    """What a best response in seat p wins against the agent in the other seat."""
    policy_values: list[float]
    """Each seat's value when the agent plays both seats."""
    information_states: int
    table: dict[str, dict[str, float]]
    """The agent's distribution over canonical moves at each information state."""


def exploitability_unsupported_reason(env: Any) -> str | None:
    """``None`` when ``env``'s game can be solved exactly, else the reason it cannot."""
    game = getattr(env, "game", None)
    if game is None or not hasattr(env, "set_state"):
        return f"{type(env).__name__} is not a gym-reason game env (exact analysis needs the game's rules)"
    return exact_analysis_unsupported(game)  # what the game declares: two players, zero-sum, small tree


def agent_policy_table(agent: Any, env: Any) -> dict[str, dict[str, float]]:
    """``{information state: {canonical move: probability}}`` of ``agent`` over ``env``'s whole game."""
    reason = exploitability_unsupported_reason(env)
    if reason:
        raise ValueError(reason)
    if not callable(getattr(agent, "action_probabilities", None)):
        raise ValueError(
            f"agent {getattr(agent, 'name', type(agent).__name__)!r} cannot report action probabilities "
            "(a served model only returns text); exploitability works for ckpt:/runs/..., hf:, fixed: and random"
        )
    game = env.game
    batch, keys = [], []
    for player in range(game.num_players):
        for key, state in decision_points(game, player):
            env.set_state(state)
            obs, _, _, _, info = env.last()
            batch.append((obs, {**info, LEGAL_ACTIONS: list(info[LEGAL_ACTIONS])}))
            keys.append(key)
    table = {}
    for key, (_, info), probs in zip(keys, batch, agent.action_probabilities(batch), strict=True):
        moves = {}
        for answer in info[LEGAL_ACTIONS]:
            move = env.answer_format.extract(answer)
            moves[move] = moves.get(move, 0.0) + probs.get(answer, 0.0)
        table[key] = moves
    return table


def agent_exploitability(agent: Any, env: Any, agent_name: str | None = None) -> ExploitabilityResult:
    """Exact exploitability of ``agent`` playing ``env``'s game (see the module docstring)."""
    table = agent_policy_table(agent, env)
    policy = tabular_policy(table)
    game = env.game
    values = expected_returns(game, [policy, policy])
    responses = [best_response_value(game, policy, p) for p in range(game.num_players)]
    nash_conv = sum(r - v for r, v in zip(responses, values, strict=True))
    return ExploitabilityResult(
        env_id=env_id_of(env, game.name),
        agent=agent_name or getattr(agent, "name", type(agent).__name__),
        exploitability=nash_conv / game.num_players,
        nash_conv=nash_conv,
        best_response_values=responses,
        policy_values=values,
        information_states=len(table),
        table=table,
    )
