"""Leduc Hold'em: the rules, checked against OpenSpiel's ``leduc_poker`` on every deal and line.

Rules of one hand (Southey et al. 2005, as OpenSpiel plays it with default parameters):

* A deck of six cards: Jack, Queen and King in two suits, numbered as OpenSpiel
  does, ``0 = Js, 1 = Jh, 2 = Qs, 3 = Qh, 4 = Ks, 5 = Kh`` (rank = number // 2).
  Each player antes 1 chip and is dealt one private card (player 0 first).
* Round 1: player 0 acts first, then the players alternate. With no bet to
  match a player may **check** or **raise**; facing a bet they may **fold**,
  **call** or **raise**. A raise matches the bet and adds 2 chips. At most two
  raises are made in a round, so after the second one the player facing it may
  only fold or call. The round ends when both players check, or when a raise is
  called; a fold ends the hand at once and the other player wins the pot.
* One public card is dealt from the four left.
* Round 2: the same, player 0 again acting first, with raises of 4 chips.
* Showdown: a player whose private card pairs the public card wins; otherwise
  the higher private card wins; equal ranks split the pot. (OpenSpiel ranks the
  two-card hands, high card then low card; with a shared public card that is
  the same as comparing private cards.)
* The return is the chips won or lost: from +-1 (a fold to the first raise
  loses the ante) to +-13 (two raises in each round, called: 1 + 2*2 + 2*4).

Moves are ``"fold"``, ``"check"``, ``"call"`` and ``"raise"``; they map one to one
onto OpenSpiel's actions (0 = Fold, 1 = Call, which is ``check`` when there is
no bet to match and ``call`` otherwise, 2 = Raise). As in OpenSpiel (without its
``action_mapping`` option) a player may fold only when facing a bet, so the
legal moves are ``check, raise``, ``fold, call, raise`` or, after two raises,
``fold, call``.

Chance outcomes are card names (``"Qh"``): player 0's card, then player 1's
card (the hand's first two chance nodes), then after round 1 the public card,
each uniform over the cards left, as in OpenSpiel.

Information-state strings are OpenSpiel's ``information_state_string(player)``,
character for character, at every node, so tabular policies can be compared key
by key: ``[Observer: 0][Private: 4][Round 2][Player: 0][Pot: 6][Money: 97 97]
[Public: 1][Round1: 2 1][Round2: ]`` (one line). ``Private`` is the card number
(-10000 before the deal), ``Player`` the player to move (-1 at a chance node;
at the end, the player who moved last), ``Money`` each player's chips out of a
stack of 100 (after the pot is paid out at the end, when ``Pot`` is 0), and the
rounds list OpenSpiel's action numbers.

>>> state = LeducHoldem().new_initial_state()
>>> for move in ("Ks", "Jh", "raise", "call", "Js", "check", "raise"):
...     state.apply(move)
>>> state.legal_actions()
['fold', 'call', 'raise']
>>> state.information_state(1)
'[Observer: 1][Private: 1][Round 2][Player: 0][Pot: 10][Money: 97 93][Public: 0][Round1: 2 1][Round2: 1 2]'
>>> state.apply("call")
>>> state.returns()  # player 1's Jack pairs the public Jack
[-7.0, 7.0]
"""

from __future__ import annotations

from typing import Any

from gym_reason.envs.games.base import CHANCE, TERMINAL, Game, State

CARDS: tuple[str, ...] = ("Js", "Jh", "Qs", "Qh", "Ks", "Kh")
"""Card names by OpenSpiel's card number."""
_CARD_NUMBER = {card: number for number, card in enumerate(CARDS)}
RAISE_SIZES = (2, 4)
"""The chips a raise adds in round 1 and in round 2."""
MAX_RAISES = 2
"""Raises allowed per round."""
STARTING_MONEY = 100
"""The stack in OpenSpiel's ``Money`` field; it never binds (a player puts in at most 13)."""
_NO_CARD = -10000  # OpenSpiel's kInvalidCard, shown as the private card before the deal

