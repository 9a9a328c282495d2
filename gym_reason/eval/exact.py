"""Exact analysis over the pure rules: expected returns by walking the whole game tree.

A *policy* is a callable ``(state, player) -> {move: probability}`` over the
canonical legal moves of ``state`` (moves left out have probability 0).
:func:`expected_returns` enumerates every chance outcome with its probability
and, at each player node, every move the acting player's policy gives positive
probability, so the result is exact (up to floating point), with no sampling.

>>> from gym_reason.envs.games.kuhn_poker.bots import KuhnNash
>>> from gym_reason.envs.games.kuhn_poker.rules import KuhnPoker
>>> nash = scripted_policy(KuhnNash(alpha=0.2))
>>> value = expected_returns(KuhnPoker(), [nash, nash])
>>> round(value[0] * 18, 9), round(value[1] * 18, 9)
(-1.0, 1.0)

The tree is walked in full, so this is for small games (Kuhn Poker, a few hands
of it, TicTacToe); its cost is the number of nodes with positive probability.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gym_reason.envs.games.base import CHANCE, Game, State

Policy = Callable[[State, int], Mapping[str, float]]
"""``policy(state, player) -> {canonical move: probability}``."""

TOLERANCE = 1e-9
"""How far a policy's probabilities may sum from 1."""


def uniform_policy(state: State, player: int) -> dict[str, float]:
    """Every legal move with the same probability.

    >>> from gym_reason.envs.games.tic_tac_toe.rules import TicTacToe
    >>> probs = uniform_policy(TicTacToe().new_initial_state(), 0)
    >>> len(probs), probs["4"] == 1 / 9
    (9, True)
    """
    legal = state.legal_actions()
    return dict.fromkeys(legal, 1 / len(legal))


def scripted_policy(agent: Any) -> Policy:
    """The policy of a :class:`~gym_reason.agents.base.ScriptedAgent`.

    It reads ``agent.policy(view, legal)`` with ``view = state.observation(player)``
    and ``legal = state.legal_actions()``, the structured view the text env gives
    the agent in ``info["game_observation"]``.
    """
    if not callable(getattr(agent, "policy", None)):
        raise TypeError(
            f"scripted_policy needs a ScriptedAgent (an object with policy(view, legal)), got {type(agent).__name__}"
        )

    def policy(state: State, player: int) -> Mapping[str, float]:
        return agent.policy(state.observation(player), state.legal_actions())

    policy.__name__ = f"scripted_policy({getattr(agent, 'name', type(agent).__name__)})"
    return policy


def expected_returns(game: Game, policies: Sequence[Policy]) -> list[float]:
    """Each player's expected return when player ``p`` follows ``policies[p]``.

    Raises:
        ValueError: when the number of policies is not ``game.num_players``, when the
            game cannot list its moves, or when a policy gives probability to an
            illegal move, a negative probability, or probabilities whose sum is
            not 1 (within :data:`TOLERANCE`); the message names the state and player.
    """
    if len(policies) != game.num_players:
        raise ValueError(f"{game.name} has {game.num_players} players; got {len(policies)} policies")
    if not game.finite_actions:
        raise ValueError(f"{game.name} cannot list its legal moves, so its game tree cannot be enumerated")
    return _value(game.new_initial_state(), policies, game.num_players)


def _value(state: State, policies: Sequence[Policy], n: int) -> list[float]:
    if state.is_terminal():
        return [float(r) for r in state.returns()]
    player = state.current_player()
    if player == CHANCE:
        branches = list(state.chance_outcomes())
    else:
        branches = _checked(policies[player](state, player), state, player)
    total = [0.0] * n
    for move, p in branches:
        if p == 0:
            continue
        child = state.clone()
        child.apply(move)
        values = _value(child, policies, n)
        for i in range(n):
            total[i] += p * values[i]
    return total


def _checked(probs: Mapping[str, float], state: State, player: int) -> list[tuple[str, float]]:
    legal = state.legal_actions()
    items = list(probs.items())
    illegal = [m for m, p in items if p != 0 and m not in legal]
    if illegal:
        raise ValueError(
            f"the policy of player {player} puts probability on illegal move(s) {illegal} in state {state}; "
            f"legal: {legal}"
        )
    negative = {m: p for m, p in items if p < 0}
    if negative:
        raise ValueError(f"the policy of player {player} gives negative probabilities {negative} in state {state}")
    total = sum(p for _, p in items)
    if abs(total - 1) > TOLERANCE:
        raise ValueError(
            f"the policy of player {player} has probabilities summing to {total!r}, not 1 "
            f"(tolerance {TOLERANCE}), in state {state}: {dict(items)}"
        )
    return items
