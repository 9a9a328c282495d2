"""Liar's Dice: the rules, checked against OpenSpiel's ``liars_dice`` on every deal and bidding line.

Rules of one round (OpenSpiel's ``liars_dice`` with its default ``bidding_rule="reset-face"``):

* Two players each roll ``num_dice`` dice (default 1) with ``dice_sides`` faces (default 6)
  and see only their own; player 0's dice are rolled first, one chance node per die.
* Player 0 bids first, then the players alternate. A bid ``QxF`` claims that at least
  ``Q`` of *all* dice (both players') show face ``F``. Bids are ordered by quantity,
  then face: ``1x1 < 1x2 < ... < 1x6 < 2x1 < ...``; each bid must be higher than the
  last. Quantities run up to the number of dice in play (2 with one die each), so
  there are ``2 * num_dice * dice_sides`` bids (12 by default).
* Instead of bidding, a player may call **liar** on the last bid (not before the
  first bid); after the highest bid (``2x6`` by default) it is the only move.
* Then the dice are shown. The highest face (6) is wild: it counts as every face.
  A bid on face ``F`` counts the dice showing ``F`` or the highest face (a bid on
  the highest face counts only those). If the count reaches the bid's quantity the
  bid stands and the caller loses; otherwise the bidder loses. The winner gets +1,
  the loser -1.

Moves are ``"QxF"`` (``"2x5"``: at least two fives) and ``"liar"``; bid ``QxF`` is
OpenSpiel's action ``(Q - 1) * dice_sides + F - 1`` and ``liar`` is action
``2 * num_dice * dice_sides``. Chance outcomes are the face rolled (``"1"`` .. ``"6"``),
OpenSpiel's action ``face - 1``.

Information-state strings are OpenSpiel's ``information_state_string(player)``,
character for character, at every node: the player's dice as digits, then the bids
as ``Q-F`` and ``Liar``, space-separated (``"3 1-4 2-1 Liar"``). While dice are being
rolled they read in roll order, a die not rolled yet as ``-1`` (player 1's string is
``"-1"`` before its roll); once every die is rolled, in increasing order.

>>> state = LiarsDice().new_initial_state()
>>> for move in ("3", "5", "1x4", "2x1"):
...     state.apply(move)
>>> state.legal_actions()[:3], state.information_state(0)
(['2x2', '2x3', '2x4'], '3 1-4 2-1')
>>> state.apply("liar")  # one 1 among a 3 and a 5: the bid 2x1 was false
>>> state.returns(), state.information_state(1)
([1.0, -1.0], '5 1-4 2-1 Liar')
"""

from __future__ import annotations

from math import comb
from typing import Any

from gym_reason.envs.games.base import CHANCE, TERMINAL, Game, State

LIAR = "liar"


class LiarsDiceState(State):
    __slots__ = ("_bids", "_dice", "_game", "_liar", "_own", "_player", "_said")

    def __init__(self, game: LiarsDice) -> None:
        self._game = game
        self._dice: tuple[tuple[int, ...], tuple[int, ...]] = ((), ())  # per player, in the order rolled
        self._bids: tuple[int, ...] = ()  # bid numbers, 0 = 1x1, OpenSpiel's action numbers
        self._said = ""  # the bids as the information state spells them, each after a space
        self._own = ("", "")  # each player's dice in the information state, once every die is rolled
        self._liar = False
        self._player = CHANCE

    # --- rules ---------------------------------------------------------------------------------
    def current_player(self) -> int:
        return self._player

    def chance_outcomes(self) -> list[tuple[str, float]]:
        if self._player != CHANCE:
            return super().chance_outcomes()
        return self._game._roll_outcomes

    def legal_actions(self) -> list[str]:
        if self._player < 0:
            return []
        return self._game._legal[self._bids[-1] + 1 if self._bids else 0]

    def apply(self, move: str) -> None:
        game = self._game
        if self._player == CHANCE:
            roller = 0 if len(self._dice[0]) < game.num_dice else 1
            dice = list(self._dice)
            dice[roller] = (*dice[roller], int(move))
            self._dice = (dice[0], dice[1])
            if len(dice[1]) == game.num_dice:
                self._own = ("".join(map(str, sorted(dice[0]))), "".join(map(str, sorted(dice[1]))))
                self._player = 0
            return
        if move == LIAR:
            self._liar = True
            self._player = TERMINAL
            return
        bid = game._bid_number[move]
        self._bids = (*self._bids, bid)
        self._said += game._bid_labels[bid]
        self._player = 1 - self._player

    def is_terminal(self) -> bool:
        return self._player == TERMINAL

    def bid_stands(self) -> bool:
        """Whether the last bid is true of the dice (the caller of liar then loses)."""
        quantity, face = self._game.bid(self._bids[-1])
        return count_matching(self._dice[0] + self._dice[1], face, self._game.dice_sides) >= quantity

    def returns(self) -> list[float]:
        if self._player != TERMINAL:
            return [0.0, 0.0]
        bidder = (len(self._bids) - 1) % 2
        winner = bidder if self.bid_stands() else 1 - bidder
        return [1.0, -1.0] if winner == 0 else [-1.0, 1.0]

    # --- views ---------------------------------------------------------------------------------
    def observation(self, player: int) -> dict[str, Any]:
        game = self._game
        names = game._bid_names
        finished = self._player == TERMINAL
        view: dict[str, Any] = {
            "player": player,
            "dice": tuple(sorted(self._dice[player])),
            "num_dice": game.num_dice,
            "dice_sides": game.dice_sides,
            "bids": tuple(names[b] for b in self._bids),
            "to_act": self._player == player,
            "finished": finished,
            "liar_called_by": len(self._bids) % 2 if finished else None,
            "all_dice": None,
            "count": None,
            "result": None,
        }
        if finished:
            _quantity, face = game.bid(self._bids[-1])
            view["all_dice"] = (tuple(sorted(self._dice[0])), tuple(sorted(self._dice[1])))
            view["count"] = count_matching(self._dice[0] + self._dice[1], face, game.dice_sides)
            view["result"] = self.returns()[player]
        return view

    def information_state(self, player: int) -> str:
        if self._player == CHANCE:  # while rolling: roll order, -1 for a die not rolled yet
            dice = self._dice[player]
            return "".join(map(str, dice)) + "-1" * (self._game.num_dice - len(dice))
        said = f"{self._own[player]}{self._said}"  # every die rolled: OpenSpiel sorts them then
        return f"{said} Liar" if self._liar else said

    def observation_key(self, player: int) -> str:
        # A finished round's view shows every die, which the information state does not hold.
        key = self.information_state(player)
        return f"{key}|{self._dice}" if self._player == TERMINAL else key

    def clone(self) -> LiarsDiceState:
        other = LiarsDiceState.__new__(LiarsDiceState)
        other._game = self._game
        other._dice = self._dice
        other._bids = self._bids
        other._said = self._said
        other._own = self._own
        other._liar = self._liar
        other._player = self._player
        return other

    def __str__(self) -> str:
        bids = " ".join(self._game._bid_names[b] for b in self._bids) or "-"
        return f"dice={self._dice[0]}/{self._dice[1]} bids={bids}{' liar' if self._liar else ''}"


