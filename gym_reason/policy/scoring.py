"""Scoring: log-probabilities of sampled decisions (with gradients, for the update) and exact answer probabilities.

* :func:`score` recomputes every decision of a batch of completions under a model, so the
  policy-gradient loss has gradients and the first PPO ratio is exactly 1. It never holds a
  decisions x vocabulary tensor for the whole batch: the output layer runs on a chunk of decisions
  at a time (:data:`SCORE_CHUNK_ELEMENTS`), each chunk reduced to its decisions' log-probability,
  entropy and KL (gather - logsumexp over the allowed tokens) and recomputed in the backward pass
  (activation checkpointing), so the memory of the output layer is one chunk's.
* :func:`answer_probabilities` is the exact distribution constrained decoding samples from: a walk
  over the tree of every token path the grammar engine allows, over a KV cache.
* :func:`sequence_probabilities` is, for free-form models, each legal answer's probability as
  the start of the completion, normalised over the legal answers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.checkpoint import checkpoint

from gym_reason.core import ActionGrammar
from gym_reason.policy.decoding import Completion, GrammarCursor, widen
from gym_reason.policy.forward import IncrementalForward, hidden_at, logits_at

if TYPE_CHECKING:
    from gym_reason.policy.lm_policy import LMPolicy

SCORE_CHUNK_ELEMENTS = 1 << 22
"""How many logits (decisions x vocabulary) :func:`score` holds at once: 16 MiB of float32, ~85 decisions
of a 49k vocabulary, the whole batch for the tiny model's 259 tokens."""


@dataclasses.dataclass
class Scores:
    """Decisions scored under a model, flat over all decisions of a batch of completions, in order.

    ``owner[k]`` is the index of the completion decision ``k`` belongs to; ``kl[k]`` is the exact
    ``KL(policy || reference)`` of decision ``k`` over the tokens it could choose, when
    :func:`score` was given a ``reference`` model (``None`` otherwise; no gradient flows into
    the reference).
    """

    logprobs: torch.Tensor
    entropies: torch.Tensor
    owner: torch.Tensor
    kl: torch.Tensor | None = None


