"""Evaluating agents: exact analysis over the rules, and played games."""
