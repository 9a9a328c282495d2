"""``LMPolicy``: a causal LM, its tokenizer and the decoding settings it plays with.

The class holds the model, the settings and its memos (prompt ids, the grammar engine's view of
the tokenizer, compiled grammars, decisions' masks); the
work is done by functions of one job each, which its methods call: :mod:`.prompts`
(prompt text), :mod:`.decoding` (sampling), :mod:`.scoring` (log-probabilities and
answer probabilities). Saving and loading are in :mod:`.checkpoints`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import torch

from gym_reason.core import ActionGrammar, AnswerFormat
from gym_reason.policy import decoding, scoring
from gym_reason.policy.decoding import DECODING_MODES, Completion, StateMemo
from gym_reason.policy.prompts import PROMPT_LAYOUTS, render_prompt
from gym_reason.policy.scoring import Scores


class LMPolicy:
    """A causal LM that plays text envs: prompt building, batched sampling, log-probabilities.

    Args:
        model, tokenizer: a transformers causal LM and its tokenizer.
        layout: ``"observation"``: the env's text observation (with the model's chat
            template when it has one); ``"state"``: ``env | role | information-state key``,
            a compact prompt for models that cannot read English (the tiny model).
        decoding: ``"constrained"`` (the reply is a string of the env's action grammar),
            ``"think"`` (free thinking of at most ``think_tokens`` tokens, then a string of the
            grammar) or ``"free"`` (unconstrained); rows whose env declares no grammar are free
            in every mode (see :mod:`~gym_reason.policy.decoding`).
        think_tokens: the thinking budget of ``think`` mode.
        max_new_tokens: budget of a whole reply, thinking included.
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
        decoding: str = "constrained",
        think_tokens: int = 128,
        max_new_tokens: int = 256,
        context: int = 2048,
        temperature: float = 1.0,
        system_prompt: str | None = None,
    ) -> None:
        if layout not in PROMPT_LAYOUTS:
            raise ValueError(f"unknown prompt layout {layout!r}; valid: {list(PROMPT_LAYOUTS)}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if decoding not in DECODING_MODES:
            raise ValueError(
                f"unknown decoding mode {decoding!r}; valid: {list(DECODING_MODES)} "
                "(constrained: the reply is the env's grammar; think: free thinking, then the grammar; free: unconstrained)"
            )
        if not (isinstance(think_tokens, int) and think_tokens >= 1):
            raise ValueError(f"think_tokens must be a positive number of tokens, got {think_tokens!r} (e.g. 128)")
        if not (isinstance(max_new_tokens, int) and max_new_tokens >= 1):
            raise ValueError(f"max_new_tokens must be a positive number of tokens, got {max_new_tokens!r}")
        self.model = model
        self.tokenizer = tokenizer
        self.layout = layout
        self.decoding = decoding
        self.think_tokens = think_tokens
        self.max_new_tokens = max_new_tokens
        self.context = context
        self.temperature = temperature
        self.system_prompt = system_prompt
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.source: dict[str, Any] = {}
        """Where the weights came from (``model``, ``gguf_file``, ``lora``), saved with checkpoints."""
        self._prompt_memo: dict[str, list[int]] = {}
        self._engine_tokenizer: Any = None
        self._vocab_size: int | None = None
        self._matchers: dict[tuple[ActionGrammar, str, int], tuple[int, Any]] = {}
        self._grammar_numbers = itertools.count()
        self._allowed: dict[bytes, list[int]] = {}
        self._counts: dict[bytes, int] = {}
        self._masks: dict[bytes, bytes] = {}
        self.transitions = StateMemo()
        """Memo of the grammar engine: (grammar, mode, budget; tokens so far) -> the mask of the next tokens, or
        ``None`` once the reply is whole (self-play walks the same few grammar states over and over)."""
        self._token_texts: dict[int, str] = {}
        self._end_ids: list[int] | None = None
        self._closing_tokens: list[int] | None = None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def constrained(self) -> bool:
        """Whether replies are exactly strings of the grammar (so answer probabilities are exact)."""
        return self.decoding == "constrained"

    def settings(self) -> dict[str, Any]:
        """The decoding settings and the weights' source, as saved beside a checkpoint."""
        return {
            "layout": self.layout,
            "decoding": self.decoding,
            "think_tokens": self.think_tokens,
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

    # --- the grammar engine ------------------------------------------------------------------
    def engine_tokenizer(self) -> Any:
        """The tokenizer as llguidance reads it (``llguidance.hf.from_tokenizer``; built once, ~1 s for a real one)."""
        if self._engine_tokenizer is None:
            import llguidance.hf

            self._engine_tokenizer = llguidance.hf.from_tokenizer(self.tokenizer)
        return self._engine_tokenizer

    def vocab_size(self) -> int:
        """The number of tokens the grammar engine's masks cover."""
        if self._vocab_size is None:
            self._vocab_size = int(self.engine_tokenizer().vocab_size)
        return self._vocab_size

    def matcher(self, grammar: ActionGrammar, mode: str | None = None) -> Any:
        """A fresh llguidance matcher of ``grammar`` in ``mode`` (default: the policy's decoding mode; ``think``
        wraps the grammar in :func:`~gym_reason.grammar.think_grammar`): a copy of a memoised one."""
        return self._compiled(grammar, mode)[1].deep_copy()

    def cursor(self, grammar: ActionGrammar, mode: str | None = None) -> decoding.GrammarCursor:
        """The start of a reply held to ``grammar`` in ``mode`` (see :class:`~gym_reason.policy.decoding.GrammarCursor`)."""
        number, base = self._compiled(grammar, mode)
        return decoding.GrammarCursor(self, number, base)

    def _compiled(self, grammar: ActionGrammar, mode: str | None) -> tuple[int, Any]:
        """A number naming (grammar, mode, budget) in :attr:`transitions`, and its compiled matcher (memoised)."""
        import llguidance

        from gym_reason import grammar as grammar_engine

        mode = self.decoding if mode is None else mode
        key = (grammar, mode, self.think_tokens)
        found = self._matchers.get(key)
        if found is None:
            if mode == "think":
                text = grammar_engine.think_grammar(grammar, self.think_tokens)
            else:
                text = grammar_engine.engine_grammar(grammar)
            base = llguidance.LLMatcher(self.engine_tokenizer(), text, log_level=0)
            if base.is_error():
                raise ValueError(
                    f"llguidance cannot build a matcher of this {grammar.kind} grammar: {base.get_error()}"
                )
            if len(self._matchers) > 10_000:
                self._matchers.clear()
                self.transitions.clear()
            found = self._matchers[key] = (next(self._grammar_numbers), base)
        return found

    def allowed(self, mask: bytes) -> list[int]:
        """The token ids of an interned mask (memoised)."""
        tokens = self._allowed.get(mask)
        if tokens is None:
            if len(self._allowed) > 100_000:
                self._allowed.clear()
            tokens = self._allowed[mask] = decoding.allowed_tokens(mask)
        return tokens

    def allowed_count(self, mask: bytes) -> int:
        """How many tokens an interned mask allows (memoised)."""
        count = self._counts.get(mask)
        if count is None:
            if len(self._counts) > 100_000:
                self._counts.clear()
            count = self._counts[mask] = int.from_bytes(mask, "little").bit_count()
        return count

    def intern_mask(self, mask: bytes) -> bytes:
        """One shared copy of each distinct packed mask (a think-mode reply repeats one mask at most positions)."""
        kept = self._masks.setdefault(mask, mask)
        if len(self._masks) > 100_000:
            self._masks.clear()
        return kept

    def token_text(self, token: int) -> str:
        """The text of one token (memoised)."""
        text = self._token_texts.get(token)
        if text is None:
            text = self._token_texts[token] = self.tokenizer.decode([token], skip_special_tokens=True)
        return text

    def closing_tokens(self) -> list[int]:
        """The model's single tokens of :data:`~gym_reason.grammar.CLOSING_BYTES`, which close an over-long reply."""
        if self._closing_tokens is None:
            from gym_reason.grammar import CLOSING_BYTES

            encoded = (self.tokenizer(chr(b), add_special_tokens=False)["input_ids"] for b in CLOSING_BYTES)
            self._closing_tokens = [ids[0] for ids in encoded if len(ids) == 1]
        return self._closing_tokens

    def end_ids(self) -> list[int]:
        """The tokens that end a free reply (see :func:`~gym_reason.policy.decoding.end_ids`)."""
        if self._end_ids is None:
            self._end_ids = decoding.end_ids(self.model, self.tokenizer)
        return self._end_ids

    # --- decoding and scoring ------------------------------------------------------------------
    def sample(
        self,
        prompts: Sequence[str],
        grammars: Sequence[ActionGrammar | Sequence[str] | None],
        generator: torch.Generator,
        answer_format: Sequence[AnswerFormat] | None = None,
    ) -> list[Completion]:
        """One completion per prompt, held to its grammar (or legal answers); see :func:`~gym_reason.policy.decoding.sample`."""
        return decoding.sample(self, prompts, grammars, generator, answer_format)

    def rescore(self, completions: Sequence[Completion]) -> dict[str, float]:
        """Make the completions' recorded log-probabilities the trainer's own before an update, and return what
        that measured. Here the sampler is the trained model, so they already are: nothing to do (a sampler of
        another implementation, :class:`~gym_reason.policy.vllm_backend.VLLMPolicy`, replaces them)."""
        return {}

    def sync_weights(self) -> bool:
        """Bring the sampler up to the model's weights after an update; whether anything moved. Here the sampler
        is the model itself, so never (:class:`~gym_reason.policy.vllm_backend.VLLMPolicy` pushes into its engine)."""
        return False

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
