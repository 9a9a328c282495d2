"""Language-model agents: a self-play checkpoint (or any saved :class:`~gym_reason.trainer.models.LMPolicy`) as a player.

Specs: ``ckpt:PATH`` or a bare path to a run folder (``runs/<run-id>``: its latest
checkpoint) or to a checkpoint folder. The agent samples exactly as in training
(constrained decoding over the legal answers for the tiny model).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gym_reason.agents.base import Observation, register_agent_backend
from gym_reason.core import AnswerFormat


class LMAgent:
    """Plays with an ``LMPolicy``: one batched sample per ``act`` call, seeded."""

    def __init__(
        self, policy: Any, env_id: str, answer_format: str | AnswerFormat = "bracket", seed: int | None = None
    ) -> None:
        import torch

        self.policy = policy
        self.env_id = env_id
        self.answer_format = AnswerFormat.named(answer_format)
        self.generator = torch.Generator().manual_seed(0 if seed is None else seed)
        self.name = f"lm:{env_id}"

    def act(self, batch: Sequence[Observation]) -> list[str]:
        from gym_reason.trainer.models import legal_answers

        prompts = [self.policy.prompt(self.env_id, obs, info) for obs, info in batch]
        legal = [legal_answers(info) for _, info in batch]
        completions = self.policy.sample(prompts, legal, self.generator, [self.answer_format] * len(batch))
        return [c.text for c in completions]


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder from a run folder (its latest checkpoint) or a checkpoint folder itself."""
    from gym_reason.trainer.loop import latest_checkpoint
    from gym_reason.trainer.models import POLICY_FILE

    path = Path(path)
    if (path / POLICY_FILE).is_file():
        return path
    latest = latest_checkpoint(path) if path.is_dir() else None
    if latest is None:
        raise FileNotFoundError(
            f"{str(path)!r} is neither a run folder with checkpoints nor a checkpoint folder; "
            "give runs/<run-id> (as printed at the end of gym-reason selfplay) or runs/<run-id>/checkpoints/step_N"
        )
    return latest


def load_checkpoint_agent(spec: str, env: Any, seed: int | None) -> LMAgent:
    from gym_reason.trainer.models import load_policy

    policy = load_policy(resolve_checkpoint(spec))
    env_id = (getattr(env, "metadata", None) or {}).get("env_id") or getattr(getattr(env, "game", None), "name", "env")
    return LMAgent(policy, env_id, getattr(env, "answer_format", "bracket"), seed)


register_agent_backend("ckpt", load_checkpoint_agent)