def count_matching(dice: tuple[int, ...], face: int, dice_sides: int) -> int:
    """How many of ``dice`` count for a bid on ``face``: that face or the wild highest face.

    >>> count_matching((3, 6, 1), 3, 6), count_matching((3, 6, 1), 6, 6)
    (2, 1)
    """
    return sum(1 for d in dice if d in (face, dice_sides))


def probability_at_least(needed: int, unknown: int, p: float) -> float:
    """P(at least ``needed`` successes among ``unknown`` independent trials of probability ``p``).

    >>> probability_at_least(1, 1, 1 / 3), probability_at_least(0, 1, 0.5), probability_at_least(2, 1, 0.5)
    (0.3333333333333333, 1.0, 0.0)
    """
    if needed <= 0:
        return 1.0
    return sum((comb(unknown, k) * p**k * (1 - p) ** (unknown - k) for k in range(needed, unknown + 1)), 0.0)


class LiarsDice(Game):
    """Liar's Dice, one round of two players (OpenSpiel's ``liars_dice``, ``reset-face`` bidding)."""

    name = "liars_dice"
    num_players = 2
    zero_sum = True

    def __init__(self, num_dice: int = 1, dice_sides: int = 6) -> None:
        for label, value, low in (("num_dice", num_dice, 1), ("dice_sides", dice_sides, 2)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(
                    f"{label} must be an integer >= {low}, got {value!r}; OpenSpiel's default is "
                    f"{'1 die per player' if label == 'num_dice' else '6 sides'}"
                )
        if dice_sides > 9:
            raise ValueError(f"dice_sides must be at most 9 (faces are single digits), got {dice_sides!r}")
        self.num_dice = num_dice
        self.dice_sides = dice_sides
        total = 2 * num_dice
        self._bid_names = [f"{q}x{f}" for q in range(1, total + 1) for f in range(1, dice_sides + 1)]
        self._bid_labels = [" " + name.replace("x", "-") for name in self._bid_names]  # OpenSpiel's, after a space
        self._bid_number = {name: i for i, name in enumerate(self._bid_names)}
        # The legal moves by the number of the lowest bid still allowed: the first bid cannot be liar.
        self._legal = [self._bid_names[:]] + [[*self._bid_names[b:], LIAR] for b in range(1, len(self._bid_names) + 1)]
        self._roll_outcomes = [(str(face), 1 / dice_sides) for face in range(1, dice_sides + 1)]

    def bid(self, number: int) -> tuple[int, int]:
        """``(quantity, face)`` of bid ``number`` (OpenSpiel's action number).

        >>> LiarsDice().bid(0), LiarsDice().bid(11)
        ((1, 1), (2, 6))
        """
        return number // self.dice_sides + 1, number % self.dice_sides + 1

    def new_initial_state(self) -> LiarsDiceState:
        return LiarsDiceState(self)

    @property
    def max_game_length(self) -> int:
        return len(self._bid_names) + 1  # every bid, then liar

    @property
    def exact_analysis(self) -> bool:
        # One die each: 36 deals x 4,096 bidding lines, 24,576 information states, ~300,000 nodes.
        # Each further die multiplies the lines by 2 ** (2 * dice_sides).
        return self.num_dice == 1 and self.dice_sides <= 6
