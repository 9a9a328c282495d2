"""Fixed bots: scripted players of one game, declared in the game's register line.

A bot reads the structured view a game env gives every player
(``info["game_observation"]``, which is ``State.observation(player)``), states a
distribution over canonical moves (:meth:`ScriptedAgent.policy`), samples it with
its own seeded generator and writes the move in the env's answer format. Because
the distribution is explicit, exact analysis (expected values, exploitability)
reads it without sampling.

A game declares its bots where it is registered::

    GameEnv.factory(KuhnPoker, KuhnPokerTemplate, bots={"nash": KuhnNash, ...}, strongest_bot="nash")

which calls :func:`declare_bots`; agents then build them by name (``fixed:nash``,
see :func:`gym_reason.agents.make_agent`). Bots live here, below the agents
package, so that a game folder holds its rules, text and bots without importing
anything above the envs.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from gym_reason.core import GAME_OBSERVATION, LEGAL_ACTIONS, AnswerFormat

_BOT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

BotFactory = Callable[..., Any]
"""``factory(answer_format=..., seed=..., **params) -> agent``: a :class:`ScriptedAgent` subclass, usually."""

_BOTS: dict[str, dict[str, BotFactory]] = {}
_STRONGEST: dict[str, str] = {}


class ScriptedAgent:
    """A player that reads the structured view (``info["game_observation"]``) and picks a move.

    Subclasses implement :meth:`policy`, a distribution over canonical moves; the
    agent samples from it with its own seeded generator and writes the move in the
    env's answer format. :meth:`action_probabilities` reports the same distribution
    over the env's legal answers, for exact analysis.
    """

    name = "scripted"

    def __init__(self, answer_format: str | AnswerFormat = "bracket", seed: int | None = None) -> None:
        self.answer_format = AnswerFormat.named(answer_format)
        self.rng = random.Random(seed)

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        """Probability of each canonical move (the keys need not cover every legal move)."""
        raise NotImplementedError

    def legal_moves(self, info: dict[str, Any]) -> list[str]:
        wrapped = info.get(LEGAL_ACTIONS) or []
        return [m for m in (self.answer_format.extract(w) for w in wrapped) if m is not None]

    def act(self, batch: Sequence[tuple[str, dict[str, Any]]]) -> list[str]:
        """One answer per ``(observation, info)`` pair: a move sampled from :meth:`policy`, wrapped."""
        answers = []
        for _obs, info in batch:
            view = info.get(GAME_OBSERVATION)
            if view is None:
                raise ValueError(
                    f"{self.name} needs info[{GAME_OBSERVATION!r}] (the structured view that gym-reason game envs "
                    "provide); it cannot play this env"
                )
            probs = self.policy(view, self.legal_moves(info))
            answers.append(self.answer_format.wrap(_sample(probs, self.rng)))
        return answers

    def action_probabilities(self, batch: Sequence[tuple[str, dict[str, Any]]]) -> list[dict[str, float]]:
        """The probability of each legal answer (``info["legal_actions"]``), read off :meth:`policy`."""
        out = []
        for _obs, info in batch:
            wrapped = list(info.get(LEGAL_ACTIONS) or [])
            moves = [self.answer_format.extract(w) for w in wrapped]
            probs = self.policy(info[GAME_OBSERVATION], [m for m in moves if m is not None])
            weights = [probs.get(m, 0.0) if m is not None else 0.0 for m in moves]
            total = sum(weights)
            if total <= 0:
                raise ValueError(f"{self.name} gives no probability to any legal move {wrapped}")
            out.append({w: p / total for w, p in zip(wrapped, weights, strict=True)})
        return out


def _sample(probs: dict[str, float], rng: random.Random) -> str:
    items = list(probs.items())
    x = rng.random() * sum(p for _, p in items)
    for move, p in items:
        x -= p
        if x < 0:
            return move
    return next(m for m, p in reversed(items) if p > 0)


def declare_bots(game: str, bots: Mapping[str, BotFactory], *, strongest: str | None = None) -> None:
    """Make each ``bots[name]`` available as ``fixed:<name>`` for envs of ``game`` (a ``Game.name``).

    ``strongest`` names the game's reference bot, the one training evaluates against by
    default. Declaring the same bot again (a game registered under two ids) is allowed;
    giving a name that the game already has to another bot is an error.

    Raises:
        ValueError: for a bot name that is not snake_case, a factory that is not callable, a
            ``strongest`` that is not among ``bots``, or a name already taken by another bot.
    """
    if strongest is not None and strongest not in bots:
        raise ValueError(f"strongest bot {strongest!r} of {game!r} is not among its bots {sorted(bots)}")
    table = _BOTS.setdefault(game, {})
    for name, factory in bots.items():
        if not isinstance(name, str) or not _BOT_NAME.match(name):
            raise ValueError(
                f"bot name {name!r} of {game!r} must be snake_case (lower-case letters, digits, '_'), "
                "e.g. 'nash'; it is used as fixed:<name>"
            )
        if not callable(factory):
            raise ValueError(f"bot {name!r} of {game!r} must be a class or factory, got {factory!r}")
        if table.get(name, factory) is not factory:
            raise ValueError(
                f"{game!r} already has a bot named {name!r} ({table[name]!r}); give {factory!r} another name"
            )
    table.update(bots)
    if strongest is not None:
        if _STRONGEST.get(game, strongest) != strongest:
            raise ValueError(f"{game!r} already has the strongest bot {_STRONGEST[game]!r}; it cannot be {strongest!r}")
        _STRONGEST[game] = strongest


def game_bots(game: str) -> dict[str, BotFactory]:
    """``{name: factory}`` of the bots declared for ``game`` (a copy)."""
    return dict(_BOTS.get(game, {}))


def strongest_bot(game: str) -> str | None:
    """The name of ``game``'s reference bot, if it declared one."""
    return _STRONGEST.get(game)
