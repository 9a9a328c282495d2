"""Decoding through the grammar engine: constrained replies are strings of the grammar, think replies are free text
then a string of the grammar inside the answer mark, free replies stop where the answer format ends.

The KV-cached forward behind decoding gives each row what a full forward of its sequence gives.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

import pytest
import torch

import gym_reason
from gym_reason import grammar as grammar_engine
from gym_reason.core import ACTION_GRAMMAR, INVALID_ACTION, ActionGrammar, AnswerFormat
from gym_reason.policy import action_grammar
from gym_reason.policy.decoding import allowed_tokens, draw_tokens
from gym_reason.policy.forward import IncrementalForward, logits_at
from tests.policy.cases import KUHN, LEGAL_SETS, kuhn_prompts, tiny

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BRACKET = AnswerFormat.named("bracket")


def last_logits(model, sequences, pad):
    return logits_at(model, sequences, [(i, len(s) - 1) for i, s in enumerate(sequences)], pad)


def test_constrained_decoding_only_produces_strings_of_the_grammar():
    policy = tiny()
    prompts = [f"p{i % 7}|" * (1 + i % 5) for i in range(300)]
    legal = [LEGAL_SETS[i % len(LEGAL_SETS)] for i in range(300)]
    completions = policy.sample(prompts, legal, torch.Generator().manual_seed(0))
    seen: dict[int, set[str]] = {}
    for i, completion in enumerate(completions):
        assert completion.text in legal[i]
        assert policy.tokenizer.decode(completion.completion_ids) == completion.text  # over where the grammar is
        assert len(completion.logprobs) == len(completion.decisions)
        for position, allowed in completion.decisions:
            options = allowed_tokens(allowed)
            assert len(options) > 1 and completion.completion_ids[position] in options
        seen.setdefault(i % len(LEGAL_SETS), set()).add(completion.text)
    assert all(seen[k] == set(LEGAL_SETS[k]) for k in range(len(LEGAL_SETS)))  # every answer gets sampled
    assert completions[len(LEGAL_SETS) - 1].decisions == []  # "[only]" is forced


def test_decisions_hold_compact_shared_masks():
    """A decision keeps a packed bitmask (a bit per token), one shared object per distinct mask, not a token tuple."""
    policy = tiny()
    completions = policy.sample(["kuhn|0|"] * 50, [["[check]", "[bet]"]] * 50, torch.Generator().manual_seed(0))
    masks = [allowed for c in completions for _, allowed in c.decisions]
    assert len(masks) == 50 and all(isinstance(m, bytes) and len(m) == 4 * ((259 + 31) // 32) for m in masks)
    assert len({id(m) for m in masks}) == 1
    check, bet = (policy.tokenizer(w, add_special_tokens=False)["input_ids"][0] for w in ("c", "b"))
    assert allowed_tokens(masks[0]) == sorted([check, bet])


def test_a_kuhn_decision_costs_one_model_call():
    """Forced tokens ('[', then the rest of the word and EOS) cost no forward pass."""
    policy = tiny()
    calls = []
    hook = policy.model.register_forward_hook(lambda *_: calls.append(1))
    try:
        prompts, legal = kuhn_prompts(policy)
        completions = policy.sample(prompts, legal, torch.Generator().manual_seed(0))
    finally:
        hook.remove()
    assert len(calls) == 1 and all(len(c.decisions) == 1 for c in completions)


def test_negotiation_moves_are_decoded_from_their_grammar_and_played_as_valid_moves():
    """Simple Negotiation lists no legal answers: its context-free grammar is what holds the model. A talk
    message is free text that random weights seldom end by chance: it is closed as the budget runs out."""
    policy = tiny(max_new_tokens=48)  # the budget of configs/selfplay_negotiation.yaml
    envs = [gym_reason.make("gym_reason/SimpleNegotiation-v0") for _ in range(16)]
    for seed, env in enumerate(envs):
        env.reset(seed=seed)
    replies = Counter()
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        turns = [(env, *env.last()) for env in envs]
        grammars = [action_grammar(info) for *_, info in turns]
        assert all(
            g is info[ACTION_GRAMMAR] and g.kind == "lark" for g, (*_, info) in zip(grammars, turns, strict=True)
        )
        prompts = [policy.prompt("SimpleNegotiation-v0", obs, info) for _, obs, *_, info in turns]
        for (env, *_), grammar, completion in zip(
            turns, grammars, policy.sample(prompts, grammars, generator), strict=True
        ):
            assert grammar_engine.accepts(grammar, completion.text), completion.text
            assert not completion.truncated and len(completion.completion_ids) <= 48
            agent = env.agent_selection
            env.step(completion.text)
            assert not env.infos[agent].get(INVALID_ACTION), completion.text
            replies[completion.text.split()[0]] += 1
    assert {"[talk:", "[offer:"} <= set(replies), replies


@pytest.mark.parametrize("budget", [3, 40])
def test_think_replies_are_free_text_then_a_string_of_the_grammar(budget):
    policy = tiny(decoding="think", think_tokens=budget, max_new_tokens=80, temperature=0.8)
    prompts = [f"p{i}|" for i in range(40)]
    legal = [LEGAL_SETS[i % 4] for i in range(40)]
    completions = policy.sample(prompts, legal, torch.Generator().manual_seed(1), [BRACKET] * 40)
    for c, answers in zip(completions, legal, strict=True):
        thinking, mark, answer = c.text.rpartition("[")
        assert mark and "[" not in thinking and f"[{answer}" in answers, c.text
        assert BRACKET.wrap(BRACKET.extract(c.text)) in answers  # the env reads the grammar's answer
        assert not c.truncated
        start = next(
            j for j, t in enumerate(c.completion_ids) if "[" in policy.token_text(t)
        )  # the answer's first token
        thinking = sum(1 for position, _ in c.decisions if position < start)
        assert thinking <= budget and c.budget_out == (thinking == budget)
    outs = sum(c.budget_out for c in completions)
    # random weights write '[' by chance about once in 180 tokens: 3 tokens of thinking nearly always run
    # out, 40 tokens in about 80% of replies; the others began their answer on their own
    assert outs >= 35 if budget == 3 else 20 <= outs < 40, outs


def test_think_mode_needs_a_grammar_whose_answers_begin_with_a_mark():
    policy = tiny(decoding="think")
    with pytest.raises(ValueError, match=r"begin with a mark.*'0123456789'.*decoding='constrained'"):
        policy.sample(["p|"], [ActionGrammar.regex(r"[0-9]+")], torch.Generator().manual_seed(0))


def test_free_completions_stop_at_the_closing_mark_eos_or_budget():
    policy = tiny(decoding="free", max_new_tokens=48)
    tokenizer = policy.tokenizer
    eos = tokenizer.eos_token_id
    prompts = [f"{i}|" * (1 + i % 9) for i in range(64)]
    completions = policy.sample(prompts, [["[a]", "[b]"]] * 64, torch.Generator().manual_seed(4), [BRACKET] * 64)
    ends = Counter()
    for c in completions:
        ids = c.completion_ids
        assert len(ids) == len(c.logprobs) == len(c.decisions) and 1 <= len(ids) <= 48
        assert all(allowed is None for _, allowed in c.decisions)  # the whole vocabulary
        assert eos not in ids[:-1]
        assert "]" not in tokenizer.decode(ids[:-1], skip_special_tokens=True)  # nothing after the first "]"
        if ids[-1] == eos:
            ends["eos"] += 1
        elif tokenizer.decode(ids).endswith("]"):
            ends["closer"] += 1
            assert c.text.endswith("]")
        else:
            assert len(ids) == 48 and c.truncated
            ends["budget"] += 1
    assert ends["budget"] and ends["closer"] and ends["eos"], ends


def test_rows_without_a_grammar_are_free_in_every_mode_and_stop_at_their_own_marks():
    """A batch mixing envs: bracket rows stop at ``]``, rows whose format stops elsewhere (code replies)
    must not be cut at the ``]`` of their neighbours."""
    policy = tiny(max_new_tokens=48)  # constrained, but these rows declare no grammar
    code = dataclasses.replace(BRACKET, stop_after=("```\n",))
    prompts = [f"{i}|" * (1 + i % 9) for i in range(64)]
    formats = [BRACKET if i % 2 else code for i in range(64)]
    completions = policy.sample(prompts, [None] * 64, torch.Generator().manual_seed(4), formats)
    eos = policy.tokenizer.eos_token_id
    code_rows = [c for i, c in enumerate(completions) if i % 2 == 0]
    assert all(c.completion_ids[-1] == eos or len(c.completion_ids) == 48 for c in code_rows)
    assert any("]" in c.text[:-1] for c in code_rows)
    assert all(
        c.completion_ids[-1] == eos or len(c.completion_ids) == 48 or c.text.endswith("]")
        for i, c in enumerate(completions)
        if i % 2
    )


def test_sampling_is_deterministic_under_a_seed():
    policy = tiny(decoding="think", think_tokens=6, max_new_tokens=30)
    prompts, legal = kuhn_prompts(policy)
    first, second = (policy.sample(prompts, legal, torch.Generator().manual_seed(9)) for _ in range(2))
    assert [c.completion_ids for c in first] == [c.completion_ids for c in second]
    assert [c.logprobs for c in first] == [c.logprobs for c in second]


def test_incremental_forward_gives_each_row_its_full_forward_logits():
    """Rows fed different numbers of tokens per call, dropped and forked, against one plain forward each."""
    policy = tiny()
    model, pad = policy.model, policy.tokenizer.pad_token_id
    sequences = [[5, 6, 7], [8], [9, 10, 11, 12, 13]]
    forward = IncrementalForward(model, pad)
    with torch.no_grad():
        got = forward.feed(sequences)
        assert torch.allclose(got, last_logits(model, sequences, pad), atol=1e-5)
        forward.select([2, 0, 0])  # drop row 1, fork row 0
        sequences = [sequences[2], sequences[0], sequences[0]]
        extra = [[1, 2], [3], [4, 5, 6]]
        got = forward.feed(extra)
        sequences = [s + e for s, e in zip(sequences, extra, strict=True)]
        assert torch.allclose(got, last_logits(model, sequences, pad), atol=1e-5)
        got = forward.feed([[7]] * 3)
        sequences = [[*s, 7] for s in sequences]
        assert torch.allclose(got, last_logits(model, sequences, pad), atol=1e-5)
    assert forward.calls == 3


def test_a_grammar_list_must_match_the_prompts():
    policy = tiny()
    with pytest.raises(ValueError, match="2 prompts but 1 grammars"):
        policy.sample(["a", "b"], [None], torch.Generator())


def test_kuhn_env_grammar_and_legal_answers_decode_alike():
    """The env's choice grammar and its legal-answer list are the same language: same draws under one seed."""
    policy = tiny()
    env = gym_reason.make(KUHN)
    env.reset(seed=0)
    obs, _, _, _, info = env.last()
    prompt = policy.prompt(KUHN, obs, info)
    by_grammar = policy.sample([prompt] * 20, [info[ACTION_GRAMMAR]] * 20, torch.Generator().manual_seed(3))
    by_list = policy.sample([prompt] * 20, [list(info["legal_actions"])] * 20, torch.Generator().manual_seed(3))
    assert [c.text for c in by_grammar] == [c.text for c in by_list]


