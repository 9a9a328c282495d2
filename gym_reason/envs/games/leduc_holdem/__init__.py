"""Leduc Hold'em: rules (``rules.py``), text (``template.py``) and fixed bots (``bots.py``), registered here."""

from gym_reason.envs.game_env import GameEnv
from gym_reason.envs.games.leduc_holdem.bots import LeducAlwaysCall, LeducAlwaysRaise, LeducHeuristic
from gym_reason.envs.games.leduc_holdem.rules import LeducHoldem
from gym_reason.envs.games.leduc_holdem.template import LeducHoldemTemplate
from gym_reason.registry import register

register(
    id="gym_reason/LeducHoldem-v0",
    entry_point=GameEnv.factory(
        LeducHoldem,
        LeducHoldemTemplate,
        bots={"heuristic": LeducHeuristic, "always_call": LeducAlwaysCall, "always_raise": LeducAlwaysRaise},
        strongest_bot="heuristic",
    ),
    alias="leduc_holdem",
    description="Leduc Hold'em: two suits of J/Q/K, two betting rounds, a public card (OpenSpiel's leduc_poker)",
)
