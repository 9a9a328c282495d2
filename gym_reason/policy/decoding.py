"""Decoding: one sampled completion per prompt, for a whole batch at once, with its log-probabilities.

The env's action grammar (``info["action_grammar"]``, an :class:`~gym_reason.core.ActionGrammar`)
holds the model through `llguidance <https://github.com/guidance-ai/llguidance>`_: per row an
``LLMatcher`` over the model's own tokenizer, compiled from the grammar (both memoised by the
policy), gives the bitmask of the tokens allowed next; the logits outside it are masked away, the
sampled token is ``consume_token`` d. Three modes (:data:`DECODING_MODES`, ``LMPolicy.decoding``):

* ``constrained``: the reply is a string of the grammar (then EOS where the grammar could go on);
* ``think``: free thinking of at most ``think_tokens`` tokens, then a string of the grammar
  (:func:`gym_reason.grammar.think_grammar`: the thinking holds no character an answer begins with,
  so the first one begins the answer and the env reads it); a reply whose thinking ran to its
  budget (the grammar then let the model only begin its answer) is flagged ``budget_out``;
* ``free``: unconstrained sampling, stopping at EOS or right after the answer format's closing
  mark, scored by the env. Rows without a grammar (a TextArena game declares none) are decoded
  free in every mode.

A position where the mask allows exactly one token is forced: it costs no forward pass and carries
no decision, so a Kuhn Poker decision (``[check]`` vs ``[bet]``) is one model call and one sampled
token. Every row stops at ``max_new_tokens``; a grammar row whose budget is about to run out is
closed by the shortest closing the grammar allows (a ``]``, a fence, the rest of an offer: at most
:data:`CLOSING_DEPTH` forced tokens, then EOS), so free text inside a grammar (a
negotiation message, a code block) still ends as a string of it; a row that cannot be closed so is
cut (``truncated``). Whatever the mode, the recorded
log-probability of a decision is that of the distribution it was sampled from (softmax of the
masked logits over the temperature), which :func:`~gym_reason.policy.scoring.score` recomputes, so
the first PPO ratio is 1. The forward passes run over a KV cache
(:class:`~gym_reason.policy.forward.IncrementalForward`), identical prompts prefilled once.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gym_reason.core import ActionGrammar, AnswerFormat
from gym_reason.policy.forward import IncrementalForward

if TYPE_CHECKING:
    import llguidance

    from gym_reason.policy.lm_policy import LMPolicy

DECODING_MODES = ("constrained", "think", "free")
"""How replies are decoded (see the module docstring)."""


@dataclasses.dataclass
class Completion:
    """One sampled answer.

    ``decisions`` lists, for each position of ``completion_ids`` where the policy chose among
    several tokens, ``(position, allowed)``: ``allowed`` is the packed bitmask of the tokens it
    could choose (bit ``t % 8`` of byte ``t // 8`` is token ``t``, as llguidance writes it; see
    :func:`unpack_masks`), or ``None`` for the whole vocabulary. ``logprobs`` holds the sampling
    log-probability at each decision. Forced positions carry no decision and no gradient.
    """

    text: str
    prompt_ids: list[int]
    completion_ids: list[int]
    decisions: list[tuple[int, bytes | None]]
    logprobs: list[float]
    budget_out: bool = False
    """``think`` mode: the thinking ran to its token budget, and the answer was forced to begin."""
    truncated: bool = False
    """The reply ran out of ``max_new_tokens`` before it ended (the env will likely score it invalid)."""


def unpack_masks(masks: Sequence[bytes | None], width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Packed bitmasks (``None``: every token) as a ``(len(masks), width)`` bool tensor; bits past a mask are False.
    Each distinct mask object is unpacked once (decoding interns them).

    >>> unpack_masks([bytes([0b101]), None], 4).tolist()
    [[True, False, True, False], [True, True, True, True]]
    """
    distinct: dict[int, int] = {}
    packed: list[bytes] = []
    index = []
    for mask in masks:
        if mask is None:
            index.append(-1)
            continue
        if id(mask) not in distinct:
            distinct[id(mask)] = len(packed)
            packed.append(mask)
        index.append(distinct[id(mask)])
    out = torch.ones((len(masks), width), dtype=torch.bool)
    if packed:
        size = max(max(len(m) for m in packed), (width + 7) // 8)
        data = np.zeros((len(packed), size), dtype=np.uint8)
        for k, mask in enumerate(packed):
            data[k, : len(mask)] = np.frombuffer(mask, dtype=np.uint8)
        bits = torch.from_numpy(np.unpackbits(data, axis=1, bitorder="little")[:, :width].astype(bool))
        rows = torch.tensor([r for r, k in enumerate(index) if k >= 0])
        out[rows] = bits[torch.tensor([k for k in index if k >= 0])]
    return out.to(device)


def widen(logits: torch.Tensor) -> torch.Tensor:
    """Logits in float32 at least (a half-precision model's are widened; a float64 model's stay float64)."""
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


def allowed_tokens(mask: bytes) -> list[int]:
    """The token ids set in a packed bitmask.

    >>> allowed_tokens(bytes([0b101, 0b1]))
    [0, 2, 8]
    """
    word = int.from_bytes(mask, "little")
    out = []
    while word:
        low = word & -word
        out.append(low.bit_length() - 1)
        word ^= low
    return out


def as_grammar(reply: ActionGrammar | Sequence[str] | None) -> ActionGrammar | None:
    """A row's grammar: an :class:`ActionGrammar`, a list of legal answers (their choice), or ``None`` (free)."""
    if reply is None or isinstance(reply, ActionGrammar):
        return reply
    if isinstance(reply, str):
        raise TypeError(f"expected an ActionGrammar or a list of legal answers, got the string {reply!r}")
    return ActionGrammar.choice(reply) if len(reply) else None


CLOSING_DEPTH = 12
"""The longest closing a decoder forces (``]``, a fence, the rest of an offer's resource name)."""
CLOSING_FEW = 10
"""Where the grammar allows at most this many tokens, the closing search tries each (a digit, a name)."""
CLOSING_SLACK = 8
"""Tokens left beyond a reply's shortest closing when it is forced: one more sampled token may lengthen the
closing (a token that begins a UTF-8 character needs up to 3 more bytes first; an offer's ", " needs a
quantity and a resource name before its "]")."""


MEMO_DEPTH = 24
"""Replies are read through the policy's memo of grammar states while they have at most this many tokens
(a game's answers; not a long thinking, whose states rarely repeat)."""
MEMO_STATES = 200_000
"""The most grammar states the memo holds; past it, it starts afresh."""
_UNKNOWN = object()


class StateMemo(dict):
    """The policy's memo of grammar states (:attr:`LMPolicy.transitions`): grammar number -> the root
    :class:`_State` of its replies; ``states`` counts the states under them."""

    states = 0

    def clear(self) -> None:
        super().clear()
        self.states = 0


class _State:
    """One grammar state in the policy's memo (:attr:`LMPolicy.transitions`): its mask, once known, and the
    states one token further. A cursor walks it by token, so a lookup hashes one small int, not the reply."""

    __slots__ = ("children", "mask")

    def __init__(self) -> None:
        self.children: dict[int, _State] = {}
        self.mask: Any = _UNKNOWN


class GrammarCursor:
    """Where a reply stands in its grammar: the tokens so far, and the mask of the tokens allowed next.

    The masks come from the policy's memo (:attr:`LMPolicy.transitions`: a tree of grammar states per
    compiled grammar) while the reply is short; an llguidance matcher is copied from the compiled grammar,
    and caught up on the tokens so far, only when the memo has not seen the state yet (self-play repeats
    the same few states). The mask at the current position is kept, so asking again (after a token is
    taken, then before the next decision) costs nothing; :func:`fill_masks` computes many cursors' masks
    in one parallel call.
    """

    __slots__ = ("at", "kept", "key", "matcher", "node", "owned", "policy", "synced", "tokens")

    def __init__(self, policy: LMPolicy, key: int, matcher: llguidance.LLMatcher) -> None:
        self.policy = policy
        self.key = key
        self.matcher = matcher
        self.owned = False  # the compiled grammar's matcher is shared: copied before it moves
        self.synced = 0
        self.tokens: tuple[int, ...] = ()
        self.at = -1  # the position whose mask is kept in ``kept``
        self.kept: bytes | None = None
        memo = policy.transitions
        if memo.states > MEMO_STATES:
            memo.clear()
        self.node: _State | None = memo.get(key) or memo.setdefault(key, _State())

    def mask(self) -> bytes | None:
        """The packed bitmask of the tokens allowed next, or ``None`` once the reply is a whole string."""
        if self.at == len(self.tokens):
            return self.kept
        found = self.known()
        if found is False:
            matcher = self._caught_up()
            found = None if matcher.is_stopped() else self.policy.intern_mask(matcher.compute_bitmask())
            self.keep(found)
        return found  # type: ignore[return-value]

    def known(self) -> bytes | bool | None:
        """The mask here if it is kept or memoised (``None``: the reply is whole), else ``False``."""
        if self.at == len(self.tokens):
            return self.kept
        node = self.node
        if node is None or node.mask is _UNKNOWN:
            return False
        self.at, self.kept = len(self.tokens), node.mask
        return node.mask

    def keep(self, mask: bytes | None) -> None:
        """Record the mask at the current position (and in the policy's memo while the reply is short)."""
        self.at, self.kept = len(self.tokens), mask
        if self.node is not None:
            self.node.mask = mask

    def advance(self, token: int) -> None:
        self.tokens = (*self.tokens, token)
        self.node = self._child(token)

    def fork(self, token: int) -> GrammarCursor:
        """A new cursor one token further (this one stays where it is)."""
        child = GrammarCursor.__new__(GrammarCursor)
        child.policy, child.key, child.matcher, child.owned = self.policy, self.key, self.matcher, False
        child.synced, child.at, child.kept = self.synced, -1, None
        child.node = self._child(token)
        child.tokens = (*self.tokens, token)
        return child

    def _child(self, token: int) -> _State | None:
        """The memo's state one token past this cursor's (made if new), or ``None`` past :data:`MEMO_DEPTH`."""
        node = self.node
        if node is None or len(self.tokens) >= MEMO_DEPTH:
            return None
        child = node.children.get(token)
        if child is None:
            child = node.children[token] = _State()
            self.policy.transitions.states += 1
        return child

    def matcher_now(self) -> llguidance.LLMatcher:
        """An llguidance matcher at the current state (owned by this cursor)."""
        return self._caught_up()

    def _caught_up(self) -> llguidance.LLMatcher:
        if not self.owned:
            self.matcher, self.owned = self.matcher.deep_copy(), True
        for token in self.tokens[self.synced :]:
            if not self.matcher.consume_token(token):
                raise RuntimeError(f"llguidance refused token {token} it allowed: {self.matcher.get_error()}")
        self.synced = len(self.tokens)
        return self.matcher


PARALLEL_MASKS = 8
"""From this many cursors without a known mask, :func:`fill_masks` fills their masks in one parallel call..."""
PARALLEL_VOCABULARY = 4096
"""...over a vocabulary at least this large. Over a small one (the tiny model's 259 bytes: a few microseconds a
mask) starting the executor's threads costs more than the masks."""


@functools.cache
def _executor() -> llguidance.LLExecutor:
    """llguidance's thread pool, one thread per CPU this process may run on (its default counts the machine's)."""
    import os

    import llguidance

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return llguidance.LLExecutor(num_threads=max(1, min(32, cpus)))


def fill_masks(policy: LMPolicy, cursors: Sequence[GrammarCursor]) -> None:
    """Compute the masks of many cursors at once: those neither kept nor memoised are filled by llguidance's
    parallel executor (as ``llguidance.torch.fill_next_token_bitmask_par``: one call, the rows spread over its threads), each
    cursor once even where several share a state in the memo; few go one by one."""
    unknown: dict[int, list[GrammarCursor]] = {}
    for cursor in cursors:
        if cursor.known() is False:  # short replies in one state (one memo node) share its mask
            unknown.setdefault(id(cursor) if cursor.node is None else id(cursor.node), []).append(cursor)
    if len(unknown) < PARALLEL_MASKS or policy.vocab_size() < PARALLEL_VOCABULARY:
        for group in unknown.values():
            mask = group[0].mask()
            for cursor in group[1:]:
                cursor.keep(mask)
        return
    live: list[list[GrammarCursor]] = []
    for group in unknown.values():
        if group[0].matcher_now().is_stopped():
            for cursor in group:
                cursor.keep(None)
        else:
            live.append(group)
    if not live:
        return
    # what llguidance.torch.fill_next_token_bitmask_par does, on a numpy buffer (importing llguidance.torch
    # would import torch.compile's machinery: seconds)
    rows = np.zeros((len(live), (policy.vocab_size() + 31) // 32), dtype=np.int32)
    matchers = [(group[0].matcher, i) for i, group in enumerate(live)]
    _executor().unsafe_compute_mask_ptr(matchers, rows.ctypes.data, rows.shape[1] * 4, len(live))
    for i, group in enumerate(live):
        mask = policy.intern_mask(rows[i].tobytes())
        for cursor in group:
            cursor.keep(mask)


class _Row:
    """One completion being decoded."""

    __slots__ = (
        "answering",
        "budget_out",
        "cursor",
        "decisions",
        "done",
        "logprobs",
        "mask",
        "pending",
        "prompt_ids",
        "stops",
        "thinking",
        "tokens",
        "truncated",
    )

    def __init__(self, prompt_ids: list[int], cursor: GrammarCursor | None, stops: tuple[str, ...]) -> None:
        self.prompt_ids = prompt_ids
        self.cursor = cursor
        self.stops = stops
        self.tokens: list[int] = []
        self.pending: list[int] = list(prompt_ids)  # tokens not yet in the KV cache
        self.decisions: list[tuple[int, bytes | None]] = []
        self.logprobs: list[float] = []
        self.mask: bytes | None = None
        self.done = False
        self.truncated = False
        self.budget_out = False
        self.thinking = 0
        self.answering = False


@torch.no_grad()
def sample(
    policy: LMPolicy,
    prompts: Sequence[str],
    grammars: Sequence[ActionGrammar | Sequence[str] | None],
    generator: torch.Generator,
    answer_format: Sequence[AnswerFormat] | None = None,
) -> list[Completion]:
    """One completion per prompt, held to ``grammars[i]`` (an :class:`ActionGrammar`, a list of legal
    answers, or ``None``) as the policy's decoding mode says; free rows stop at their own answer
    format's closing mark (the bracket format's when none is given)."""
    if len(grammars) != len(prompts):
        raise ValueError(f"got {len(prompts)} prompts but {len(grammars)} grammars; give one per prompt")
    tokenizer = policy.tokenizer
    end = policy.end_ids()
    rows = []
    for i, prompt in enumerate(prompts):
        grammar = as_grammar(grammars[i])
        cursor = None if grammar is None or policy.decoding == "free" else policy.cursor(grammar)
        fmt = answer_format[i] if answer_format else AnswerFormat.named("bracket")
        rows.append(_Row(policy.encode_prompt(prompt), cursor, fmt.stops if cursor is None else ()))
    think = policy.decoding == "think"
    starts = {i: _answer_starts(grammars[i]) for i in range(len(rows))} if think else {}
    forward = IncrementalForward(policy.model, tokenizer.pad_token_id)
    in_cache: dict[int, int] = {}  # row -> its row in the KV cache
    while True:
        fill_masks(policy, [row.cursor for row in rows if row.cursor is not None and not row.done])
        deciding = [k for k, row in enumerate(rows) if not row.done and _advance(policy, row, end)]
        if not deciding:
            break
        if forward.cache is None:  # distinct prompts once: rows reach their cache rows through in_cache
            logits, inverse = forward.prefill([rows[k].pending for k in deciding])
            in_cache = {k: inverse[r] for r, k in enumerate(deciding)}
            logits = logits[torch.tensor(inverse, device=logits.device)]
        else:
            forward.select([in_cache[k] for k in deciding])
            logits = forward.feed([rows[k].pending for k in deciding])
            in_cache = {k: r for r, k in enumerate(deciding)}
        for k in deciding:
            rows[k].pending = []
        picks, picked_logp = _draw(
            policy, widen(logits) / policy.temperature, [rows[k].mask for k in deciding], generator
        )
        for k, token, lp in zip(deciding, picks, picked_logp, strict=True):
            row = rows[k]
            row.decisions.append((len(row.tokens), row.mask))
            row.logprobs.append(lp)
            _take(policy, row, token, end, check=False)  # whether the reply is whole: all rows' masks at once
            if think and not row.answering:
                _count_thinking(policy, row, token, starts[k])
        fill_masks(policy, [rows[k].cursor for k in deciding if rows[k].cursor is not None])
        for k in deciding:
            if rows[k].cursor is not None:
                rows[k].done = rows[k].cursor.mask() is None
    return [_completion(policy, row, end) for row in rows]


COMPACT_WIDTH = 64
"""Decisions among at most this many tokens each (a game's answers) are drawn over their allowed tokens
alone, not over the whole vocabulary (the same distribution)."""


def _draw(
    policy: LMPolicy, logits: torch.Tensor, masks: Sequence[bytes | None], generator: torch.Generator
) -> tuple[list[int], list[float]]:
    """One token per row from the softmax of its logits restricted to its mask, and that token's log-probability."""
    if all(m is not None for m in masks):
        options = [policy.allowed(m) for m in masks]  # type: ignore[arg-type]
        width = max(len(o) for o in options)
        if width <= COMPACT_WIDTH:
            index = torch.tensor([o + [o[0]] * (width - len(o)) for o in options], device=logits.device)
            valid = torch.tensor([[j < len(o) for j in range(width)] for o in options], device=logits.device)
            logp = torch.log_softmax(logits.gather(1, index).masked_fill(~valid, -math.inf), dim=-1)
            picks = torch.multinomial(logp.exp(), 1, generator=generator)
            chosen = logp.gather(1, picks).squeeze(1).tolist()
            return [o[j] for o, j in zip(options, picks.squeeze(1).tolist(), strict=True)], chosen
    if any(m is not None for m in masks):
        logits = logits.masked_fill(~unpack_masks(masks, logits.shape[1], logits.device), -math.inf)
    return draw_tokens(logits, generator)


def draw_tokens(logits: torch.Tensor, generator: torch.Generator) -> tuple[list[int], list[float]]:
    """One token per row from ``softmax(logits)`` (``-inf``: not allowed), and its log-probability.

    Inverse-CDF sampling: ``u`` uniform in (0, 1], the first token whose cumulative probability reaches
    ``u``. Exactly the softmax's distribution, in four passes over the vocabulary (max, exp, cumulative
    sum; no normalised copy), where ``torch.multinomial`` over a 49k vocabulary costs several times that.
    A token of probability 0 (masked) is never drawn: the cumulative sum does not rise over it, and
    ``u > 0``. The log-probability is ``logit - max - log(sum)``, what ``log_softmax`` gives.
    """
    top = logits.amax(dim=-1, keepdim=True)
    if not bool(torch.isfinite(top).all()):
        raise ValueError("a row of logits allows no token (every logit is -inf or one is nan)")
    weights = (logits - top).exp_()
    cumulative = weights.cumsum_(dim=-1)
    total = cumulative[:, -1:]
    target = (1.0 - torch.rand(total.shape, generator=generator, device=logits.device, dtype=total.dtype)) * total
    picks = torch.searchsorted(cumulative, target).clamp_(max=logits.shape[1] - 1)
    logp = logits.gather(1, picks) - top - total.log()
    return picks.squeeze(1).tolist(), logp.squeeze(1).tolist()


def _advance(policy: LMPolicy, row: _Row, end: Sequence[int]) -> bool:
    """Take the row's forced tokens; whether it then needs a sampled decision (else it is done)."""
    while not row.done:
        if len(row.tokens) >= policy.max_new_tokens:
            row.done = row.truncated = True
            break
        if row.cursor is None:
            row.mask = None
            return True
        mask = row.cursor.mask()
        if mask is None:
            row.done = True
            break
        count = policy.allowed_count(mask)
        if count == 0:  # the grammar allows nothing more (the engine's error state): end the reply here
            row.done = row.truncated = True
            break
        if count > 1:
            if _close(policy, row, end):
                break
            row.mask = None if count == policy.vocab_size() else mask
            return True
        _take(policy, row, policy.allowed(mask)[0], end)  # forced: no choice, no forward pass
    return False


def _close(policy: LMPolicy, row: _Row, end: Sequence[int]) -> bool:
    """Near the end of the token budget, force the shortest closing of the reply (then EOS) once it needs
    every token left: a grammar with free text (a message, a code block) could otherwise run past the
    budget and be cut. Forced tokens are no decisions, so the log-probabilities stay exact."""
    from gym_reason.grammar import shortest_closing

    left = policy.max_new_tokens - len(row.tokens)
    if left > CLOSING_DEPTH + 1 + CLOSING_SLACK:
        return False
    assert row.cursor is not None
    matcher = row.cursor.matcher_now()
    closing = shortest_closing(matcher, policy.closing_tokens(), min(left - 1, CLOSING_DEPTH), few=CLOSING_FEW)
    if closing is None or len(closing) + 1 + CLOSING_SLACK < left:
        return False
    for token in closing:
        _take(policy, row, token, end)
    if not row.done:  # a grammar that could go on ends at EOS
        _take(policy, row, policy.tokenizer.eos_token_id, end)
    return True


def _take(policy: LMPolicy, row: _Row, token: int, end: Sequence[int], check: bool = True) -> None:
    """Append ``token`` to the row and see whether the row is over (a grammar row: unless ``check`` is false,
    and the caller asks its cursor)."""
    row.tokens.append(token)
    row.pending.append(token)
    if row.cursor is not None:
        row.cursor.advance(token)
        if check:
            row.done = row.cursor.mask() is None
    elif token in end:
        row.done = True
    elif row.stops and any(stop[-1] in policy.token_text(token) for stop in row.stops):
        text = policy.tokenizer.decode(row.tokens, skip_special_tokens=True)
        row.done = any(stop in text for stop in row.stops)


def _answer_starts(grammar: ActionGrammar | Sequence[str] | None) -> str:
    """The characters a string of the row's grammar begins with (think mode: the first one ends the thinking)."""
    from gym_reason.grammar import first_bytes

    grammar = as_grammar(grammar)
    return "" if grammar is None else first_bytes(grammar).decode("latin-1")


def _count_thinking(policy: LMPolicy, row: _Row, token: int, starts: str) -> None:
    if any(ch in starts for ch in policy.token_text(token)):
        row.answering = True
        return
    row.thinking += 1
    row.budget_out = row.thinking >= policy.think_tokens


def _completion(policy: LMPolicy, row: _Row, end: Sequence[int]) -> Completion:
    text = policy.tokenizer.decode([t for t in row.tokens if t not in end], skip_special_tokens=True)
    return Completion(
        text=text,
        prompt_ids=row.prompt_ids,
        completion_ids=row.tokens,
        decisions=row.decisions,
        logprobs=row.logprobs,
        budget_out=row.budget_out,
        truncated=row.truncated,
    )


def end_ids(model: Any, tokenizer: Any) -> list[int]:
    """The tokens that end a free completion: the tokenizer's EOS and the model's own (chat models often
    end a turn with a token other than the tokenizer's EOS, listed in their ``generation_config``)."""
    ids = [tokenizer.eos_token_id]
    extra = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    for token in extra if isinstance(extra, (list, tuple)) else [extra]:
        if token is not None and token not in ids:
            ids.append(int(token))
    return ids
