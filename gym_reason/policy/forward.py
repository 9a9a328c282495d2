"""Batched forward passes that return only what is needed.

* :func:`hidden_at`: the last layer's hidden states at chosen positions (scoring applies the output
  layer to them a chunk of decisions at a time, so no decisions x vocabulary tensor is ever whole);
* :class:`IncrementalForward`: next-token logits of many rows that grow a few tokens at a time, over a
  KV cache (decoding, and the tree walk of exact answer probabilities, where rows also fork).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers.modeling_outputs import CausalLMOutputWithPast

CACHE_KEYWORD = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"
"""The KV cache's name in a causal LM's forward and output: ``cache`` in recent transformers, ``past_key_values``
before (5.19, which vLLM's CPU build pins)."""


def hidden_at(
    model: Any, sequences: Sequence[Sequence[int]], positions: Sequence[tuple[int, int]], pad_token_id: int
) -> torch.Tensor:
    """The last hidden state at ``positions`` (``(sequence index, token index)`` pairs), one row per pair.

    Identical sequences are run once (self-play batches repeat the same few positions many
    times; gradients still flow to every use), and the batch is right-padded (causal, so padding
    is never attended). ``model.get_output_embeddings()`` of a row gives that position's logits.
    """
    unique: dict[tuple[int, ...], int] = {}
    inverse = [unique.setdefault(tuple(s), len(unique)) for s in sequences]
    ids, lengths = _right_pad(list(unique), pad_token_id, next(model.parameters()).device)
    mask = (torch.arange(ids.shape[1], device=ids.device) < lengths[:, None]).long()
    out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True, logits_to_keep=1)
    hidden = out.hidden_states[-1]
    rows = torch.tensor([inverse[i] for i, _ in positions], device=hidden.device)
    cols = torch.tensor([p for _, p in positions], device=hidden.device)
    return hidden[rows, cols]


def logits_at(
    model: Any, sequences: Sequence[Sequence[int]], positions: Sequence[tuple[int, int]], pad_token_id: int
) -> torch.Tensor:
    """Logits at ``positions`` (see :func:`hidden_at`), one row per pair: for a few positions only."""
    return model.get_output_embeddings()(hidden_at(model, sequences, positions, pad_token_id))


def _right_pad(
    sequences: Sequence[Sequence[int]], pad_token_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(s) for s in sequences])
    ids = torch.full((len(sequences), int(lengths.max())), pad_token_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return ids.to(device), lengths.to(device)


SHARED_PREFIX_SAVING = 256
"""How many token positions running the rows' common prefix once must save to be worth its own forward pass
(a real model's rules text always is; the tiny model's short state prompts of a dozen Kuhn states are not)."""


def _common_prefix(sequences: Sequence[Sequence[int]]) -> int:
    first = sequences[0]
    length = min(len(s) for s in sequences)
    for s in sequences[1:]:
        k = 0
        while k < length and s[k] == first[k]:
            k += 1
        length = k
    return length


class IncrementalForward:
    """Next-token logits of a batch of rows fed a few tokens at a time, over one KV cache.

    :meth:`feed` appends new tokens to every row and returns the logits after each row's last
    token; :meth:`select` keeps, drops, reorders or repeats rows (a finished row leaves the batch, a
    row forks into several). Rows of one call may get different numbers of tokens: each row's new
    tokens are right-aligned in the call and the slots before them are masked out for good, and
    position ids count each row's real tokens only, so every row computes what it would alone (up
    to float rounding), and the logits come from the last column only.
    """

    def __init__(self, model: Any, pad_token_id: int) -> None:
        self.model = model
        self.pad_token_id = pad_token_id
        self.device = next(model.parameters()).device
        self.cache: Any = None
        self.mask = torch.zeros((0, 0), dtype=torch.long, device=self.device)
        self.lengths = torch.zeros(0, dtype=torch.long, device=self.device)
        self.calls = 0
        """Forward passes run so far."""

    @property
    def rows(self) -> int:
        return int(self.lengths.shape[0])

    def feed(self, tokens: Sequence[Sequence[int]]) -> torch.Tensor:
        """Append ``tokens[r]`` (at least one token) to row ``r``, for every row; the next-token logits after each."""
        if self.cache is not None and len(tokens) != self.rows:
            raise ValueError(f"feed got tokens for {len(tokens)} rows, the cache holds {self.rows}")
        if any(not t for t in tokens):
            raise ValueError("every row must be fed at least one token")
        width = max(len(t) for t in tokens)
        pad = self.pad_token_id
        ids = torch.tensor([[pad] * (width - len(t)) + list(t) for t in tokens], dtype=torch.long, device=self.device)
        new = torch.tensor(
            [[0] * (width - len(t)) + [1] * len(t) for t in tokens], dtype=torch.long, device=self.device
        )
        lengths = self.lengths if self.cache is not None else torch.zeros(len(tokens), dtype=torch.long)
        lengths = lengths.to(self.device)
        positions = lengths[:, None] + (new.cumsum(1) - 1).clamp(min=0)
        mask = new if self.cache is None else torch.cat([self.mask, new], dim=1)
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            **{CACHE_KEYWORD: self.cache},
            use_cache=True,
            logits_to_keep=1,
        )
        self.calls += 1
        self.cache, self.mask, self.lengths = getattr(out, CACHE_KEYWORD), mask, lengths + new.sum(1)
        return out.logits[:, -1]

    def prefill(self, sequences: Sequence[Sequence[int]]) -> tuple[torch.Tensor, list[int]]:
        """The first :meth:`feed`, of each distinct sequence once, their longest common prefix (a chat template,
        the rules text) once for all of them: the logits after each distinct sequence, and for each of
        ``sequences`` the cache row (and logits row) that holds it."""
        if self.cache is not None:
            raise ValueError("prefill starts an empty cache; this one already holds rows (use feed)")
        unique: dict[tuple[int, ...], int] = {}
        inverse = [unique.setdefault(tuple(s), len(unique)) for s in sequences]
        distinct = [list(s) for s in unique]
        shared = _common_prefix(distinct) if len(distinct) > 1 else 0
        shared = min(shared, min(len(s) for s in distinct) - 1)  # every row keeps a token to feed
        if shared * (len(distinct) - 1) >= SHARED_PREFIX_SAVING:
            self.feed([distinct[0][:shared]])
            self.select([0] * len(distinct))
            distinct = [s[shared:] for s in distinct]
        return self.feed(distinct), inverse

    def select(self, rows: Sequence[int]) -> None:
        """Keep ``rows`` (indices into the current rows, in the new order; repeats fork a row)."""
        index = torch.tensor(list(rows), dtype=torch.long, device=self.device)
        if self.cache is not None:
            self.cache.reorder_cache(index)
        self.mask, self.lengths = self.mask[index], self.lengths[index]
