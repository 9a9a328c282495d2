"""How Simple Negotiation reads to a model."""

from __future__ import annotations

from typing import Any

from gym_reason.core import to_charset
from gym_reason.envs.games.simple_negotiation.rules import BASE_VALUES, RESOURCES, SimpleNegotiation, value_range


def _items(items: dict[str, int]) -> str:
    return ", ".join(f"{n} {r.capitalize()}" for r, n in items.items())


def _offer_sides(move: str) -> tuple[str, str]:
    """The give and get sides of a canonical offer, as they read in text."""
    give, get = move[len("offer: ") :].split(" -> ")
    return give.title(), get.title()


class SimpleNegotiationTemplate:
    def rules(self, game: SimpleNegotiation, player: int) -> str:
        bases = ", ".join(
            f"{r.capitalize()} {b} ({lo}-{hi})"
            for r, b, (lo, hi) in zip(RESOURCES, BASE_VALUES, map(value_range, BASE_VALUES), strict=True)
        )
        own = (game.max_turns + 1 - player) // 2
        return (
            f"You are Player {player} in Simple Negotiation against Player {1 - player}.\n"
            "Both players hold Wheat, Wood, Sheep, Brick and Ore. Each player has its own private value "
            f"per unit of each resource, near these base values (range in brackets): {bases}. "
            "Neither player sees the other's quantities or values.\n"
            f"The game lasts {game.max_turns} moves in total; Player 0 moves first and the players "
            f"alternate, so you make {own} moves. Each move is exactly one of:\n"
            "  offer: 2 wheat -> 1 ore    propose to give the items left of '->' for those on its right "
            "(several items: offer: 3 sheep, 1 wood -> 2 brick); you must hold what you give, and a "
            "resource may not appear on both sides\n"
            "  accept    take the other player's pending offer; the trade happens at once "
            "(you must hold what it asks for)\n"
            "  deny    reject the other player's pending offer\n"
            "  talk: hello    send a message to the other player\n"
            "An offer is pending only until the other player's next move: any move but accept rejects it.\n"
            "Goal: when the game ends, the player whose inventory value (quantity times its own values) "
            "grew more wins; equal growth is a draw.\n"
        )

    def state(self, view: dict[str, Any]) -> str:
        player = view["player"]
        lines = ["Your resources (quantity x your value per unit = total):"]
        for r in RESOURCES:
            q, v = view["inventory"][r], view["values"][r]
            lines.append(f"  {r.capitalize():<6} {q:>3} x {v:>2} = {q * v:>4}")
        lines.append(
            f"  Total value: {view['value']} (at the start {view['initial_value']}, change {view['value_change']:+d})."
        )

        history = view["history"]
        if history:
            lines.append("Moves so far:")
            pending: tuple[int, str] | None = None  # (proposer, offer) that the next move answers
            for n, entry in enumerate(history, 1):
                who, move = entry["player"], entry["move"]
                name = "You" if who == player else f"Player {who}"
                if move.startswith("talk: "):
                    text = f'{name} said: "{to_charset(move[6:])}"'
                elif move.startswith("offer: "):
                    give, get = _offer_sides(move)
                    text = f"{name} offered {give} in exchange for {get}"
                elif move == "accept":
                    proposer, offer_move = pending
                    give, get = _offer_sides(offer_move)
                    by = "you" if proposer == player else f"Player {proposer}"
                    text = f"{name} accepted; the trade was made: {by} gave {give} and got {get}"
                else:
                    text = f"{name} denied the offer"
                if pending is not None and move not in ("accept", "deny"):
                    text += " (rejecting the pending offer)"
                lines.append(f"  {n}. {text}.")
                pending = (who, move) if move.startswith("offer: ") else None

        offer = view["pending_offer"]
        if offer is None:
            lines.append("No offer is pending.")
        elif offer["from"] == player:
            lines.append(f"Your offer is pending: you give {_items(offer['give'])} and receive {_items(offer['get'])}.")
        else:
            lines.append(
                f"Pending offer from Player {offer['from']}: you would receive {_items(offer['give'])} "
                f"and give {_items(offer['get'])}. Answer accept, or any other move rejects it."
            )

        left, turn = view["turns_left"], view["turn"]
        if left == 0:
            lines.append(f"The game is over after {turn} moves.")
        else:
            yours = sum(1 for k in range(turn, view["max_turns"]) if k % 2 == player)
            lines.append(f"Move {turn + 1} of {view['max_turns']}: {left} moves left, {yours} of them yours.")
        return "\n".join(lines)