def test_prefill_runs_a_long_common_prefix_once_and_each_distinct_prompt_once():
    policy = tiny()
    model, pad = policy.model, policy.tokenizer.pad_token_id
    rules = list(range(3, 43))  # 40 shared tokens (a chat template, the rules text)
    sequences = [[*rules, 50 + i % 9, 60 + i % 3] for i in range(30)]  # 9 distinct of 30
    forward = IncrementalForward(model, pad)
    with torch.no_grad():
        logits, inverse = forward.prefill(sequences)
        assert logits.shape[0] == forward.rows == 9 and forward.calls == 2  # the prefix, then the 9 tails
        assert torch.allclose(logits[torch.tensor(inverse)], last_logits(model, sequences, pad), atol=1e-5)
        forward.select(inverse)
        got = forward.feed([[7]] * 30)
    assert torch.allclose(got, last_logits(model, [[*s, 7] for s in sequences], pad), atol=1e-5)


def test_draw_tokens_samples_the_masked_softmax_exactly_and_never_a_masked_token():
    """Inverse-CDF draws: the recorded log-probability is log_softmax's, frequencies follow it, -inf never drawn."""
    logits = torch.tensor(
        [[0.3, -math.inf, 1.2, -0.5, -math.inf, 2.0], [-math.inf, 0.0, -math.inf, -math.inf, 0.5, 0.0]]
    )
    rows = logits.repeat(3000, 1)
    picks, logps = draw_tokens(rows, torch.Generator().manual_seed(0))
    expected = torch.log_softmax(rows, dim=-1).gather(1, torch.tensor(picks)[:, None]).squeeze(1)
    assert torch.isfinite(expected).all() and torch.allclose(torch.tensor(logps), expected, atol=1e-6)
    for r in range(2):
        counts = torch.bincount(torch.tensor(picks[r::2]), minlength=6) / 3000
        assert torch.allclose(counts, torch.softmax(logits[r], dim=-1), atol=0.03), (r, counts)
    assert draw_tokens(rows, torch.Generator().manual_seed(0))[0] == picks  # deterministic under a seed
    with pytest.raises(ValueError, match="allows no token"):
        draw_tokens(torch.full((1, 4), -math.inf), torch.Generator())


