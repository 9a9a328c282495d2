"""Language-model agents: a self-play checkpoint or a local transformers model as a player.

Specs:

* ``ckpt:PATH`` or a bare path to a run folder (``runs/<run-id>``: its latest
  checkpoint) or to a checkpoint folder. The agent samples exactly as in training
  (decoding constrained to the env's action grammar for the tiny model).
* ``hf:PATH`` a local transformers model folder, or a ``.gguf`` file (loaded with
  ``gguf_file=``), reading the env's text through its chat template; by default it
  thinks freely, then answers held to the env's action grammar (``think`` mode);
  options follow as ``:key=value``: ``decoding=constrained|think|free``,
  ``think_tokens=64``, ``temperature=0.7``, ``max_new_tokens=64``.

Both report the completion tokens of each answer (``last_tokens``) and give the
probability of each legal answer (:meth:`LMAgent.action_probabilities`), which exact
exploitability reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gym_reason.agents.base import Observation, parse_value, register_agent_backend
from gym_reason.core import LEGAL_ACTIONS, AnswerFormat


class LMAgent:
    """Plays with an :class:`~gym_reason.policy.LMPolicy`: one batched sample per ``act`` call, seeded.

    The policy layer (torch, transformers) is imported when an LM agent is made, not when
    ``gym_reason.agents`` is: the CLI and the other agents start without it.
    """

    def __init__(
        self, policy: Any, env_id: str, answer_format: str | AnswerFormat = "bracket", seed: int | None = None
    ) -> None:
        import torch

        self.policy = policy
        self.env_id = env_id
        self.answer_format = AnswerFormat.named(answer_format)
        self.generator = torch.Generator().manual_seed(0 if seed is None else seed)
        self.name = f"lm:{env_id}"
        self.last_tokens: list[int | None] = []
        """Completion tokens of each answer of the last ``act`` call."""

    def act(self, batch: Sequence[Observation]) -> list[str]:
        from gym_reason.policy.prompts import action_grammar

        prompts = [self.policy.prompt(self.env_id, obs, info) for obs, info in batch]
        grammars = [action_grammar(info) for _, info in batch]
        completions = self.policy.sample(prompts, grammars, self.generator, [self.answer_format] * len(batch))
        self.last_tokens = [len(c.completion_ids) for c in completions]
        return [c.text for c in completions]

    def action_probabilities(self, batch: Sequence[Observation]) -> list[dict[str, float]]:
        """The probability of each legal answer (``info["legal_actions"]``) at each observation.

        Constrained decoding: exactly the distribution :meth:`act` samples from. Free-form: each
        answer's probability as the start of the completion, normalised over the legal answers.
        """
        prompts = [self.policy.prompt(self.env_id, obs, info) for obs, info in batch]
        legal = [list(info.get(LEGAL_ACTIONS) or []) for _, info in batch]
        missing = [i for i, answers in enumerate(legal) if not answers]
        if missing:
            raise ValueError(
                f"observation #{missing[0]} lists no legal actions; action probabilities need an env that lists them"
            )
        if self.policy.constrained:
            return self.policy.answer_probabilities(prompts, legal)
        return self.policy.sequence_probabilities(prompts, legal)


def load_checkpoint_agent(spec: str, env: Any, seed: int | None) -> LMAgent:
    from gym_reason.policy.checkpoints import load_policy, resolve_checkpoint

    policy = load_policy(resolve_checkpoint(spec))
    return LMAgent(policy, _env_id(env), getattr(env, "answer_format", "bracket"), seed)


def _env_id(env: Any) -> str:
    from gym_reason.registry import env_id_of

    return env_id_of(env, getattr(getattr(env, "game", None), "name", "env"))


HF_OPTIONS = {"decoding": str, "think_tokens": int, "temperature": float, "max_new_tokens": int}


def load_hf_agent(spec: str, env: Any, seed: int | None) -> LMAgent:
    """``hf:PATH[:key=value...]``: a local transformers model (folder or ``.gguf`` file) as a player."""
    from gym_reason.policy.checkpoints import load_causal_lm
    from gym_reason.policy.lm_policy import LMPolicy

    parts = spec.split(":")
    options: dict[str, Any] = {}
    while len(parts) > 1 and "=" in parts[-1]:
        key, _, value = parts.pop().partition("=")
        if key == "constrained":
            raise ValueError(
                f"hf: option 'constrained' in 'hf:{spec}' was replaced by 'decoding': decoding=constrained "
                "(was true), decoding=free (was false) or decoding=think"
            )
        if key not in HF_OPTIONS:
            raise ValueError(
                f"unknown hf: option {key!r} in 'hf:{spec}'; valid: {sorted(HF_OPTIONS)} "
                "(e.g. hf:models/qwen:temperature=0.7)"
            )
        kind, parsed = HF_OPTIONS[key], parse_value(value)
        if not isinstance(parsed, kind) and not (kind is float and isinstance(parsed, int)):
            raise ValueError(f"hf: option {key}={value!r} must be a {kind.__name__} (e.g. decoding=constrained)")
        options[key] = kind(parsed)
    path = Path(":".join(parts))
    if not path.exists():
        raise FileNotFoundError(
            f"hf: model {str(path)!r} does not exist; give a local transformers model folder or a .gguf file "
            "(nothing is downloaded)"
        )
    if path.suffix == ".gguf":
        model, tokenizer = load_causal_lm(path.parent, path.name)
    else:
        model, tokenizer = load_causal_lm(path)
    policy = LMPolicy(
        model,
        tokenizer,
        layout="observation",
        decoding=options.get("decoding", "think"),
        think_tokens=options.get("think_tokens", 128),
        max_new_tokens=options.get("max_new_tokens", 256),
        temperature=options.get("temperature", 1.0),
    )
    policy.source = {"model": str(path.resolve())}
    agent = LMAgent(policy, _env_id(env), getattr(env, "answer_format", "bracket"), seed)
    agent.name = f"hf:{spec}"
    return agent


register_agent_backend("ckpt", load_checkpoint_agent)
register_agent_backend("hf", load_hf_agent)