OPENSPIEL_ACTION = {"fold": 0, "check": 1, "call": 1, "raise": 2}
"""Our moves as OpenSpiel's ``leduc_poker`` actions."""
_DIGIT = {move: str(action) for move, action in OPENSPIEL_ACTION.items()}

# Legal moves by (facing a bet, raises made this round); the lists are shared, callers must not mutate them.
_LEGAL = {
    (False, 0): ["check", "raise"],
    (False, 1): ["check", "raise"],
    (False, 2): ["check"],  # unreachable: whoever raised last is never to act unless facing a re-raise
    (True, 0): ["fold", "call", "raise"],
    (True, 1): ["fold", "call", "raise"],
    (True, 2): ["fold", "call"],
}
_CHANCE_OUTCOMES: dict[frozenset[int], list[tuple[str, float]]] = {}


def _chance_outcomes(dealt: frozenset[int]) -> list[tuple[str, float]]:
    outcomes = _CHANCE_OUTCOMES.get(dealt)
    if outcomes is None:
        left = [card for number, card in enumerate(CARDS) if number not in dealt]
        outcomes = _CHANCE_OUTCOMES[dealt] = [(card, 1.0 / len(left)) for card in left]
    return outcomes


def hand_strength(private: int, public: int) -> int:
    """A number that orders showdown hands: a pair beats every non-pair, then the higher private rank wins.

    >>> hand_strength(0, 1) > hand_strength(5, 2)  # a pair of Jacks beats King high
    True
    >>> hand_strength(2, 4) == hand_strength(3, 0)  # Queen high, whatever the public card
    True
    """
    rank = private // 2
    return 3 + rank if rank == public // 2 else rank


