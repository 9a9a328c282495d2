"""Kuhn Poker opponents: the Nash equilibrium family and two pure strategies.

The Nash family (Kuhn 1950) has one parameter ``alpha`` in [0, 1/3], the first
player's bluffing frequency with the Jack; every member gives the first player
-1/18 chip per hand. The first player bets J with ``alpha``, never bets Q,
bets K with ``3 * alpha``, and after check-bet calls with Q with
``alpha + 1/3``. The second player calls a bet with K, with Q one time in
three, never with J; after a check it bets K, and bluffs with J one time in
three. In a match the role is the seat that acts first in the current hand.
"""

from __future__ import annotations

from typing import Any

from gym_reason.core import AnswerFormat
from gym_reason.envs.games.bots import ScriptedAgent


def _situation(view: dict[str, Any]) -> str:
    """``open``, ``after_check`` or ``facing_bet`` for the player to act."""
    moves = view["moves"]
    if not moves:
        return "open"
    return "facing_bet" if moves[-1] == "bet" else "after_check"


class KuhnNash(ScriptedAgent):
    name = "fixed:nash"

    def __init__(self, answer_format: str | AnswerFormat = "bracket", seed: int | None = None, alpha: float = 0.0):
        super().__init__(answer_format, seed)
        if not isinstance(alpha, int | float) or not 0 <= alpha <= 1 / 3:
            raise ValueError(f"alpha must be in [0, 1/3], got {alpha!r}")
        self.alpha = float(alpha)

    def bet_probability(self, card: str, first: bool, situation: str) -> float:
        """Probability of bet/call (the aggressive move) in this situation."""
        a = self.alpha
        if first:
            if situation == "open":
                return {"J": a, "Q": 0.0, "K": 3 * a}[card]
            return {"J": 0.0, "Q": a + 1 / 3, "K": 1.0}[card]  # facing a bet after checking
        if situation == "facing_bet":
            return {"J": 0.0, "Q": 1 / 3, "K": 1.0}[card]
        return {"J": 1 / 3, "Q": 0.0, "K": 1.0}[card]  # after a check

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        situation = _situation(view)
        p = self.bet_probability(view["card"], view["first_to_act"], situation)
        if situation == "facing_bet":
            return {"call": p, "fold": 1 - p}
        return {"bet": p, "check": 1 - p}


class KuhnAlwaysBet(ScriptedAgent):
    name = "fixed:always_bet"

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        return {"call": 1.0} if _situation(view) == "facing_bet" else {"bet": 1.0}


class KuhnAlwaysCheck(ScriptedAgent):
    name = "fixed:always_check"

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        return {"fold": 1.0} if _situation(view) == "facing_bet" else {"check": 1.0}
