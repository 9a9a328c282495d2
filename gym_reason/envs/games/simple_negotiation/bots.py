"""Simple Negotiation opponents: a greedy trader that never loses value.

``fixed:heuristic`` judges everything by its own private values. Facing an offer it
accepts only when the trade strictly raises its inventory value and it holds what
the offer asks for, and denies otherwise. With no offer pending it offers 1 unit
of the lowest-valued resource it holds for 1 unit of the highest-valued other
resource (ties go to the earlier resource in Wheat, Wood, Sheep, Brick, Ore
order), so every trade it makes raises its value; if no such trade exists it
talks. It is deterministic.
"""

from __future__ import annotations

from typing import Any

from gym_reason.envs.games.bots import ScriptedAgent
from gym_reason.envs.games.simple_negotiation.rules import RESOURCES


def offer_gain(view: dict[str, Any]) -> int:
    """What accepting the pending offer changes in the viewer's inventory value, by its own values."""
    offer, values = view["pending_offer"], view["values"]
    received = sum(values[r] * n for r, n in offer["give"].items())
    paid = sum(values[r] * n for r, n in offer["get"].items())
    return received - paid


class NegotiationHeuristic(ScriptedAgent):
    name = "fixed:heuristic"

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        return {self.move(view): 1.0}

    def move(self, view: dict[str, Any]) -> str:
        inventory, values = view["inventory"], view["values"]
        offer = view["pending_offer"]
        if offer is not None and offer["from"] != view["player"]:
            affordable = all(inventory[r] >= n for r, n in offer["get"].items())
            return "accept" if affordable and offer_gain(view) > 0 else "deny"
        held = [r for r in RESOURCES if inventory[r] > 0]
        if held:
            give = min(held, key=values.__getitem__)
            get = max((r for r in RESOURCES if r != give), key=values.__getitem__)
            if values[get] > values[give]:
                return f"offer: 1 {give} -> 1 {get}"
        return "talk: I have no trade to propose."
