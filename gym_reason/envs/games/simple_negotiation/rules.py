"""Simple Negotiation: two players trade five resources they value privately (SPIRAL / TextArena).

Rules:

* Resources, in their fixed order, with base values: Wheat 5, Wood 10, Sheep 15,
  Brick 25, Ore 40.
* The deal is 20 chance nodes, in this order: for player 0 then player 1, for each
  resource in order, first the quantity (uniform in 5..25), then the player's
  private value per unit (uniform in ``base - int(0.2 * base) .. base + int(0.2 * base)``
  clipped to 5..40, so Wheat 5-6, Wood 8-12, Sheep 12-18, Brick 20-30, Ore 32-40).
  A player sees its own quantities and values, never the other player's.
* Then ``max_turns`` moves in total (default 10) are made, player 0 first, the
  players alternating; the game ends after the last of them. A move is one of
  (canonical form, lower case):

  - ``offer: <give> -> <get>``, e.g. ``offer: 2 wheat, 1 wood -> 1 ore``: the mover
    proposes to give the left side for the right side. Both sides list at least
    one item, quantities are positive integers (at most six digits), no resource
    is on both sides, and the mover must hold everything it gives. The canonical
    form lists each side in resource order, quantities summed.
  - ``accept``: only while the other player's offer is pending and only if the
    mover holds everything that offer asks for; the trade executes at once.
  - ``deny``: only while the other player's offer is pending; rejects it.
  - ``talk: <message>``: a non-empty message to the other player (whitespace
    runs become single spaces; at most 300 characters are kept).

  An offer stays pending for exactly one move: any move of the other player
  except ``accept`` (a counter-offer, talk or ``deny``) rejects it.
* Written moves may vary: any case and spacing, ``offer`` with or without a
  colon, an optional ``I give`` / ``I offer`` prefix, ``->``, ``→`` or `` for ``
  between the sides, commas or ``and`` between items, plurals (``2 woods``),
  trailing ``.``/``!``. Anything else is not a move.
* A player's inventory value is the sum of quantity times its own private value.
  At the end the player whose value grew more (by its own values) wins: +1 / -1;
  equal changes are a draw, 0 / 0. The raw changes and the number of executed
  trades are reported as metrics.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from typing import Any

from gym_reason.core import lark_literal, text_regex
from gym_reason.envs.games.base import CHANCE, TERMINAL, Game, State

RESOURCES: tuple[str, ...] = ("wheat", "wood", "sheep", "brick", "ore")
BASE_VALUES: tuple[int, ...] = (5, 10, 15, 25, 40)
MIN_QUANTITY, MAX_QUANTITY = 5, 25
MIN_VALUE, MAX_VALUE = 5, 40
MAX_TALK = 300
"""Characters of a talk message that are kept."""
_MAX_DIGITS = 6  # bounds int() on model text; no side can ever hold a million units anyway

_N = len(RESOURCES)
_DEAL_NODES = 2 * _N * 2


def value_range(base: int) -> tuple[int, int]:
    """The inclusive range of private values for a resource of base value ``base``."""
    spread = int(0.2 * base)
    return max(base - spread, MIN_VALUE), min(base + spread, MAX_VALUE)


def _uniform(values: range) -> list[tuple[str, float]]:
    return [(str(v), 1 / len(values)) for v in values]


_QUANTITY_OUTCOMES = _uniform(range(MIN_QUANTITY, MAX_QUANTITY + 1))
_VALUE_OUTCOMES = tuple(_uniform(range(lo, hi + 1)) for lo, hi in map(value_range, BASE_VALUES))

_INDEX = {name: i for i, name in enumerate(RESOURCES)} | {name + "s": i for i, name in enumerate(RESOURCES)}
_DIGITS = frozenset("0123456789")
_SEPARATORS = ("->", "→", " for ")
_PREFIXES = ("i give ", "i offer ")

ACCEPT, DENY, OFFER, TALK = "accept", "deny", "offer", "talk"

Items = tuple[int, ...]
"""A quantity per resource, in :data:`RESOURCES` order."""
_Parsed = tuple[str, str, Items | None, Items | None]  # canonical move, kind, give, get


def format_items(items: Sequence[int]) -> str:
    """``"2 wheat, 1 ore"``: the non-zero quantities in resource order."""
    return ", ".join(f"{n} {RESOURCES[i]}" for i, n in enumerate(items) if n)


def format_offer(give: Sequence[int], get: Sequence[int]) -> str:
    """The canonical offer move.

    >>> format_offer((2, 0, 0, 0, 0), (0, 0, 0, 0, 1))
    'offer: 2 wheat -> 1 ore'
    """
    return f"offer: {format_items(give)} -> {format_items(get)}"


def items_dict(items: Sequence[int]) -> dict[str, int]:
    return {RESOURCES[i]: n for i, n in enumerate(items) if n}


def _parse_side(text: str) -> Items | None:
    quantities = [0] * _N
    found = False
    for item in text.replace(" and ", ",").split(","):
        words = item.split()
        if not words:
            continue  # "1 wood, and 1 ore" leaves an empty item
        if len(words) != 2:
            return None
        qty, name = words
        index = _INDEX.get(name)
        if index is None or len(qty) > _MAX_DIGITS or not _DIGITS.issuperset(qty) or int(qty) == 0:
            return None
        quantities[index] += int(qty)
        found = True
    return tuple(quantities) if found else None


def parse_offer(body: str) -> tuple[Items, Items] | None:
    """``(give, get)`` of an offer's text after the ``offer`` keyword, or ``None``.

    Checks the form only (items, quantities, no resource on both sides), not who holds what.

    >>> parse_offer("I give 2 Wheat and 1 woods for 1 ore.")
    ((2, 1, 0, 0, 0), (0, 0, 0, 0, 1))
    """
    body = " ".join(body.lower().split()).rstrip(".! ")
    for prefix in _PREFIXES:
        if body.startswith(prefix):
            body = body[len(prefix) :]
            break
    for separator in _SEPARATORS:
        if separator in body:
            sides = body.split(separator)
            break
    else:
        return None
    if len(sides) != 2:
        return None
    give, get = _parse_side(sides[0]), _parse_side(sides[1])
    if give is None or get is None or any(a and b for a, b in zip(give, get, strict=True)):
        return None
    return give, get


@functools.cache
def _range_regex(high: int) -> str:
    """A regex of the decimal numbers 1..``high`` (``high`` >= 1), without leading zeros.

    >>> _range_regex(7), _range_regex(23)
    ('[1-7]', '([1-9]|1[0-9]|2[0-3])')
    """
    if high < 10:
        return f"[1-{high}]"
    if high >= 100:  # never in this game (two players hold at most 50 of a resource), but stay exact
        return "(" + "|".join(str(n) for n in range(high, 0, -1)) + ")"
    tens, units = divmod(high, 10)
    parts = ["[1-9]"]
    if tens > 1:
        parts.append("1[0-9]" if tens == 2 else f"[1-{tens - 1}][0-9]")
    parts.append(f"{tens}[0-{units}]")
    return "(" + "|".join(parts) + ")"


@functools.lru_cache(maxsize=4096)  # a player's holdings change only with a trade: turns repeat them
def move_grammar(held: tuple[int, ...], reserved: str, *, accept: bool, deny: bool) -> str:
    """Lark rules (rule ``move``) of the canonical moves of a player holding ``held`` (quantities in
    resource order).

    * ``offer: <give> -> <get>``: each side lists resources in resource order, no resource on
      both sides, quantities without leading zeros; the give side only resources the player
      holds, at most as many as it holds; the get side 1 to 999999 of each.
    * ``talk: <message>``: words of printable characters outside ``reserved``, single spaces.
    * ``accept`` and ``deny`` where allowed.

    Every string of it is read by :meth:`SimpleNegotiationState.parse_move` as itself (a talk
    message longer than :data:`MAX_TALK` characters is kept cut). Which resources a side lists
    is a choice among 3**5 splits, so offers are spelled out per give set, as alternatives.
    """
    kinds = _kinds(reserved, any(n > 0 for n in held), accept, deny)
    return f"move: {kinds}\n{_terminals(held)}{_offer_rule(tuple(i for i in range(_N) if held[i] > 0))}"


_GET_TERMINALS = tuple(f"get_{name}: /[1-9][0-9]{{0,5}}/ {lark_literal(' ' + name)}\n" for name in RESOURCES)
_NAMES = tuple(lark_literal(" " + name) for name in RESOURCES)


@functools.lru_cache(maxsize=4096)
def _terminals(held: tuple[int, ...]) -> str:
    """The quantity terminals: for every resource its get side, and its give side (1 to what is held) if held."""
    return "".join(
        f"{get}give_{RESOURCES[i]}: /{_range_regex(n)}/ {_NAMES[i]}\n" if n > 0 else get
        for i, (get, n) in enumerate(zip(_GET_TERMINALS, held, strict=True))
    )


@functools.cache
def _kinds(reserved: str, can_offer: bool, accept: bool, deny: bool) -> str:
    kinds = [f'"talk: " /{text_regex(reserved)}/']
    if can_offer:
        kinds.append('"offer: " offer')
    kinds += [lark_literal(word) for word, allowed in ((ACCEPT, accept), (DENY, deny)) if allowed]
    return " | ".join(kinds)


@functools.cache
def _offer_rule(owned: tuple[int, ...]) -> str:
    """The ``offer`` rule of a player holding the resources ``owned`` (indices): the same whatever the
    quantities held, so built once per set (the give-side terminals hold the quantities)."""
    offers = []
    for mask in range(1, 2 ** len(owned)):
        give = [owned[k] for k in range(len(owned)) if mask >> k & 1]
        rest = [i for i in range(_N) if i not in give]
        give_text = ' ", " '.join(f"give_{RESOURCES[i]}" for i in give)
        # The get side: a non-empty subsequence of ``rest``, written as "its first item, then any of the later ones".
        gets = []
        for k, first in enumerate(rest):
            later = "".join(f' (", " get_{RESOURCES[j]})?' for j in rest[k + 1 :])
            gets.append(f"get_{RESOURCES[first]}{later}")
        offers.append(f'{give_text} " -> " ({" | ".join(gets)})')
    return "offer: " + "\n    | ".join(offers) + "\n" if offers else ""


class SimpleNegotiationState(State):
    __slots__ = (
        "_dealt",
        "_history",
        "_initial",
        "_max_turns",
        "_offer",
        "_player",
        "_qty",
        "_trades",
        "_val",
        "_value",
    )

    def __init__(self, max_turns: int) -> None:
        self._max_turns = max_turns
        self._dealt = 0  # chance outcomes applied so far
        self._qty = [[0] * _N, [0] * _N]
        self._val = [[0] * _N, [0] * _N]
        self._initial = [0, 0]
        self._value = [0, 0]
        self._offer: tuple[int, Items, Items] | None = None  # (proposer, give, get)
        self._history: list[tuple[int, str]] = []  # (player, canonical move)
        self._trades = 0
        self._player = CHANCE

    # --- rules ---------------------------------------------------------------------------------
    def current_player(self) -> int:
        return self._player

    def chance_outcomes(self) -> list[tuple[str, float]]:
        if self._player != CHANCE:
            return super().chance_outcomes()
        node = self._dealt
        return _VALUE_OUTCOMES[(node % (2 * _N)) // 2] if node % 2 else _QUANTITY_OUTCOMES

    def legal_actions(self) -> list[str]:
        return []  # offers and messages cannot be listed; see parse_move

    def move_grammar(self, reserved: str) -> str:
        """The canonical moves legal here, as Lark rules (see :func:`move_grammar`)."""
        player = self._player
        pending = self._offer
        answerable = pending is not None and pending[0] != player
        return move_grammar(
            tuple(self._qty[player]), reserved, deny=answerable, accept=answerable and self._affords(player, pending[2])
        )

    def parse_move(self, text: str) -> str | None:
        parsed = self._parse(text)
        return None if parsed is None else parsed[0]

    def _affords(self, player: int, items: Items) -> bool:
        held = self._qty[player]
        return all(h >= n for h, n in zip(held, items, strict=True))

    def _parse(self, text: str) -> _Parsed | None:
        player = self._player
        if player < 0:
            return None
        text = " ".join(text.split())
        head = text[:5].lower()
        if head[:4] == TALK:
            rest = text[4:]
            if rest[:1] == ":":
                rest = rest[1:]
            elif rest[:1] != " ":
                return None  # "talkative" is not a talk move
            message = rest.strip()[:MAX_TALK].rstrip()
            return (f"talk: {message}", TALK, None, None) if message else None
        if head == OFFER:
            rest = text[5:]
            if rest[:1] not in (":", " "):
                return None
            offer = parse_offer(rest[1:])
            if offer is None or not self._affords(player, offer[0]):
                return None
            return format_offer(*offer), OFFER, offer[0], offer[1]
        word = text.lower().rstrip(".! ")
        if word in (ACCEPT, DENY):
            pending = self._offer
            if pending is None or pending[0] == player:
                return None
            if word == ACCEPT and not self._affords(player, pending[2]):
                return None
            return word, word, None, None
        return None

    def apply(self, move: str) -> None:
        if self._player == CHANCE:
            self._deal(move)
            return
        parsed = self._parse(move)
        if parsed is None or parsed[0] != move:
            raise ValueError(f"{move!r} is not a legal canonical move for player {self._player} in {self}")
        player = self._player
        kind = parsed[1]
        if kind == ACCEPT:
            self._execute(player)
        self._offer = (player, parsed[2], parsed[3]) if kind == OFFER else None
        self._history.append((player, move))
        self._player = TERMINAL if len(self._history) >= self._max_turns else 1 - player

    def _deal(self, outcome: str) -> None:
        node = self._dealt
        player, rest = divmod(node, 2 * _N)
        resource, is_value = divmod(rest, 2)
        (self._val if is_value else self._qty)[player][resource] = int(outcome)
        self._dealt = node + 1
        if self._dealt == _DEAL_NODES:
            for p in (0, 1):
                value = sum(q * v for q, v in zip(self._qty[p], self._val[p], strict=True))
                self._initial[p] = self._value[p] = value
            self._player = 0 if self._max_turns > 0 else TERMINAL

    def _execute(self, acceptor: int) -> None:
        proposer, give, get = self._offer
        a, p = self._qty[acceptor], self._qty[proposer]
        av, pv = self._val[acceptor], self._val[proposer]
        for i in range(_N):
            delta = give[i] - get[i]  # what moves from proposer to acceptor
            if delta:
                a[i] += delta
                p[i] -= delta
                self._value[acceptor] += delta * av[i]
                self._value[proposer] -= delta * pv[i]
        self._trades += 1

    def is_terminal(self) -> bool:
        return self._player == TERMINAL

    def value_changes(self) -> tuple[int, int]:
        return self._value[0] - self._initial[0], self._value[1] - self._initial[1]

    def returns(self) -> list[float]:
        if self._player != TERMINAL:
            return [0.0, 0.0]
        c0, c1 = self.value_changes()
        sign = (c0 > c1) - (c0 < c1)
        return [float(sign), float(-sign)]

    def metrics(self, player: int) -> dict[str, float]:
        changes = self.value_changes()
        return {
            "value_change": float(changes[player]),
            "opponent_value_change": float(changes[1 - player]),
            "trades": float(self._trades),
        }

    # --- views ---------------------------------------------------------------------------------
    def observation(self, player: int) -> dict[str, Any]:
        offer = self._offer
        turn = len(self._history)
        return {
            "player": player,
            "inventory": dict(zip(RESOURCES, self._qty[player], strict=True)),
            "values": dict(zip(RESOURCES, self._val[player], strict=True)),
            "initial_value": self._initial[player],
            "value": self._value[player],
            "value_change": self._value[player] - self._initial[player],
            "pending_offer": None
            if offer is None
            else {"from": offer[0], "give": items_dict(offer[1]), "get": items_dict(offer[2])},
            "history": [{"player": p, "move": m} for p, m in self._history],
            "trades": self._trades,
            "turn": turn,
            "max_turns": self._max_turns,
            "turns_left": self._max_turns - turn,
            "to_act": self._player == player,
        }

    def information_state(self, player: int) -> str:
        # The current inventory and the public moves determine the initial one, the pending
        # offer and the trades; talk messages hold no newline, so lines cannot run together.
        own = ",".join(map(str, self._qty[player])) + "|" + ",".join(map(str, self._val[player]))
        return "\n".join([f"p{player}|{own}", *(f"{p}:{m}" for p, m in self._history)])

    def clone(self) -> SimpleNegotiationState:
        other = SimpleNegotiationState.__new__(SimpleNegotiationState)
        other._max_turns = self._max_turns
        other._dealt = self._dealt
        other._qty = [self._qty[0][:], self._qty[1][:]]
        other._val = [self._val[0][:], self._val[1][:]]
        other._initial = self._initial[:]
        other._value = self._value[:]
        other._offer = self._offer
        other._history = self._history[:]
        other._trades = self._trades
        other._player = self._player
        return other

    def __str__(self) -> str:
        lines = [f"turn {len(self._history)}/{self._max_turns}, to move: {self._player}, trades: {self._trades}"]
        for p in (0, 1):
            held = " ".join(f"{r}={q}@{v}" for r, q, v in zip(RESOURCES, self._qty[p], self._val[p], strict=True))
            change = self._value[p] - self._initial[p]
            lines.append(f"player {p}: {held} value={self._value[p]} ({change:+d})")
        if self._offer is not None:
            proposer, give, get = self._offer
            lines.append(f"pending from player {proposer}: {format_offer(give, get)}")
        return "\n".join(lines)


class SimpleNegotiation(Game):
    """Simple Negotiation: trade five resources with private values; the bigger value gain wins."""

    name = "simple_negotiation"
    num_players = 2
    zero_sum = True
    finite_actions = False

    def __init__(self, max_turns: int = 10) -> None:
        if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
            raise ValueError(
                f"max_turns must be a positive integer (moves of both players together), got {max_turns!r}; "
                "the SPIRAL setting is 10"
            )
        self.max_turns = max_turns

    def new_initial_state(self) -> SimpleNegotiationState:
        return SimpleNegotiationState(self.max_turns)

    @property
    def max_game_length(self) -> int:
        return self.max_turns

    def random_move(self, observation: dict[str, Any], rng: random.Random) -> str:
        """A uniformly random kind of legal move: an offer, a talk message, or (facing an offer)
        accept (when affordable) or deny."""
        inventory: dict[str, int] = observation["inventory"]
        pending = observation["pending_offer"]
        held = [r for r in RESOURCES if inventory[r] > 0]
        kinds = [OFFER, TALK] if held else [TALK]
        if pending is not None and pending["from"] != observation["player"]:
            kinds.append(DENY)
            if all(inventory[r] >= n for r, n in pending["get"].items()):
                kinds.append(ACCEPT)
        kind = rng.choice(kinds)
        if kind == TALK:
            return f"talk: {rng.choice(_TALK).format(rng.choice(RESOURCES))}"
        if kind != OFFER:
            return kind
        give = [0] * _N
        for r in rng.sample(held, min(len(held), rng.randint(1, 2))):
            give[_INDEX[r]] = rng.randint(1, min(3, inventory[r]))
        others = [i for i in range(_N) if not give[i]]
        get = [0] * _N
        for i in rng.sample(others, min(len(others), rng.randint(1, 2))):
            get[i] = rng.randint(1, 3)
        return format_offer(give, get)


_TALK = (
    "hello",
    "let us trade",
    "I need {}",
    "I have plenty of {}",
    "what would you give me for my {}?",
    "that is my best offer",
)
