"""Scripted opponents, one module per game; importing this registers them all."""

from gym_reason.agents.fixed import kuhn_poker, leduc_holdem, simple_negotiation, tic_tac_toe  # noqa: F401
