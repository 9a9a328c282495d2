"""Scoring: log-probabilities of sampled decisions (with gradients, for the update) and exact answer probabilities.

* :func:`score` recomputes every decision of a batch of completions under a model, so the
  policy-gradient loss has gradients and the first PPO ratio is exactly 1.
* :func:`answer_probabilities` is the exact distribution constrained decoding samples from,
  read along each answer's path in the trie (exploitability reads it).
* :func:`sequence_probabilities` is, for free-form models, each legal answer's probability as
  the start of the completion, normalised over the legal answers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch

from gym_reason.policy.decoding import Completion
from gym_reason.policy.forward import last_logits, logits_at

if TYPE_CHECKING:
    from gym_reason.policy.lm_policy import LMPolicy


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
    positions, chosen, allowed_lists, owner = [], [], [], []
    for k, c in enumerate(completions):
        start = len(c.prompt_ids) - 1  # logits at position t predict token t + 1
        for position, allowed in c.decisions:
            positions.append((k, start + position))
            chosen.append(c.completion_ids[position])
            allowed_lists.append(allowed)
            owner.append(k)
    device = policy.device
    if not positions:
        empty = torch.zeros(0, device=device)
        return Scores(
            empty, empty, torch.zeros(0, dtype=torch.long, device=device), None if reference is None else empty
        )
    picked = logits_at(model, sequences, positions, policy.tokenizer.pad_token_id).float() / policy.temperature
    reference_picked = None
    if reference is not None:
        with torch.no_grad():
            reference_picked = (
                logits_at(reference, sequences, positions, policy.tokenizer.pad_token_id).float() / policy.temperature
            )
    # One mask over the vocabulary per decision: the allowed tokens of a constrained decision,
    # everything for a free one, so both kinds share a batch (and a KL term).
    valid = torch.ones_like(picked, dtype=torch.bool)
    constrained_rows = [r for r, allowed in enumerate(allowed_lists) if allowed is not None]
    if constrained_rows:
        valid[constrained_rows] = False
        for r in constrained_rows:
            valid[r, list(allowed_lists[r])] = True  # type: ignore[arg-type]
    logp_all = torch.log_softmax(picked.masked_fill(~valid, -math.inf), dim=-1)
    target = torch.tensor(chosen, device=device)
    logprobs = logp_all.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    entropies = -(logp_all.exp() * logp_all.masked_fill(~valid, 0.0)).sum(-1)
    kl = None
    if reference_picked is not None:
        reference_logp = torch.log_softmax(reference_picked.masked_fill(~valid, -math.inf), dim=-1)
        # -inf - -inf outside the allowed tokens: zeroed before it meets a gradient
        difference = torch.where(valid, logp_all - reference_logp, torch.zeros_like(logp_all))
        kl = (logp_all.exp() * difference).sum(-1)
    return Scores(logprobs, entropies, torch.tensor(owner, device=device), kl)


@torch.no_grad()
def answer_probabilities(
    policy: LMPolicy, prompts: Sequence[str], legal: Sequence[Sequence[str]]
) -> list[dict[str, float]]:
    """The exact probability of each legal answer under constrained decoding (for exploitability).

    The product of the masked next-token probabilities along each answer's path in the trie,
    i.e. the distribution :func:`~gym_reason.policy.decoding.sample` draws from; the answers'
    probabilities sum to 1.
    """
    tokenizer = policy.tokenizer
    prompt_ids = [policy.encode_prompt(prompt) for prompt in prompts]
    eos = tokenizer.eos_token_id
    probs: list[dict[str, float]] = [{} for _ in prompts]
    # Breadth-first over the tries' branching nodes, all prompts together: one batched forward per depth.
    frontier = [(i, [], policy.answer_trie(answers), 1.0) for i, answers in enumerate(legal)]
    while frontier:
        branching = []
        for i, path, node, p in frontier:
            while len(node) == 1:
                ((token, node),) = node.items()
                path = [*path, token]
            if node:
                branching.append((i, path, node, p))
            else:
                text = tokenizer.decode([t for t in path if t != eos])
                probs[i][text] = probs[i].get(text, 0.0) + p
        frontier = []
        for start in range(0, len(branching), 256):
            chunk = branching[start : start + 256]
            logits = last_logits(
                policy.model, [prompt_ids[i] + path for i, path, _, _ in chunk], tokenizer.pad_token_id
            )
            for row, (i, path, node, p) in enumerate(chunk):
                allowed = list(node)
                q = torch.softmax(logits[row, allowed].double() / policy.temperature, dim=-1)
                frontier.extend((i, [*path, t], node[t], p * float(q[j])) for j, t in enumerate(allowed))
    return [{a: found.get(a, 0.0) for a in answers} for found, answers in zip(probs, legal, strict=True)]


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
