"""Leduc Hold'em opponents: two pure styles and a hand-strength heuristic.

* ``always_call``: checks with no bet to match, calls every bet; never raises or folds.
* ``always_raise``: raises whenever a raise is allowed, calls otherwise; never folds.
* ``heuristic`` (the reference opponent): plays its hand strength, deterministically.
  Round 1: raise with a King, check or call with a Queen or a Jack. Round 2: raise with
  a pair (private card = public rank) or a King; check or call with a Queen; check with
  a Jack and fold it facing a bet. "Raise" means call once the round's two raises are
  made. It never bluffs, so it is exploitable (see ``tests/eval/test_exploitability_leduc.py``),
  but it beats the pure styles and random play.
"""

from __future__ import annotations

from typing import Any

from gym_reason.envs.games.bots import ScriptedAgent


def _passive(legal: list[str]) -> str:
    """``check`` or ``call``: whichever keeps the hand going at no extra risk."""
    return "check" if "check" in legal else "call"


class LeducAlwaysCall(ScriptedAgent):
    name = "fixed:always_call"

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        return {_passive(legal): 1.0}


class LeducAlwaysRaise(ScriptedAgent):
    name = "fixed:always_raise"

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        return {"raise" if "raise" in legal else _passive(legal): 1.0}


class LeducHeuristic(ScriptedAgent):
    name = "fixed:heuristic"

    def move(self, view: dict[str, Any], legal: list[str]) -> str:
        """The one move this agent makes in ``view``."""
        card, public = view["card"], view["public_card"]
        strong = card == "K" if public is None else card in ("K", public)
        if strong:
            return "raise" if "raise" in legal else _passive(legal)
        if public is not None and card == "J" and "fold" in legal:
            return "fold"
        return _passive(legal)

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        return {self.move(view, legal): 1.0}
