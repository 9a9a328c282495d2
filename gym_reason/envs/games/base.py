"""The rules contract: a game is pure rules, in the style of OpenSpiel.

A :class:`Game` makes :class:`State` objects. A state knows whose turn it is,
which moves are legal, how a move changes it, when it is over and what each
player gets. Chance (dealing cards, rolling dice) is an explicit node:
``current_player() == CHANCE`` and ``chance_outcomes()`` lists the outcomes with
their probabilities, so exact analysis can enumerate them while
:mod:`gym_reason.envs.game_env` samples them with the env's own generator.

Moves are short canonical strings (``"bet"``, ``"4"``, ``"offer: 2 wheat -> 1 ore"``).
A game knows nothing about prompts or answer markers; its text lives in a
:class:`Template` and :class:`~gym_reason.envs.game_env.GameEnv` joins the two.
Each built-in game is one folder, ``gym_reason/envs/games/<game>/``: ``rules.py``,
``template.py``, ``bots.py`` (its fixed players, :mod:`gym_reason.envs.games.bots`)
and the ``register(...)`` line in its ``__init__.py``.
"""

from __future__ import annotations

import abc
import random
from collections.abc import Hashable
from typing import Any, ClassVar, Protocol

from gym_reason.core import normalize_move

CHANCE = -1
"""``current_player()`` of a chance node."""
TERMINAL = -4
"""``current_player()`` of a finished game (OpenSpiel's value)."""


class State(abc.ABC):
    """One position of a game. Mutable: ``apply`` changes it in place."""

    __slots__ = ()

    @abc.abstractmethod
    def current_player(self) -> int:
        """The player to move, :data:`CHANCE` or :data:`TERMINAL`."""

    @abc.abstractmethod
    def legal_actions(self) -> list[str]:
        """The legal moves of the player to move, in a fixed order.

        Games whose moves cannot be listed (free-form offers) return the empty
        list and override :meth:`parse_move`; ``Game.finite_actions`` says which.
        """

    @abc.abstractmethod
    def apply(self, move: str) -> None:
        """Play a legal canonical move (or a chance outcome at a chance node)."""

    @abc.abstractmethod
    def is_terminal(self) -> bool: ...

    @abc.abstractmethod
    def returns(self) -> list[float]:
        """Each player's total payoff; all zero before the game ends."""

    @abc.abstractmethod
    def observation(self, player: int) -> dict[str, Any]:
        """What ``player`` may see, as JSON-able data."""

    @abc.abstractmethod
    def information_state(self, player: int) -> str:
        """A string that identifies everything ``player`` knows (the key of tabular policies)."""

    @abc.abstractmethod
    def clone(self) -> State: ...

    def observation_key(self, player: int) -> Hashable:
        """A key that determines ``observation(player)`` and ``information_state(player)``: equal keys
        must give equal views and equal information states.

        The env memoises rendered text and the state key on it. Defaults to :meth:`information_state`;
        override it when a view shows more than that string says (cards revealed at a showdown, say).
        """
        return self.information_state(player)

    def chance_outcomes(self) -> list[tuple[str, float]]:
        """``(outcome, probability)`` pairs at a chance node."""
        raise ValueError(f"{type(self).__name__} is not at a chance node (player {self.current_player()})")

    def parse_move(self, text: str) -> str | None:
        """The canonical legal move that ``text`` names, or ``None`` if it names none.

        The default matches against :meth:`legal_actions` ignoring case and spacing.
        """
        legal = self.legal_actions()
        if text in legal:
            return text
        wanted = normalize_move(text)
        return wanted if wanted in legal else None

    def move_grammar(self, reserved: str) -> str | None:
        """Lark rules whose rule ``move`` derives canonical moves legal here, each of which
        :meth:`parse_move` reads as itself; free text in them holds no character of ``reserved``
        (the answer markers'). Games whose moves cannot be listed override it (the env wraps it in
        its answer format: ``info[ACTION_GRAMMAR]``); ``None`` for listed moves, whose grammar is the list.
        """
        return None

    def role(self, player: int) -> str | None:
        """The role ``player`` plays in this game (``info["role"]``, the key of role-conditioned baselines),
        when the rules deal roles; ``None`` (the default) keeps the seat name. Fixed once the deal is done."""
        return None

    def metrics(self, player: int) -> dict[str, float]:
        """Facts about ``player``'s game worth logging that are not part of its return."""
        return {}


class Game(abc.ABC):
    """A family of states: the rules and their parameters."""

    name: ClassVar[str]
    """Short snake_case name (``kuhn_poker``); fixed opponents are registered under it."""
    num_players: ClassVar[int] = 2
    finite_actions: ClassVar[bool] = True
    """Whether ``legal_actions()`` lists every legal move."""
    zero_sum: ClassVar[bool] = False
    """Whether the returns of every finished game sum to zero (OpenSpiel's ``Utility.ZERO_SUM``)."""

    @property
    def exact_analysis(self) -> bool:
        """Whether the game tree is small enough to walk in full in seconds, so exact exploitability
        can run during training (see :mod:`gym_reason.eval.exploitability`). Kuhn Poker has 12
        information states, Leduc Hold'em 936, Liar's Dice with one die each 24,576."""
        return False

    @abc.abstractmethod
    def new_initial_state(self) -> State:
        """The start of a game, before any chance outcome."""

    @property
    @abc.abstractmethod
    def max_game_length(self) -> int:
        """An upper bound on the number of player moves in one game."""

    def random_move(self, observation: dict[str, Any], rng: random.Random) -> str:
        """A random well-formed move from a player's view, for games with unlistable moves."""
        raise NotImplementedError(f"{type(self).__name__} lists its legal moves; choose among those")


def resolve_chance(state: State, rng: random.Random) -> None:
    """Sample chance nodes with ``rng`` until a player is to move or the game is over."""
    while state.current_player() == CHANCE:
        outcomes = state.chance_outcomes()
        x = rng.random()
        chosen = outcomes[-1][0]  # if rounding leaves x >= 0 after the last subtraction
        for outcome, p in outcomes:
            x -= p
            if x < 0:
                chosen = outcome
                break
        state.apply(chosen)


class Template(Protocol):
    """How one game's rules and states read to a model.

    A template knows the game's view dicts and nothing about parsing or rewards;
    :class:`~gym_reason.envs.game_env.GameEnv` adds the legal moves, the answer
    instruction and the result line.
    """

    def rules(self, game: Game, player: int) -> str:
        """What does not change during a game: the rules and the player's seat."""
        ...

    def state(self, view: dict[str, Any]) -> str:
        """The player's current view (``State.observation``) as text."""
        ...
