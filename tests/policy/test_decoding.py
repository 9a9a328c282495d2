"""Decoding: trie-constrained sampling yields only legal answers; free sampling stops where the answer format ends.

The forward pass behind both (right-padded, deduplicated) gives a prompt the same logits alone or in a batch.
"""

from __future__ import annotations

from collections import Counter

import torch

from gym_reason.core import AnswerFormat
from gym_reason.policy.forward import last_logits
from tests.policy.cases import LEGAL_SETS, tiny


def test_trie_decoding_only_produces_legal_answers():
    policy = tiny()
    prompts = [f"p{i % 7}|" * (1 + i % 5) for i in range(300)]
    legal = [LEGAL_SETS[i % len(LEGAL_SETS)] for i in range(300)]
    completions = policy.sample(prompts, legal, torch.Generator().manual_seed(0))
    seen: dict[int, set[str]] = {}
    for i, completion in enumerate(completions):
        assert completion.text in legal[i]
        assert completion.completion_ids[-1] == policy.tokenizer.eos_token_id
        assert len(completion.logprobs) == len(completion.decisions)
        for position, allowed in completion.decisions:
            assert len(allowed) > 1 and completion.completion_ids[position] in allowed
        seen.setdefault(i % len(LEGAL_SETS), set()).add(completion.text)
    assert all(seen[k] == set(LEGAL_SETS[k]) for k in range(len(LEGAL_SETS)))  # every answer gets sampled
    assert completions[len(LEGAL_SETS) - 1].decisions == []  # "[only]" is forced


def test_free_completions_stop_at_the_closing_mark_or_eos_and_hold_no_padding():
    """generate() pads rows that finished early; those pads are not the policy's decisions."""
    policy = tiny(constrained=False, max_new_tokens=48)
    tokenizer = policy.tokenizer
    eos = tokenizer.eos_token_id
    assert eos != tokenizer.pad_token_id  # so padding kept after a stop would show as tokens after it
    prompts = [f"{i}|" * (1 + i % 9) for i in range(64)]
    formats = [AnswerFormat.named("bracket")] * len(prompts)
    completions = policy.sample(prompts, [None] * len(prompts), torch.Generator().manual_seed(4), formats)
    ends = Counter()
    for c in completions:
        ids = c.completion_ids
        assert len(ids) == len(c.logprobs) == len(c.decisions) and 1 <= len(ids) <= 48
        assert eos not in ids[:-1]
        assert "]" not in tokenizer.decode(ids[:-1], skip_special_tokens=True)  # nothing after the first "]"
        if ids[-1] == eos:
            ends["eos"] += 1
        elif tokenizer.decode(ids).endswith("]"):
            ends["closer"] += 1
            assert c.text.endswith("]")
        else:
            assert len(ids) == 48
            ends["budget"] += 1
    # the batch mixed rows that stopped early with rows that ran to the budget (so padding happened)
    assert ends["budget"] and ends["closer"] and ends["eos"], ends


def test_each_row_stops_only_at_its_own_formats_stop_strings():
    """A batch mixing envs: bracket rows stop at ``]``, rows whose format stops elsewhere (code replies)
    must not be cut at the ``]`` of their neighbours (generate() applies a batch's stop strings to every row)."""
    import dataclasses

    policy = tiny(constrained=False, max_new_tokens=48)
    code = dataclasses.replace(AnswerFormat.named("bracket"), stop_after=("```\n",))
    prompts = [f"{i}|" * (1 + i % 9) for i in range(64)]
    formats = [AnswerFormat.named("bracket") if i % 2 else code for i in range(64)]
    completions = policy.sample(prompts, [None] * 64, torch.Generator().manual_seed(4), formats)
    eos = policy.tokenizer.eos_token_id
    code_rows = [c for i, c in enumerate(completions) if i % 2 == 0]
    # Code rows run to EOS or the budget; with random weights some contain "]" without stopping there.
    assert all(c.completion_ids[-1] == eos or len(c.completion_ids) == 48 for c in code_rows)
    assert any("]" in c.text[:-1] for c in code_rows)
    assert all(
        c.completion_ids[-1] == eos or len(c.completion_ids) == 48 or c.text.endswith("]")
        for i, c in enumerate(completions)
        if i % 2
    )


def test_logits_do_not_depend_on_padding_or_batch():
    """A prompt alone and in a batch with longer prompts (right padding) gives the same next-token logits."""
    policy = tiny()
    short = policy.encode_prompt("kuhn_poker|player_0|1|")
    longer = [policy.encode_prompt("x" * n + "|kuhn|") for n in (30, 70, 150)]
    alone = last_logits(policy.model, [short], policy.tokenizer.pad_token_id)[0]
    batched = last_logits(policy.model, [*longer, short, longer[0]], policy.tokenizer.pad_token_id)[3]
    assert torch.allclose(alone, batched, atol=1e-5), (alone - batched).abs().max()
