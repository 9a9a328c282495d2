"""TicTacToe opponents: perfect play (minimax) and a one-ply heuristic."""

from __future__ import annotations

from functools import cache
from typing import Any

from gym_reason.envs.games.bots import ScriptedAgent
from gym_reason.envs.games.tic_tac_toe.rules import LINES

_CENTRE, _CORNERS = 4, (0, 2, 6, 8)


def _winner(board: str) -> str | None:
    for a, b, c in LINES:
        if board[a] != "." and board[a] == board[b] == board[c]:
            return board[a]
    return None


def _move_scores(board: str, mark: str) -> list[tuple[int, int]]:
    """``(score, cell)`` for every empty cell: a win sooner scores higher (+10 - moves), a loss later less low."""
    other = "o" if mark == "x" else "x"
    empties = [i for i, c in enumerate(board) if c == "."]
    scored = []
    for i in empties:
        child = board[:i] + mark + board[i + 1 :]
        if _winner(child) == mark:
            score = 10 - (9 - len(empties))
        elif len(empties) == 1:
            score = 0
        else:
            score = -_value(child, other)
        scored.append((score, i))
    return scored


@cache
def _value(board: str, mark: str) -> int:
    """Game value for ``mark`` to move on ``board`` (0 on a full board)."""
    return max((score for score, _ in _move_scores(board, mark)), default=0)


def best_moves(board: str, mark: str) -> list[str]:
    """All cells (as move strings) that keep the best game value for ``mark``."""
    scored = _move_scores(board, mark)
    top = max(score for score, _ in scored)
    return [str(cell) for score, cell in scored if score == top]


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
