"""Kuhn Poker: the rules, checked against OpenSpiel's ``kuhn_poker`` on every deal and line.

Rules of one hand (Kuhn 1950):

* A deck of three cards, J < Q < K. Each player antes 1 chip and is dealt one
  card face down; the third card is not used.
* The first player may **check** or **bet** 1 chip.
  - After a check the second player may **check** (showdown for the antes: the
    higher card wins 1) or **bet** 1; the first player then **folds** (loses
    the ante: -1) or **calls** (showdown for 2).
  - After a bet the second player **folds** (the bettor wins 1) or **calls**
    (showdown for 2).
* Payoffs are therefore +-1 or +-2 chips, zero-sum.

A match of ``num_hands`` hands (the ``num_hands`` option) plays that many hands
with fresh deals, the first player alternating (player 0 opens the first hand),
accumulates chips, and is decided by the chip total: the return is +1 for the
player ahead, -1 for the other, 0 for both when level. A single hand returns the
chips themselves, as OpenSpiel does. Chips are always reported as a metric.

Information-state strings for a single hand are OpenSpiel's: the card digit
(0 = J, 1 = Q, 2 = K) followed by the betting letters (``p`` = check/fold,
``b`` = bet/call), e.g. ``"2pb"``. In a match, the finished hands come first,
``/``-separated, each as the cards shown (``??`` without a showdown) and its
betting letters, then ``|`` and the current hand's string: ``"JKpbb/??bp|1p"``.
"""

from __future__ import annotations

from typing import Any

from gym_reason.envs.games.base import CHANCE, TERMINAL, Game, State

CARDS = "JQK"
DEALS: tuple[str, ...] = tuple(a + b for a in CARDS for b in CARDS if a != b)
"""Chance outcomes: the first letter is player 0's card, the second player 1's."""
_DEAL_OUTCOMES = [(deal, 1 / len(DEALS)) for deal in DEALS]

_DIGIT = {card: str(rank) for rank, card in enumerate(CARDS)}
"""OpenSpiel's digit of each card in information-state strings."""
_SHOWDOWN_WINNER = {deal: 0 if CARDS.index(deal[0]) > CARDS.index(deal[1]) else 1 for deal in DEALS}

_OPEN = ["check", "bet"]
_FACING_BET = ["fold", "call"]
_LEGAL = {"": _OPEN, "p": _OPEN, "b": _FACING_BET, "pb": _FACING_BET}
_LETTER = {"check": "p", "fold": "p", "bet": "b", "call": "b"}
# Terminal betting lines -> (stake, None for a showdown or the index in mover order of the player who folded).
_TERMINAL = {"pp": (1, None), "bp": (1, 1), "pbp": (1, 0), "bb": (2, None), "pbb": (2, None)}


def _move_names(line: str) -> tuple[str, ...]:
    names, facing_bet = [], False
    for letter in line:
        if letter == "b":
            names.append("call" if facing_bet else "bet")
            facing_bet = True
        else:
            names.append("fold" if facing_bet else "check")
    return tuple(names)


_MOVE_NAMES = {line: _move_names(line) for line in ("", "p", "b", "pb", *_TERMINAL)}


