"""TicTacToe opponents: perfect play (minimax) and a one-ply heuristic."""

from __future__ import annotations

from functools import cache
from typing import Any

from gym_reason.agents.base import ScriptedAgent, register_fixed_agent
from gym_reason.envs.games.tic_tac_toe import LINES

GAME = "tic_tac_toe"
_CENTRE, _CORNERS = 4, (0, 2, 6, 8)


def _winner(board: str) -> str | None:
    for a, b, c in LINES:
        if board[a] != "." and board[a] == board[b] == board[c]:
            return board[a]
    return None


@cache
def _value(board: str, mark: str) -> int:
    """Game value for ``mark`` to move on ``board``: win sooner is better (+10 - moves), lose later is better."""
    other = "o" if mark == "x" else "x"
    empties = [i for i, c in enumerate(board) if c == "."]
    if not empties:
        return 0
    best = -100
    for i in empties:
        child = board[:i] + mark + board[i + 1 :]
        if _winner(child) == mark:
            score = 10 - (9 - len(empties))
        elif len(empties) == 1:
            score = 0
        else:
            score = -_value(child, other)
        best = max(best, score)
    return best


def best_moves(board: str, mark: str) -> list[str]:
    """All cells (as move strings) that keep the best game value for ``mark``."""
    other = "o" if mark == "x" else "x"
    scored = []
    empties = [i for i, c in enumerate(board) if c == "."]
    for i in empties:
        child = board[:i] + mark + board[i + 1 :]
        if _winner(child) == mark:
            score = 10 - (9 - len(empties))
        elif len(empties) == 1:
            score = 0
        else:
            score = -_value(child, other)
        scored.append((score, str(i)))
    top = max(s for s, _ in scored)
    return [m for s, m in scored if s == top]


class TicTacToeMinimax(ScriptedAgent):
    """Perfect play: a uniformly random choice among the moves with the best minimax value."""

    name = "fixed:minimax"

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        moves = best_moves(view["board"], view["mark"])
        return dict.fromkeys(moves, 1 / len(moves))


class TicTacToeOnePly(ScriptedAgent):
    """Wins if it can, blocks an immediate loss, else takes the centre, a corner, or any cell."""

    name = "fixed:heuristic"

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        board, mark = view["board"], view["mark"]
        other = "o" if mark == "x" else "x"
        empties = [i for i, c in enumerate(board) if c == "."]
        for who in (mark, other):
            hits = [i for i in empties if _winner(board[:i] + who + board[i + 1 :]) == who]
            if hits:
                return dict.fromkeys((str(i) for i in hits), 1 / len(hits))
        if _CENTRE in empties:
            return {str(_CENTRE): 1.0}
        corners = [i for i in _CORNERS if i in empties]
        pool = corners or empties
        return dict.fromkeys((str(i) for i in pool), 1 / len(pool))


register_fixed_agent(GAME, "minimax", TicTacToeMinimax)
register_fixed_agent(GAME, "heuristic", TicTacToeOnePly)
