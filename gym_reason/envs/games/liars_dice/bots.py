"""Liar's Dice bots: a probability heuristic and two pure styles.

* ``heuristic`` (the reference bot) judges each move by its own dice alone, treating the
  opponent's dice as unseen fair rolls: a bid ``QxF`` is true with probability
  P(at least Q - own matches among the opponent's dice), each die matching with
  probability 2/sides (the face or the wild top face; 1/sides for a bid on the top
  face). Calling liar wins with 1 - P(last bid true); bidding ``b`` is scored by
  P(b true), the chance of surviving a call. It makes the best-scored move, the lowest
  such bid on a tie, and calls liar only when that is strictly better than every bid.
  It ignores what the opponent's bids reveal and never bluffs, so it is exploitable,
  but it beats random play.
* ``lowest_bid`` raises by the smallest step every time and calls liar only when no bid is left.
* ``always_liar`` opens with the lowest bid and calls liar whenever it may.
"""

from __future__ import annotations

from typing import Any

from gym_reason.envs.games.bots import ScriptedAgent
from gym_reason.envs.games.liars_dice.rules import LIAR, count_matching, probability_at_least


def bid_probability(bid: str, view: dict[str, Any]) -> float:
    """P(``bid`` is true) from the viewer's dice, the opponent's dice unseen and fair.

    >>> view = {"dice": (4,), "num_dice": 1, "dice_sides": 6}
    >>> bid_probability("1x4", view), round(bid_probability("1x3", view), 4), bid_probability("2x3", view)
    (1.0, 0.3333, 0.0)
    """
    quantity, face = (int(x) for x in bid.split("x"))
    sides = view["dice_sides"]
    own = count_matching(view["dice"], face, sides)
    p = (1 if face == sides else 2) / sides
    return probability_at_least(quantity - own, view["num_dice"], p)


class LiarsDiceHeuristic(ScriptedAgent):
    name = "fixed:heuristic"

    def move(self, view: dict[str, Any], legal: list[str]) -> str:
        """The one move this bot makes in ``view``."""
        bids = [m for m in legal if m != LIAR]
        best_bid, best_score = None, -1.0
        for bid in bids:  # in increasing order: the first of the best is the lowest
            score = bid_probability(bid, view)
            if score > best_score:
                best_bid, best_score = bid, score
        if LIAR in legal and (best_bid is None or 1 - bid_probability(view["bids"][-1], view) > best_score):
            return LIAR
        return best_bid

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        return {self.move(view, legal): 1.0}


class LiarsDiceLowestBid(ScriptedAgent):
    name = "fixed:lowest_bid"

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        return {legal[0]: 1.0}  # the lowest bid (bids come first), or liar when it is the only move


class LiarsDiceAlwaysLiar(ScriptedAgent):
    name = "fixed:always_liar"

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        return {LIAR: 1.0} if LIAR in legal else {legal[0]: 1.0}