class KuhnPokerState(State):
    __slots__ = ("_cards", "_chips", "_hand", "_history", "_log", "_num_hands", "_player")

    def __init__(self, num_hands: int) -> None:
        self._num_hands = num_hands
        self._hand = 0
        self._cards = ""  # "" at the deal's chance node, else player 0's card + player 1's card
        self._history = ""  # betting letters of the current hand
        self._chips = [0, 0]
        # Finished hands as (cards shown or None, betting letters, winner, stake); immutable, so clones share it.
        self._log: tuple[tuple[str | None, str, int, int], ...] = ()
        self._player = CHANCE

    # --- rules ---------------------------------------------------------------------------------
    def current_player(self) -> int:
        return self._player

    def chance_outcomes(self) -> list[tuple[str, float]]:
        if self._player != CHANCE:
            return super().chance_outcomes()
        return _DEAL_OUTCOMES

    def legal_actions(self) -> list[str]:
        if self._player < 0:
            return []
        return _LEGAL[self._history]

    def _first(self) -> int:
        """The seat that opens the current hand (the last hand once the match is over)."""
        return min(self._hand, self._num_hands - 1) & 1

    def apply(self, move: str) -> None:
        if self._player == CHANCE:
            self._cards = move
            self._player = self._hand & 1  # the hand's opener (a deal comes before the match is over)
            return
        history = self._history + _LETTER[move]
        self._history = history
        end = _TERMINAL.get(history)
        if end is None:
            self._player = 1 - self._player
            return
        stake, folder = end
        if folder is None:  # showdown
            winner = _SHOWDOWN_WINNER[self._cards]
        else:  # the other player than the folder, who is the opener (folder 0) or the responder (folder 1)
            first = self._hand & 1
            winner = first if folder else 1 - first
        self._chips[winner] += stake
        self._chips[1 - winner] -= stake
        self._log = (*self._log, (self._cards if folder is None else None, history, winner, stake))
        self._hand += 1
        if self._hand == self._num_hands:
            self._player = TERMINAL
        else:
            self._player = CHANCE
            self._cards = ""
            self._history = ""

    def is_terminal(self) -> bool:
        return self._player == TERMINAL

    def returns(self) -> list[float]:
        if self._player != TERMINAL:
            return [0.0, 0.0]
        c = self._chips[0]
        if self._num_hands == 1:
            return [float(c), float(-c)]
        sign = (c > 0) - (c < 0)
        return [float(sign), float(-sign)]

    def metrics(self, player: int) -> dict[str, float]:
        return {"chips": float(self._chips[player])}

    # --- views ---------------------------------------------------------------------------------
    def observation(self, player: int) -> dict[str, Any]:
        history = self._history
        return {
            "player": player,
            "card": self._cards[player] if self._cards else None,
            "moves": _MOVE_NAMES[history],
            "first_to_act": self._first() == player,
            "to_act": self._player == player,
            "pot": 2 + history.count("b"),
            "hand": min(self._hand + 1, self._num_hands),
            "num_hands": self._num_hands,
            "chips": self._chips[player],
            "finished_hands": tuple(
                {"cards": cards, "moves": _MOVE_NAMES[line], "winner": winner, "chips": stake}
                for cards, line, winner, stake in self._log
            ),
        }

    def information_state(self, player: int) -> str:
        card = _DIGIT[self._cards[player]] if self._cards else ""
        if self._num_hands == 1:
            return card + self._history
        past = "/".join(f"{cards or '??'}{line}" for cards, line, _winner, _stake in self._log)
        return f"{past}|{card}{self._history}"

    def observation_key(self, player: int) -> str:
        # A finished hand's view shows both cards at a showdown, which the information state does not hold.
        key = self.information_state(player)
        return f"{key}|{self._cards}" if self._player == TERMINAL else key

    def clone(self) -> KuhnPokerState:
        other = KuhnPokerState.__new__(KuhnPokerState)
        other._num_hands = self._num_hands
        other._hand = self._hand
        other._cards = self._cards
        other._history = self._history
        other._chips = self._chips[:]
        other._log = self._log
        other._player = self._player
        return other

    def __str__(self) -> str:
        return f"hand {self._hand + 1}/{self._num_hands} cards={self._cards or '--'} line={self._history or '-'} chips={self._chips}"


class KuhnPoker(Game):
    """Kuhn Poker, one hand (OpenSpiel's ``kuhn_poker``) or a match of ``num_hands`` hands."""

    name = "kuhn_poker"
    num_players = 2
    zero_sum = True

    def __init__(self, num_hands: int = 1) -> None:
        if not isinstance(num_hands, int) or num_hands < 1:
            raise ValueError(f"num_hands must be a positive integer, got {num_hands!r}; use 1 for a single hand")
        self.num_hands = num_hands

    def new_initial_state(self) -> KuhnPokerState:
        return KuhnPokerState(self.num_hands)

    @property
    def max_game_length(self) -> int:
        return 3 * self.num_hands

    @property
    def exact_analysis(self) -> bool:
        return self.num_hands == 1  # 12 information states; a match's tree grows 30-fold per hand
