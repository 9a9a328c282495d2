"""The trie decoder's exact answer probabilities, as gym-reason computed them before the grammar engine.

A reference to test the engine against: the legal answers' canonical token sequences (each ended by
EOS) as a trie, each prompt's full sequence run from scratch at every branching node (no KV cache),
the probability of an answer the product of the masked next-token probabilities along its path.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gym_reason.policy import LMPolicy
from gym_reason.policy.forward import logits_at


def answer_trie(tokenizer, answers: Sequence[str]) -> dict:
    trie: dict = {}
    for answer in answers:
        node = trie
        for token in [*tokenizer(answer, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]:
            node = node.setdefault(token, {})
    return trie


@torch.no_grad()
def trie_answer_probabilities(
    policy: LMPolicy, prompts: Sequence[str], legal: Sequence[Sequence[str]]
) -> list[dict[str, float]]:
    tokenizer = policy.tokenizer
    eos = tokenizer.eos_token_id
    probs: list[dict[str, float]] = [{} for _ in prompts]
    frontier = [(i, [], answer_trie(tokenizer, answers), 1.0) for i, answers in enumerate(legal)]
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
        if not branching:
            break
        sequences = [policy.encode_prompt(prompts[i]) + path for i, path, _, _ in branching]
        logits = logits_at(
            policy.model, sequences, [(k, len(s) - 1) for k, s in enumerate(sequences)], tokenizer.pad_token_id
        )
        for row, (i, path, node, p) in enumerate(branching):
            allowed = list(node)
            q = torch.softmax(logits[row, allowed].double() / policy.temperature, dim=-1)
            frontier.extend((i, [*path, t], node[t], p * float(q[j])) for j, t in enumerate(allowed))
    return [{a: found.get(a, 0.0) for a in answers} for found, answers in zip(probs, legal, strict=True)]
