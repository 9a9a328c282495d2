"""Liar's Dice: rules (``rules.py``), text (``template.py``) and fixed bots (``bots.py``), registered here."""

from gym_reason.envs.game_env import GameEnv
from gym_reason.envs.games.liars_dice.bots import LiarsDiceAlwaysLiar, LiarsDiceHeuristic, LiarsDiceLowestBid
from gym_reason.envs.games.liars_dice.rules import LiarsDice
from gym_reason.envs.games.liars_dice.template import LiarsDiceTemplate
from gym_reason.registry import register

register(
    id="gym_reason/LiarsDice-v0",
    entry_point=GameEnv.factory(
        LiarsDice,
        LiarsDiceTemplate,
        bots={"heuristic": LiarsDiceHeuristic, "lowest_bid": LiarsDiceLowestBid, "always_liar": LiarsDiceAlwaysLiar},
        strongest_bot="heuristic",
    ),
    alias="liars_dice",
    description="Liar's Dice: one die each (num_dice), bid or call liar, sixes wild (OpenSpiel's liars_dice)",
)
