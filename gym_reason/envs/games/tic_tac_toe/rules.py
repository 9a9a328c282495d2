"""TicTacToe on a 3x3 board; checked against OpenSpiel's ``tic_tac_toe`` on the whole game tree.

Cells are numbered 0-8 row by row (0 = top left, 4 = centre, 8 = bottom right)
and a move is the number of an empty cell. Player 0 plays ``x`` and moves
first, player 1 plays ``o``. Three marks in a row, column or diagonal win
(+1 / -1); a full board without a line is a draw (0 / 0).

The board is kept as two 9-bit masks so that legal moves and win detection are
table look-ups.
"""

from __future__ import annotations

from typing import Any

from gym_reason.envs.games.base import TERMINAL, Game, State

MARKS = "xo"
LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))
_LINE_MASKS = tuple(sum(1 << c for c in line) for line in LINES)
_HAS_LINE = tuple(any(m & lm == lm for lm in _LINE_MASKS) for m in range(512))
_EMPTY_CELLS = tuple([str(c) for c in range(9) if not (m >> c) & 1] for m in range(512))
_BIT = {str(c): 1 << c for c in range(9)}
_FULL = 511


_ROWS = {
    (x, o): "".join("x" if (x >> c) & 1 else "o" if (o >> c) & 1 else "." for c in range(3))
    for x in range(8)
    for o in range(8)
    if not x & o
}
"""The text of three cells from their x and o bits."""


class TicTacToeState(State):
    __slots__ = ("_masks", "_player", "_winner")

    def __init__(self) -> None:
        self._masks = [0, 0]
        self._player = 0
        self._winner = -1  # -1: nobody (yet)

    def current_player(self) -> int:
        return self._player

    def legal_actions(self) -> list[str]:
        if self._player < 0:
            return []
        return _EMPTY_CELLS[self._masks[0] | self._masks[1]]

    def apply(self, move: str) -> None:
        player = self._player
        mask = self._masks[player] | _BIT[move]
        self._masks[player] = mask
        if _HAS_LINE[mask]:
            self._winner = player
            self._player = TERMINAL
        elif mask | self._masks[1 - player] == _FULL:
            self._player = TERMINAL
        else:
            self._player = 1 - player

    def is_terminal(self) -> bool:
        return self._player == TERMINAL

    def returns(self) -> list[float]:
        if self._winner < 0:
            return [0.0, 0.0]
        return [1.0, -1.0] if self._winner == 0 else [-1.0, 1.0]

    def board(self) -> str:
        """Nine characters, ``x``, ``o`` or ``.``, cell 0 first."""
        x, o = self._masks
        # Three cells at a time from a table: the env asks for the board at every move.
        return _ROWS[x & 7, o & 7] + _ROWS[(x >> 3) & 7, (o >> 3) & 7] + _ROWS[x >> 6, o >> 6]

    def observation(self, player: int) -> dict[str, Any]:
        return {
            "player": player,
            "mark": MARKS[player],
            "board": self.board(),
            "to_act": self._player == player,
        }

    def information_state(self, player: int) -> str:
        return self.board()

    def clone(self) -> TicTacToeState:
        other = TicTacToeState.__new__(TicTacToeState)
        other._masks = self._masks[:]
        other._player = self._player
        other._winner = self._winner
        return other

    def __str__(self) -> str:
        b = self.board()
        return "\n".join(b[r * 3 : r * 3 + 3] for r in range(3))


class TicTacToe(Game):
    name = "tic_tac_toe"
    num_players = 2
    zero_sum = True

    def new_initial_state(self) -> TicTacToeState:
        return TicTacToeState()

    @property
    def max_game_length(self) -> int:
        return 9