def test_masks_filled_in_parallel_are_those_of_each_matcher_alone(monkeypatch):
    """fill_masks (llguidance's executor, one call) gives each cursor the mask its own matcher computes, shares
    one mask among cursors in one state, and marks whole replies (no mask); forced over the tiny vocabulary."""
    from gym_reason.policy import decoding

    monkeypatch.setattr(decoding, "PARALLEL_VOCABULARY", 0)
    policy = tiny()
    env = gym_reason.make("gym_reason/SimpleNegotiation-v0")
    prefixes = ["", "[", "[talk: hi", "[talk: hi", "[offer: 1", "[offer: 2 wheat -> 3 o", "[talk: x]", "[offer: 1 "]
    cursors, alone = [], []
    for seed in range(3):
        env.reset(seed=seed)
        grammar = action_grammar(env.last()[4])
        for prefix in prefixes:
            for pair in (cursors, alone):
                cursor = policy.cursor(grammar)
                for token in policy.tokenizer(prefix, add_special_tokens=False)["input_ids"]:
                    cursor.advance(token)
                pair.append(cursor)
    policy.transitions.clear()
    decoding.fill_masks(policy, cursors)
    assert all(c.at == len(c.tokens) for c in cursors)  # every mask is kept: asking again costs nothing
    policy.transitions.clear()
    for cursor, reference in zip(cursors, alone, strict=True):
        assert cursor.kept == reference.matcher_now().compute_bitmask() if reference.mask() else cursor.kept is None
    assert cursors[2].kept is cursors[3].kept  # one state, one mask object
    assert cursors[6].kept is None  # "[talk: x]" is a whole move
