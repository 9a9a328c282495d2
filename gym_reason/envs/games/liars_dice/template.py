"""How Liar's Dice reads to a model."""

from __future__ import annotations

from typing import Any

from gym_reason.envs.games.liars_dice.rules import LiarsDice


def _dice(dice: tuple[int, ...]) -> str:
    return " and ".join(map(str, dice)) if dice else "not rolled yet"


class LiarsDiceTemplate:
    def rules(self, game: LiarsDice, player: int) -> str:
        n, sides = game.num_dice, game.dice_sides
        total = 2 * n
        dice = "one die" if n == 1 else f"{n} dice"
        example = min(5, sides - 1)
        return (
            f"You are Player {player} in Liar's Dice against Player {1 - player}.\n"
            f"Rules: each player rolls {dice} with faces 1 to {sides} and sees only their own. "
            "Player 0 bids first, then the players take turns. A bid 'QxF' claims that at least Q of all "
            f"{total} dice (yours and your opponent's together) show face F; for example '2x{example}' means "
            f"'there are at least two {example}s'. Bids are ordered by quantity, then face "
            f"(1x1 < 1x2 < ... < 1x{sides} < 2x1 < ...), and each bid must be higher than the last one. "
            "Instead of bidding you may call 'liar' on the last bid. Then all dice are shown: "
            f"a {sides} is wild and counts as every face (a bid on {sides}s counts only the {sides}s). "
            "If the bid was true the player who called liar loses; if it was false the bidder loses. "
            "The winner scores +1, the loser -1.\n"
        )

    def state(self, view: dict[str, Any]) -> str:
        lines = [f"Your {'die' if view['num_dice'] == 1 else 'dice'}: {_dice(view['dice'])}."]
        bids = view["bids"]
        if bids:
            said = ", ".join(f"Player {i % 2} bid {bid}" for i, bid in enumerate(bids))
            lines.append(f"Bids so far: {said}.")
        else:
            lines.append("No bids yet.")
        if view["finished"]:
            last = bids[-1]
            all_dice = view["all_dice"]
            lines.append(
                f"Player {view['liar_called_by']} called liar on {last}. Player 0 had {_dice(all_dice[0])}, "
                f"Player 1 had {_dice(all_dice[1])}. Dice counting for {last}: {view['count']}, so the bid was "
                f"{'true' if view['count'] >= int(last.split('x')[0]) else 'false'}."
            )
        elif view["to_act"]:
            lines.append(
                f"Make a higher bid than {bids[-1]} or call liar."
                if bids
                else "Make the first bid (liar is not allowed yet)."
            )
        return "\n".join(lines)
