"""How Kuhn Poker reads to a model."""

from __future__ import annotations

from typing import Any

from gym_reason.envs.games.kuhn_poker.rules import KuhnPoker

_CARD_NAMES = {"J": "Jack (J, the lowest)", "Q": "Queen (Q, the middle card)", "K": "King (K, the highest)"}


class KuhnPokerTemplate:
    def rules(self, game: KuhnPoker, player: int) -> str:
        match = (
            f"You play a match of {game.num_hands} hands; chips carry over and the player with more chips "
            "at the end wins the match. The first player alternates from hand to hand.\n"
            if game.num_hands > 1
            else ""
        )
        return (
            f"You are Player {player} in Kuhn Poker.\n"
            "Rules: the deck has three cards, J < Q < K. Each player antes 1 chip and gets one card; "
            "the third card is not used. Player 0 acts first. With no bet on the table you may "
            "'check' or 'bet' 1 chip. Facing a bet you may 'fold' (lose what you put in) or 'call' "
            "(match the bet). If both check, or a bet is called, the higher card wins the pot.\n" + match
        )

    def state(self, view: dict[str, Any]) -> str:
        lines = []
        if view["num_hands"] > 1:
            lines.append(f"Hand {view['hand']} of {view['num_hands']}. Your chips so far: {view['chips']:+d}.")
            for i, past in enumerate(view["finished_hands"], 1):
                shown = f"cards {past['cards'][0]} vs {past['cards'][1]}" if past["cards"] else "no showdown"
                lines.append(
                    f"  hand {i}: {' '.join(past['moves'])} ({shown}), Player {past['winner']} won {past['chips']}"
                )
        card = view["card"]
        lines.append(f"Your card: {_CARD_NAMES[card]}." if card else "The cards are being dealt.")
        seat = "first" if view["first_to_act"] else "second"
        moves = ", ".join(view["moves"]) if view["moves"] else "none yet"
        lines.append(f"You act {seat}. Moves this hand: {moves}. Pot: {view['pot']} chips.")
        if view["num_hands"] == 1 and view["finished_hands"]:
            past = view["finished_hands"][0]
            shown = (
                f"Showdown: Player 0 had {past['cards'][0]}, Player 1 had {past['cards'][1]}. " if past["cards"] else ""
            )
            lines.append(f"{shown}Player {past['winner']} won {past['chips']} chip(s).")
        return "\n".join(lines)