def score(policy: LMPolicy, completions: Sequence[Completion], *, model: Any = None, reference: Any = None) -> Scores:
    """Every decision of ``completions`` under the model, with gradients (see :class:`Scores`).

    ``model`` defaults to the policy's own; pass another to score the same decisions under it.
    ``reference`` (a frozen model, e.g. the magnet) adds each decision's KL to it.
    """
    model = policy.model if model is None else model
    sequences = [c.prompt_ids + c.completion_ids for c in completions]
    positions, chosen, masks, owner = [], [], [], []
    for k, c in enumerate(completions):
        start = len(c.prompt_ids) - 1  # logits at position t predict token t + 1
        for position, allowed in c.decisions:
            positions.append((k, start + position))
            chosen.append(c.completion_ids[position])
            masks.append(allowed)
            owner.append(k)
    device = policy.device
    owners = torch.tensor(owner, dtype=torch.long, device=device)
    if not positions:
        empty = torch.zeros(0, device=device)
        return Scores(empty, empty, owners, None if reference is None else empty)
    pad = policy.tokenizer.pad_token_id
    hidden = hidden_at(model, sequences, positions, pad)
    reference_hidden = None
    if reference is not None:
        with torch.no_grad():
            reference_hidden = hidden_at(reference, sequences, positions, pad)
    head = model.get_output_embeddings()
    reference_head = None if reference is None else reference.get_output_embeddings()
    width = int(head.weight.shape[0])
    size = max(1, SCORE_CHUNK_ELEMENTS // width)
    targets = torch.tensor(chosen, dtype=torch.long, device=device)
    parts: list[tuple[torch.Tensor, ...]] = []
    for begin in range(0, len(positions), size):
        end = begin + size
        packed, whole = _pack(masks[begin:end], width, device)
        args = (hidden[begin:end], packed, whole, targets[begin:end])
        if reference_hidden is not None:
            args = (*args, reference_hidden[begin:end])

        def stats(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
            return _decision_stats(head, reference_head, width, policy.temperature, *tensors)

        if torch.is_grad_enabled() and hidden.requires_grad:
            parts.append(checkpoint(stats, *args, use_reentrant=False))
        else:
            parts.append(stats(*args))
    logprobs = torch.cat([p[0] for p in parts])
    entropies = torch.cat([p[1] for p in parts])
    kl = torch.cat([p[2] for p in parts]) if reference is not None else None
    return Scores(logprobs, entropies, owners, kl)


def _pack(masks: Sequence[bytes | None], width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """A chunk's packed masks as one ``(decisions, bytes)`` uint8 tensor, and which decisions allow everything."""
    size = (width + 7) // 8
    packed = torch.zeros((len(masks), size), dtype=torch.uint8)
    for row, mask in enumerate(masks):
        if mask is not None:
            data = torch.frombuffer(bytearray(mask[:size]), dtype=torch.uint8)
            packed[row, : len(data)] = data
    whole = torch.tensor([mask is None for mask in masks], dtype=torch.bool)
    return packed.to(device), whole.to(device)


def _decision_stats(
    head: Any,
    reference_head: Any,
    width: int,
    temperature: float,
    hidden: torch.Tensor,
    packed: torch.Tensor,
    whole: torch.Tensor,
    targets: torch.Tensor,
    reference_hidden: torch.Tensor | None = None,
) -> tuple[torch.Tensor, ...]:
    """Log-probability of the chosen token, entropy and KL to the reference, over each decision's allowed tokens."""
    bits = torch.arange(8, dtype=torch.uint8, device=packed.device)
    valid = ((packed.unsqueeze(-1) >> bits) & 1).bool().reshape(packed.shape[0], -1)[:, :width] | whole[:, None]
    logits = (widen(head(hidden)) / temperature).masked_fill(~valid, -math.inf)
    logp = logits - torch.logsumexp(logits, dim=-1, keepdim=True)
    chosen = logp.gather(1, targets[:, None]).squeeze(1)
    prob = logp.exp()
    finite = logp.masked_fill(~valid, 0.0)  # -inf outside the allowed tokens: zeroed before it meets a product
    entropy = -(prob * finite).sum(-1)
    if reference_hidden is None:
        return chosen, entropy, torch.zeros_like(entropy)
    with torch.no_grad():
        reference_logits = (widen(reference_head(reference_hidden)) / temperature).masked_fill(~valid, -math.inf)
        reference_logp = (reference_logits - torch.logsumexp(reference_logits, dim=-1, keepdim=True)).masked_fill(
            ~valid, 0.0
        )
    kl = (prob * (finite - reference_logp)).sum(-1)
    return chosen, entropy, kl


@torch.no_grad()
def answer_probabilities(
    policy: LMPolicy, prompts: Sequence[str], legal: Sequence[Sequence[str]], max_rows: int = 512
) -> list[dict[str, float]]:
    """The exact probability of each legal answer under constrained decoding (for exploitability).

    A walk over the tree of token paths the grammar engine allows for the choice of ``legal[i]``
    (forced positions skipped, as decoding skips them), each edge weighted by the masked next-token
    probability: the probability of a leaf is the product along its path, i.e. exactly what
    :func:`~gym_reason.policy.decoding.sample` draws; paths that spell the same answer (a real
    tokenizer can write it in several ways) add up. The answers' probabilities sum to 1. The tree is
    walked depth by depth over a KV cache: each prompt is encoded once and each node adds only its
    new tokens. Prompts go in groups of at most ``max_rows`` answers at a time.
    """
    results: list[dict[str, float]] = []
    group: list[int] = []
    answers = 0
    for i, options in enumerate(legal):
        if not options:
            raise ValueError(f"prompt #{i} lists no legal answers; answer probabilities need at least one")
        if group and answers + len(options) > max_rows:
            results.extend(_walk(policy, [prompts[j] for j in group], [legal[j] for j in group]))
            group, answers = [], 0
        group.append(i)
        answers += len(options)
    if group:
        results.extend(_walk(policy, [prompts[j] for j in group], [legal[j] for j in group]))
    return results


@dataclasses.dataclass
class _Node:
    prompt: int
    cursor: GrammarCursor
    pending: list[int]
    probability: float
    mask: bytes = b""


def _walk(policy: LMPolicy, prompts: Sequence[str], legal: Sequence[Sequence[str]]) -> list[dict[str, float]]:
    found: list[dict[str, float]] = [{} for _ in prompts]
    eos = set(policy.end_ids())

    def grow(node: _Node) -> _Node | None:
        """Take the node's forced tokens; the node if it branches, else ``None`` (its leaf is recorded)."""
        while True:
            mask = node.cursor.mask()
            if mask is None:
                path = [t for t in node.cursor.tokens if t not in eos]
                text = policy.tokenizer.decode(path, skip_special_tokens=True)
                found[node.prompt][text] = found[node.prompt].get(text, 0.0) + node.probability
                return None
            word = int.from_bytes(mask, "little")
            if word & (word - 1):
                node.mask = mask
                return node
            if not word:
                raise RuntimeError(f"the grammar engine allows no token after {list(node.cursor.tokens)}")
            token = word.bit_length() - 1
            node.cursor.advance(token)
            node.pending.append(token)

    frontier = []
    for i, (prompt, options) in enumerate(zip(prompts, legal, strict=True)):
        cursor = policy.cursor(ActionGrammar.choice(options), "constrained")
        node = grow(_Node(i, cursor, list(policy.encode_prompt(prompt)), 1.0))
        if node is not None:
            frontier.append(node)
    forward = IncrementalForward(policy.model, policy.tokenizer.pad_token_id)
    if frontier:
        logits, inverse = forward.prefill([node.pending for node in frontier])
        logits = logits[torch.tensor(inverse, device=logits.device)]
        rows = inverse
    while frontier:
        children, parents = [], []
        for row, node in enumerate(frontier):
            allowed = policy.allowed(node.mask)
            q = torch.softmax(logits[row, allowed].double() / policy.temperature, dim=-1).tolist()
            for token, probability in zip(allowed, q, strict=True):
                child = grow(_Node(node.prompt, node.cursor.fork(token), [token], node.probability * probability))
                if child is not None:
                    children.append(child)
                    parents.append(rows[row])
        frontier = children
        if frontier:
            forward.select(parents)
            logits = forward.feed([node.pending for node in frontier])
            rows = list(range(len(frontier)))
    return [{a: table.get(a, 0.0) for a in options} for table, options in zip(found, legal, strict=True)]


@torch.no_grad()
def sequence_probabilities(
    policy: LMPolicy, prompts: Sequence[str], legal: Sequence[Sequence[str]], batch_size: int = 64
) -> list[dict[str, float]]:
    """Each legal answer's probability as a free-form continuation, normalised over the legal answers.

    The probability that the model (at its sampling temperature) starts its completion with the
    answer's tokens, as the tokenizer writes the answer; other spellings of the same move are not
    counted. For models that answer free-form, where :func:`answer_probabilities` does not apply.
    """
    tokenizer = policy.tokenizer
    rows: list[tuple[int, str, list[int], int]] = []  # (prompt index, answer, sequence, prompt length)
    for i, (prompt, answers) in enumerate(zip(prompts, legal, strict=True)):
        prompt_ids = policy.encode_prompt(prompt)
        for answer in answers:
            answer_ids = tokenizer(answer, add_special_tokens=False)["input_ids"]
            rows.append((i, answer, prompt_ids + answer_ids, len(prompt_ids)))
    logps: list[float] = []
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        positions = [(k, t - 1) for k, (_, _, seq, n) in enumerate(chunk) for t in range(n, len(seq))]
        targets = [seq[t] for _, _, seq, n in chunk for t in range(n, len(seq))]
        sequences = [seq for _, _, seq, _ in chunk]
        logits = logits_at(policy.model, sequences, positions, tokenizer.pad_token_id).double()
        token_logp = torch.log_softmax(logits / policy.temperature, dim=-1)
        token_logp = token_logp.gather(-1, torch.tensor(targets, device=logits.device)[:, None]).squeeze(-1)
        owner = torch.tensor([k for k, (_, _, seq, n) in enumerate(chunk) for _ in range(n, len(seq))])
        totals = torch.zeros(len(chunk), dtype=torch.float64).index_add_(0, owner, token_logp.cpu())
        logps.extend(totals.tolist())
    results: list[dict[str, float]] = [{} for _ in prompts]
    for (i, answer, _, _), logp in zip(rows, logps, strict=True):
        results[i][answer] = logp
    for i, table in enumerate(results):
        if table:
            top = max(table.values())
            weights = {a: math.exp(v - top) for a, v in table.items()}
            total = sum(weights.values())
            results[i] = {a: w / total for a, w in weights.items()}
    return results
