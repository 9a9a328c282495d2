"""Agents: the batched ``act`` protocol, random and human players, scripted opponents."""

from gym_reason.agents import human, lm, openai_agent, random_agent  # noqa: F401  (register the backends)
from gym_reason.agents.base import (
    AGENT_BACKENDS,
    Agent,
    AgentError,
    ScriptedAgent,
    fixed_agent_names,
    make_agent,
    register_agent_backend,
    strongest_fixed_agent,
)
from gym_reason.agents.human import HumanAgent
from gym_reason.agents.random_agent import RandomAgent

__all__ = [
    "AGENT_BACKENDS",
    "Agent",
    "AgentError",
    "HumanAgent",
    "RandomAgent",
    "ScriptedAgent",
    "fixed_agent_names",
    "make_agent",
    "register_agent_backend",
    "strongest_fixed_agent",
]
