"""How TicTacToe reads to a model."""

from __future__ import annotations

from typing import Any

from gym_reason.envs.games.tic_tac_toe.rules import TicTacToe


class TicTacToeTemplate:
    def rules(self, game: TicTacToe, player: int) -> str:
        mark, other = ("X", "O") if player == 0 else ("O", "X")
        return (
            f"You are Player {player} in TicTacToe and play {mark}; your opponent plays {other}. "
            "X moves first. Players take turns marking an empty cell; three marks in a row, column or "
            "diagonal win, a full board without one is a draw. A move is the number of an empty cell, "
            "shown on the board.\n"
        )

    def state(self, view: dict[str, Any]) -> str:
        board = view["board"]
        cells = [board[c].upper() if board[c] != "." else str(c) for c in range(9)]
        rows = [f" {cells[r * 3]} | {cells[r * 3 + 1]} | {cells[r * 3 + 2]}" for r in range(3)]
        return "Board:\n" + "\n---+---+---\n".join(rows)
