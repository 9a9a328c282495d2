"""Batched forward passes that return logits only where they are needed.

Decoding needs the next-token logits after each sequence; scoring needs them at
every decision of every completion. Both go through :func:`logits_at`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def logits_at(
    model: Any, sequences: Sequence[Sequence[int]], positions: Sequence[tuple[int, int]], pad_token_id: int
) -> torch.Tensor:
    """Logits at ``positions`` (``(sequence index, token index)`` pairs), one row per pair.

    Identical sequences are run once (self-play batches repeat the same few positions many
    times; gradients still flow to every use), the batch is right-padded (causal, so padding
    is never attended), and the output layer is applied only at the requested positions.
    """
    unique: dict[tuple[int, ...], int] = {}
    inverse = [unique.setdefault(tuple(s), len(unique)) for s in sequences]
    ids, lengths = _right_pad(list(unique), pad_token_id, next(model.parameters()).device)
    mask = (torch.arange(ids.shape[1], device=ids.device) < lengths[:, None]).long()
    out = model(input_ids=ids, attention_mask=mask, output_hidden_states=True, logits_to_keep=1)
    hidden = out.hidden_states[-1]
    rows = torch.tensor([inverse[i] for i, _ in positions], device=hidden.device)
    cols = torch.tensor([p for _, p in positions], device=hidden.device)
    return model.get_output_embeddings()(hidden[rows, cols])


def last_logits(model: Any, sequences: Sequence[Sequence[int]], pad_token_id: int) -> torch.Tensor:
    """Next-token logits after each sequence."""
    return logits_at(model, sequences, [(i, len(s) - 1) for i, s in enumerate(sequences)], pad_token_id)


def _right_pad(
    sequences: Sequence[Sequence[int]], pad_token_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    lengths = torch.tensor([len(s) for s in sequences])
    ids = torch.full((len(sequences), int(lengths.max())), pad_token_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, dtype=torch.long)
    return ids.to(device), lengths.to(device)
