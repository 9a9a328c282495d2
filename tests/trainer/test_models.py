"""The tiny model's policy: byte tokenizer, trie decoding, exact answer probabilities, padding, log-prob bookkeeping.

What makes the PPO ratio start at 1 is that the log-probabilities recorded while sampling equal
those :meth:`LMPolicy.score` recomputes under the same weights; these tests check that for both
decoding modes, with prompts of different lengths in one batch (generate left-pads, score right-pads).
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch

import gym_reason
from gym_reason.core import AnswerFormat
from gym_reason.trainer.config import load_config
from gym_reason.trainer.models import LMPolicy, _plain_copy, build_policy, byte_tokenizer, tiny_model

KUHN = "gym_reason/KuhnPoker-v0"


def _policy(**overrides) -> LMPolicy:
    return build_policy(load_config(overrides={"seed": 3, **overrides}))


def _kuhn_prompts(policy: LMPolicy, seeds=range(4)) -> tuple[list[str], list[list[str]]]:
    """Prompts and legal answers of the first decision of a few Kuhn deals, plus a second-round decision."""
    env = gym_reason.make(KUHN)
    prompts, legal = [], []
    for seed in seeds:
        env.reset(seed=seed)
        for _ in range(2):  # the first player's turn, then the second player's facing a bet
            obs, _, _, _, info = env.last()
            prompts.append(policy.prompt(KUHN, obs, info))
            legal.append(list(info["legal_actions"]))
            env.step("[bet]" if "[bet]" in info["legal_actions"] else info["legal_actions"][0])
    return prompts, legal


@pytest.mark.parametrize(
    "text",
    ["[bet]", "", "a", "héllo wörld", "日本語 [call]", "emoji 🃏 card", "tabs\tand\nnewlines  ", "\\boxed{fold}"],
)
def test_byte_tokenizer_round_trip(text):
    tokenizer = byte_tokenizer()
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text.encode("utf-8"))  # one token per byte
    assert tokenizer.decode(ids) == text
    assert {tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id}.isdisjoint(ids)


LEGAL_SETS = [
    ["[check]", "[bet]"],
    ["[fold]", "[call]"],
    ["[a]", "[ab]", "[abc]", "[b]"],  # answers that are prefixes of each other (before the closing mark)
    ["[é]", "[e]", "[ü]"],  # multi-byte answers share their first byte
    ["[only]"],  # a forced answer: no decision at all
]


def test_trie_decoding_only_produces_legal_answers():
    policy = _policy()
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


@pytest.mark.parametrize("answers", [["[check]", "[bet]"], ["[a]", "[ab]", "[abc]", "[b]"], ["[é]", "[e]", "[ü]"]])
def test_answer_probabilities_sum_to_one_and_match_sampling(answers):
    # A low temperature sharpens the random-init model's near-uniform distribution, so a wrong
    # product along the trie (or a missed branch) shows up against the empirical frequencies.
    policy = _policy(temperature=0.02)
    prompt = "kuhn_poker|player_0|1|"
    (exact,) = policy.answer_probabilities([prompt], [answers])
    assert set(exact) == set(answers)
    assert sum(exact.values()) == pytest.approx(1.0, abs=1e-9)
    assert max(exact.values()) - min(exact.values()) > 0.1  # not uniform: the comparison means something
    n = 2000
    completions = policy.sample([prompt] * n, [answers] * n, torch.Generator().manual_seed(1))
    counts = Counter(c.text for c in completions)
    for answer in answers:
        assert counts[answer] / n == pytest.approx(exact[answer], abs=0.05), (answer, counts, exact)


def test_answer_probabilities_of_a_batch_equal_those_of_each_prompt_alone():
    policy = _policy(temperature=0.3)
    prompts = [f"kuhn_poker|player_{i % 2}|{i}|" for i in range(len(LEGAL_SETS))]
    batched = policy.answer_probabilities(prompts, LEGAL_SETS)
    for prompt, answers, together in zip(prompts, LEGAL_SETS, batched, strict=True):
        (alone,) = policy.answer_probabilities([prompt], [answers])
        assert together == pytest.approx(alone, abs=1e-6)  # float32 forwards of different batch shapes


def test_sequence_probabilities_are_the_normalised_continuation_probabilities():
    policy = _policy(temperature=0.7)
    prompt, answers = "kuhn_poker|player_0|1|", ["[check]", "[bet]", "[b]"]
    (probs,) = policy.sequence_probabilities([prompt], [answers])
    prompt_ids = policy.encode_prompt(prompt)
    logp = {}
    for answer in answers:
        ids = prompt_ids + policy.tokenizer(answer, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = policy.model(input_ids=torch.tensor([ids])).logits[0].double() / 0.7
        steps = torch.log_softmax(logits[len(prompt_ids) - 1 : -1], dim=-1)
        logp[answer] = float(steps.gather(-1, torch.tensor(ids[len(prompt_ids) :])[:, None]).sum())
    total = sum(torch.tensor(list(logp.values())).exp().tolist())
    for answer in answers:
        assert probs[answer] == pytest.approx(float(torch.tensor(logp[answer]).exp()) / total, rel=1e-5)
    assert sum(probs.values()) == pytest.approx(1.0)


def test_logits_do_not_depend_on_padding_or_batch():
    """A prompt alone and in a batch with longer prompts (right padding) gives the same next-token logits."""
    policy = _policy()
    short = policy.encode_prompt("kuhn_poker|player_0|1|")
    longer = [policy.encode_prompt("x" * n + "|kuhn|") for n in (30, 70, 150)]
    alone = policy._last_logits([short])[0]
    batched = policy._last_logits([*longer, short, longer[0]])[3]
    assert torch.allclose(alone, batched, atol=1e-5), (alone - batched).abs().max()


def test_constrained_logprobs_match_score():
    policy = _policy(temperature=0.7)
    prompts, legal = _kuhn_prompts(policy)
    prompts += ["x|" * 40, "y|"]
    legal += [["[a]", "[ab]", "[abc]", "[b]"], ["[é]", "[e]", "[ü]"]]
    completions = policy.sample(prompts, legal, torch.Generator().manual_seed(2))
    scores = policy.score(completions)
    recorded = torch.tensor([lp for c in completions for lp in c.logprobs])
    assert scores.logprobs.shape == recorded.shape and len(recorded) >= len(prompts)
    assert torch.allclose(scores.logprobs.detach(), recorded, atol=1e-5)
    # each decision's distribution lives on its allowed tokens only and sums to 1
    assert torch.allclose(scores.distributions.exp().sum(-1), torch.ones(len(recorded)), atol=1e-5)
    assert not scores.valid.all()
    # scoring one completion alone gives what it got inside the batch
    alone = policy.score(completions[-1:])
    assert torch.allclose(alone.logprobs, scores.logprobs[-len(completions[-1].logprobs) :], atol=1e-5)


def test_free_logprobs_match_score_with_left_padding():
    policy = _policy(constrained=False, temperature=0.8, max_new_tokens=24)
    prompts = ["kuhn_poker|player_0|1|", "x" * 90 + "|", "a much longer prompt " * 6, "y"]
    completions = policy.sample(prompts, [None] * len(prompts), torch.Generator().manual_seed(3))
    recorded = torch.tensor([lp for c in completions for lp in c.logprobs])
    scores = policy.score(completions)
    assert scores.valid.all()  # free decisions range over the whole vocabulary
    assert torch.allclose(scores.logprobs.detach(), recorded, atol=1e-4), (scores.logprobs - recorded).abs().max()


def test_free_completions_stop_at_the_closing_mark_or_eos_and_hold_no_padding():
    """generate() pads rows that finished early; those pads are not the policy's decisions."""
    policy = _policy(constrained=False, max_new_tokens=48)
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

    policy = _policy(constrained=False, max_new_tokens=48)
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


def test_plain_copy_is_the_same_model_and_saves(tmp_path):
    from transformers import AutoModelForCausalLM

    tokenizer = byte_tokenizer()
    model = tiny_model(tokenizer, seed=5).eval()
    copy = _plain_copy(model).eval()
    ids = torch.tensor([tokenizer("kuhn|player_0|2|", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, copy(input_ids=ids).logits)
        copy.save_pretrained(tmp_path)
        reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
        assert torch.equal(reloaded(input_ids=ids).logits, copy(input_ids=ids).logits)
