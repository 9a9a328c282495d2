"""gym-reason: multi-turn text environments for RL of language models."""

from gym_reason.registry import EnvSpec, list_envs, make, register, register_namespace, spec

__version__ = "0.1.0"

import gym_reason.envs  # noqa: F401  (registers the built-in envs)

__all__ = ["EnvSpec", "__version__", "list_envs", "make", "register", "register_namespace", "spec"]
