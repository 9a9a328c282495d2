"""Text templates: how each game's rules and states read to a model.

A template knows one game's view dicts and nothing about parsing or rewards;
:class:`~gym_reason.envs.game_env.GameEnv` adds the legal moves, the answer
instruction and the result line.
"""

from __future__ import annotations

from typing import Any, Protocol

from gym_reason.envs.games.base import Game


class Template(Protocol):
    def rules(self, game: Game, player: int) -> str:
        """What does not change during a game: the rules and the player's seat."""
        ...

    def state(self, view: dict[str, Any]) -> str:
        """The player's current view (``State.observation``) as text."""
        ...
