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
    # Pure self-play from random weights is ~95% no-trade draws (a random offer is rarely accepted), so its
    # gradient is thin, and it never meets a player who accepts only what raises its own value: the heuristic
    # takes every lopsided trade the learner offers or accepts. Half the games against the heuristic and
    # random teach that; talk messages close within 48 tokens.
    training={
        "steps": 30,
        "games_per_step": 32,
        "max_new_tokens": 48,
        "lr": 1e-3,
        "entropy_coef": 0.01,
        "kl_coef": 0.0,
        "opponents": ["fixed:heuristic", "random"],
        "opponent_fraction": 0.5,
        "eval_every": 10,
        "eval_at_start": True,
        "eval_games": 128,
        "checkpoint_every": 10,
    },
)