class LeducHoldemState(State):
    __slots__ = (
        "_calls",
        "_mover",
        "_private",
        "_public",
        "_raises",
        "_returns",
        "_round",
        "_rounds",
        "_stake",
        "_terminal",
    )

    def __init__(self) -> None:
        self._private: tuple[int, ...] = ()  # dealt private cards, player 0's first
        self._public = _NO_CARD
        self._round = 1
        self._rounds: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())  # moves of round 1 and round 2
        self._stake = [1, 1]  # chips each player has put in
        self._raises = 0  # raises made this round
        self._calls = 0  # checks and calls since the last raise this round
        self._mover = CHANCE  # OpenSpiel's cur_player_: stays on the last mover at the end
        self._terminal = False
        self._returns = (0.0, 0.0)

    # --- rules ---------------------------------------------------------------------------------
    def current_player(self) -> int:
        return TERMINAL if self._terminal else self._mover

    def chance_outcomes(self) -> list[tuple[str, float]]:
        if self._mover != CHANCE or self._terminal:
            return super().chance_outcomes()
        dealt = self._private if self._public == _NO_CARD else (*self._private, self._public)
        return _chance_outcomes(frozenset(dealt))

    def legal_actions(self) -> list[str]:
        player = self._mover
        if player < 0 or self._terminal:
            return []
        return _LEGAL[self._stake[player] < self._stake[1 - player], self._raises]

    def apply(self, move: str) -> None:
        player = self._mover
        if player == CHANCE:
            card = _CARD_NUMBER[move]
            if len(self._private) < 2:
                self._private = (*self._private, card)
                if len(self._private) == 2:
                    self._mover = 0
            else:
                self._public = card
                self._mover = 0
            return
        stake = self._stake
        first, second = self._rounds
        if self._round == 1:
            self._rounds = ((*first, move), second)
        else:
            self._rounds = (first, (*second, move))
        if move == "fold":
            self._finish(winner=1 - player)
        elif move == "raise":
            stake[player] = stake[1 - player] + RAISE_SIZES[self._round - 1]
            self._raises += 1
            self._calls = 0
            self._mover = 1 - player
        else:  # check or call
            stake[player] = stake[1 - player]
            self._calls += 1
            if self._calls == (1 if self._raises else 2):  # the round is over
                if self._round == 2:
                    self._finish(winner=self._showdown_winner())
                else:
                    self._round = 2
                    self._raises = 0
                    self._calls = 0
                    self._mover = CHANCE
            else:
                self._mover = 1 - player

    def _showdown_winner(self) -> int | None:
        """The player with the better hand, ``None`` for a split pot."""
        a = hand_strength(self._private[0], self._public)
        b = hand_strength(self._private[1], self._public)
        return None if a == b else 0 if a > b else 1

    def _finish(self, winner: int | None) -> None:
        self._terminal = True
        if winner is None:
            return  # the stakes are equal at a showdown: a split gives each player their chips back
        won = float(self._stake[1 - winner])
        self._returns = (won, -won) if winner == 0 else (-won, won)

    def is_terminal(self) -> bool:
        return self._terminal

    def returns(self) -> list[float]:
        return list(self._returns)

    # --- views ---------------------------------------------------------------------------------
    def observation(self, player: int) -> dict[str, Any]:
        stake = self._stake
        to_act = self._mover == player and not self._terminal
        showdown = None
        if self._terminal and self._rounds[self._round - 1][-1] != "fold":
            showdown = tuple(CARDS[c][0] for c in self._private)
        return {
            "player": player,
            "card": CARDS[self._private[player]][0] if len(self._private) > player else None,
            "public_card": CARDS[self._public][0] if self._public != _NO_CARD else None,
            "round": self._round,
            "moves": self._rounds,
            "pot": stake[0] + stake[1],
            "chips_in": stake[player],
            "opponent_chips_in": stake[1 - player],
            "to_call": stake[1 - player] - stake[player] if to_act else 0,
            "raises_left": MAX_RAISES - self._raises,
            "raise_size": RAISE_SIZES[self._round - 1],
            "to_act": to_act,
            "finished": self._terminal,
            "showdown": showdown,  # both ranks, player 0's first, when the hand ended in a showdown
            "result": self._returns[player] if self._terminal else None,
        }

    def information_state(self, player: int) -> str:
        private = self._private[player] if len(self._private) > player else _NO_CARD
        stake = self._stake
        if self._terminal:
            pot, money = 0, (STARTING_MONEY + int(r) for r in self._returns)
        else:
            pot, money = stake[0] + stake[1], (STARTING_MONEY - s for s in stake)
        public = f"[Public: {self._public}]" if self._public != _NO_CARD else ""
        first, second = self._rounds
        return (
            f"[Observer: {player}][Private: {private}][Round {self._round}][Player: {self._mover}][Pot: {pot}]"
            f"[Money: {' '.join(map(str, money))}]{public}"
            f"[Round1: {' '.join(_DIGIT[m] for m in first)}][Round2: {' '.join(_DIGIT[m] for m in second)}]"
        )

    def observation_key(self, player: int) -> str:
        # A finished hand's view shows both cards at a showdown, which the information state does not hold.
        key = self.information_state(player)
        return f"{key}{self._private}" if self._terminal else key

    def clone(self) -> LeducHoldemState:
        other = LeducHoldemState.__new__(LeducHoldemState)
        other._private = self._private
        other._public = self._public
        other._round = self._round
        other._rounds = self._rounds
        other._stake = self._stake[:]
        other._raises = self._raises
        other._calls = self._calls
        other._mover = self._mover
        other._terminal = self._terminal
        other._returns = self._returns
        return other

    def __str__(self) -> str:
        cards = "".join(CARDS[c] for c in self._private) or "--"
        public = CARDS[self._public] if self._public != _NO_CARD else "--"
        lines = "/".join(" ".join(r) or "-" for r in self._rounds)
        return f"cards={cards} public={public} round={self._round} moves={lines} stake={self._stake}"


class LeducHoldem(Game):
    """Leduc Hold'em, one hand (OpenSpiel's ``leduc_poker``, default parameters)."""

    name = "leduc_holdem"
    num_players = 2
    zero_sum = True

    def new_initial_state(self) -> LeducHoldemState:
        return LeducHoldemState()

    @property
    def max_game_length(self) -> int:
        return 8  # four moves a round: check, raise, raise, call

    @property
    def exact_analysis(self) -> bool:
        return True  # 936 information states; 9,457 nodes in the whole tree, chance nodes included
