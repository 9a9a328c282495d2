"""Kuhn Poker: rules (``rules.py``), text (``template.py``) and fixed bots (``bots.py``), registered here."""

from gym_reason.envs.game_env import GameEnv
from gym_reason.envs.games.kuhn_poker.bots import KuhnAlwaysBet, KuhnAlwaysCheck, KuhnNash
from gym_reason.envs.games.kuhn_poker.rules import KuhnPoker
from gym_reason.envs.games.kuhn_poker.template import KuhnPokerTemplate
from gym_reason.registry import register

register(
    id="gym_reason/KuhnPoker-v0",
    entry_point=GameEnv.factory(
        KuhnPoker,
        KuhnPokerTemplate,
        bots={"nash": KuhnNash, "always_bet": KuhnAlwaysBet, "always_check": KuhnAlwaysCheck},
        strongest_bot="nash",
    ),
    alias="kuhn_poker",
    description="Kuhn Poker (J/Q/K, ante 1, bets of 1); one hand or a match of num_hands",
)
