"""How Leduc Hold'em reads to a model."""

from __future__ import annotations

from typing import Any

from gym_reason.envs.games.leduc_holdem.rules import LeducHoldem

_CARD_NAMES = {"J": "Jack (J, the lowest)", "Q": "Queen (Q, the middle rank)", "K": "King (K, the highest)"}


class LeducHoldemTemplate:
    def rules(self, game: LeducHoldem, player: int) -> str:
        return (
            f"You are Player {player} in Leduc Hold'em.\n"
            "Rules: the deck has six cards, two each of J < Q < K. Each player antes 1 chip and gets one "
            "private card. There are two betting rounds; Player 0 acts first in both. With no bet to match "
            "you may 'check' or 'raise'; facing a bet you may 'fold' (lose what you put in), 'call' (match "
            "it) or 'raise' (match it and bet more). A raise adds 2 chips in round 1 and 4 chips in round 2, "
            "and a round allows at most 2 raises. A round ends when both players check or a bet is called. "
            "After round 1 one public card is dealt face up. At the showdown a private card that pairs the "
            "public card wins; otherwise the higher private card wins, and equal ranks split the pot.\n"
        )

    def state(self, view: dict[str, Any]) -> str:
        card = view["card"]
        lines = [f"Your card: {_CARD_NAMES[card]}." if card else "The cards are being dealt."]
        public = view["public_card"]
        lines.append(f"Public card: {public}." if public else "Public card: not dealt yet (it comes after round 1).")
        for number, moves in enumerate(view["moves"], 1):
            if number <= view["round"]:
                lines.append(f"Round {number} moves (Player 0 first): {', '.join(moves) if moves else 'none yet'}.")
        lines.append(
            f"Pot: {view['pot']} chips (you put in {view['chips_in']}, your opponent {view['opponent_chips_in']})."
        )
        if view["to_act"]:
            to_call = view["to_call"]
            owe = f"you must put in {to_call} chip(s) to call" if to_call else "there is no bet for you to match"
            lines.append(
                f"Round {view['round']}: {owe}; a raise adds {view['raise_size']} chips "
                f"({view['raises_left']} raise(s) left this round)."
            )
        if view["finished"]:
            showdown = view["showdown"]
            if showdown:
                lines.append(f"Showdown: Player 0 had {showdown[0]}, Player 1 had {showdown[1]}.")
            result = view["result"]
            if result:
                lines.append(f"You {'won' if result > 0 else 'lost'} {abs(result):g} chip(s).")
            else:
                lines.append("Equal ranks: the pot was split.")
        return "\n".join(lines)
