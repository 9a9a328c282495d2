"""``LMPolicy``: a causal LM, its tokenizer and the decoding settings it plays with.

The class holds the model, the settings and two memos (prompt ids, answer tries); the
work is done by functions of one job each, which its methods call: :mod:`.prompts`
(prompt text), :mod:`.decoding` (sampling), :mod:`.scoring` (log-probabilities and
answer probabilities). Saving and loading are in :mod:`.checkpoints`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from gym_reason.core import AnswerFormat
from gym_reason.policy import decoding, scoring
from gym_reason.policy.decoding import Completion
from gym_reason.policy.prompts import PROMPT_LAYOUTS, render_prompt
from gym_reason.policy.scoring import Scores


class LMPolicy:
    """A causal LM that plays text envs: prompt building, batched sampling, log-probabilities.

    Args:
        model, tokenizer: a transformers causal LM and its tokenizer.
        layout: ``"observation"``: the env's text observation (with the model's chat
            template when it has one); ``"state"``: ``env | role | information-state key``,
            a compact prompt for models that cannot read English (the tiny model).
        constrained: decode over the legal answers when the env lists them (free
            sampling otherwise, and for envs that list none).
        max_new_tokens: budget of a free completion.
        context: the most prompt tokens kept (the tail; the newest state is at the end).
        temperature: sampling temperature, used identically when log-probabilities are recomputed.
        system_prompt: prepended as a system message when a chat template is used.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        layout: str = "observation",
        constrained: bool = True,
        max_new_tokens: int = 256,
        context: int = 2048,
        temperature: float = 1.0,
        system_prompt: str | None = None,
    ) -> None:
        if layout not in PROMPT_LAYOUTS:
            raise ValueError(f"unknown prompt layout {layout!r}; valid: {list(PROMPT_LAYOUTS)}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.layout = layout
        self.constrained = constrained
        self.max_new_tokens = max_new_tokens
        self.context = context
        self.temperature = temperature
        self.system_prompt = system_prompt
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.source: dict[str, Any] = {}
        """Where the weights came from (``model``, ``gguf_file``, ``lora``), saved with checkpoints."""
        self._trie_memo: dict[tuple[str, ...], dict] = {}
        self._prompt_memo: dict[str, list[int]] = {}

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def settings(self) -> dict[str, Any]:
        """The decoding settings and the weights' source, as saved beside a checkpoint."""
        return {
            "layout": self.layout,
            "constrained": self.constrained,
            "max_new_tokens": self.max_new_tokens,
            "context": self.context,
            "temperature": self.temperature,
            "system_prompt": self.system_prompt,
            "source": self.source,
        }

    # --- prompts -------------------------------------------------------------------------------
    def prompt(self, env_id: str, observation: str, info: dict[str, Any]) -> str:
        """The prompt text for one turn, per :attr:`layout` (see :func:`~gym_reason.policy.prompts.render_prompt`)."""
        return render_prompt(self.layout, self.tokenizer, self.system_prompt, env_id, observation, info)

    def encode_prompt(self, prompt: str) -> list[int]:
        """The prompt's token ids, the last :attr:`context` kept (memoised: self-play repeats prompts)."""
        ids = self._prompt_memo.get(prompt)
        if ids is None:
            ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"][-self.context :]
            if len(self._prompt_memo) > 100_000:
                self._prompt_memo.clear()
            self._prompt_memo[prompt] = ids
        return ids

    def answer_trie(self, answers: Sequence[str]) -> dict:
        """The trie of ``answers`` (:func:`~gym_reason.policy.decoding.answer_trie`), memoised."""
        key = tuple(answers)
        trie = self._trie_memo.get(key)
        if trie is None:
            trie = decoding.answer_trie(self.tokenizer, answers)
            if len(self._trie_memo) > 10_000:
                self._trie_memo.clear()
            self._trie_memo[key] = trie
        return trie

    # --- decoding and scoring ------------------------------------------------------------------
    def sample(
        self,
        prompts: Sequence[str],
        legal: Sequence[Sequence[str] | None],
        generator: torch.Generator,
        answer_format: Sequence[AnswerFormat] | None = None,
    ) -> list[Completion]:
        """One completion per prompt; see :func:`~gym_reason.policy.decoding.sample`."""
        return decoding.sample(self, prompts, legal, generator, answer_format)

    def score(self, completions: Sequence[Completion], *, model: Any = None, reference: Any = None) -> Scores:
        """Every decision of ``completions`` under the model, with gradients; see :func:`~gym_reason.policy.scoring.score`."""
        return scoring.score(self, completions, model=model, reference=reference)

    def answer_probabilities(self, prompts: Sequence[str], legal: Sequence[Sequence[str]]) -> list[dict[str, float]]:
        """Exact legal-answer probabilities of constrained decoding; see :func:`~gym_reason.policy.scoring.answer_probabilities`."""
        return scoring.answer_probabilities(self, prompts, legal)

    def sequence_probabilities(
        self, prompts: Sequence[str], legal: Sequence[Sequence[str]], batch_size: int = 64
    ) -> list[dict[str, float]]:
        """Free-form legal-answer probabilities; see :func:`~gym_reason.policy.scoring.sequence_probabilities`."""
        return scoring.sequence_probabilities(self, prompts, legal, batch_size)
