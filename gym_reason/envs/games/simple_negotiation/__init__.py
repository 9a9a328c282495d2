"""Simple Negotiation: rules (``rules.py``), text (``template.py``) and a fixed bot (``bots.py``), registered here."""

from gym_reason.envs.game_env import GameEnv
from gym_reason.envs.games.simple_negotiation.bots import NegotiationHeuristic
from gym_reason.envs.games.simple_negotiation.rules import SimpleNegotiation
from gym_reason.envs.games.simple_negotiation.template import SimpleNegotiationTemplate
from gym_reason.registry import register

register(
    id="gym_reason/SimpleNegotiation-v0",
    entry_point=GameEnv.factory(
        SimpleNegotiation,
        SimpleNegotiationTemplate,
        bots={"heuristic": NegotiationHeuristic},
        strongest_bot="heuristic",
    ),
    alias="simple_negotiation",
    description="Simple Negotiation: trade five resources valued privately; the bigger value gain wins",
)
