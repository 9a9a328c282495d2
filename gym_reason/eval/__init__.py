"""Evaluation of agents: exact analysis over the pure rules."""
