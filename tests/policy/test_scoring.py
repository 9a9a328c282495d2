"""Scoring: exact answer probabilities, and log-probabilities recomputed as sampling recorded them.

What makes the PPO ratio start at 1 is that the log-probabilities recorded while sampling equal
those :meth:`LMPolicy.score` recomputes under the same weights; these tests check that for both
decoding modes, with prompts of different lengths in one batch (generate left-pads, score right-pads).
"""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from tests.policy.cases import LEGAL_SETS, kuhn_prompts, tiny


@pytest.mark.parametrize("answers", [["[check]", "[bet]"], ["[a]", "[ab]", "[abc]", "[b]"], ["[é]", "[e]", "[ü]"]])
def test_answer_probabilities_sum_to_one_and_match_sampling(answers):
    # A low temperature sharpens the random-init model's near-uniform distribution, so a wrong
    # product along the trie (or a missed branch) shows up against the empirical frequencies.
    policy = tiny(temperature=0.02)
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
    policy = tiny(temperature=0.3)
    prompts = [f"kuhn_poker|player_{i % 2}|{i}|" for i in range(len(LEGAL_SETS))]
    batched = policy.answer_probabilities(prompts, LEGAL_SETS)
    for prompt, answers, together in zip(prompts, LEGAL_SETS, batched, strict=True):
        (alone,) = policy.answer_probabilities([prompt], [answers])
        assert together == pytest.approx(alone, abs=1e-6)  # float32 forwards of different batch shapes


def test_sequence_probabilities_are_the_normalised_continuation_probabilities():
    policy = tiny(temperature=0.7)
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


def test_constrained_logprobs_match_score():
    policy = tiny(temperature=0.7)
    prompts, legal = kuhn_prompts(policy)
    prompts += ["x|" * 40, "y|"]
    legal += [["[a]", "[ab]", "[abc]", "[b]"], ["[é]", "[e]", "[ü]"]]
    completions = policy.sample(prompts, legal, torch.Generator().manual_seed(2))
    scores = policy.score(completions)
    recorded = torch.tensor([lp for c in completions for lp in c.logprobs])
    assert scores.logprobs.shape == recorded.shape and len(recorded) >= len(prompts)
    assert torch.allclose(scores.logprobs.detach(), recorded, atol=1e-5)
    # the KL to a reference is over each decision's allowed tokens: zero to itself, positive to another model
    assert scores.kl is None
    same = policy.score(completions, reference=policy.model)
    assert torch.allclose(same.kl, torch.zeros_like(same.kl), atol=1e-6)
    other = tiny(temperature=0.7, seed=1)
    apart = policy.score(completions, reference=other.model)
    assert (apart.kl > 1e-4).all()
    # scoring one completion alone gives what it got inside the batch
    alone = policy.score(completions[-1:])
    assert torch.allclose(alone.logprobs, scores.logprobs[-len(completions[-1].logprobs) :], atol=1e-5)


def test_free_logprobs_match_score_with_left_padding():
    policy = tiny(constrained=False, temperature=0.8, max_new_tokens=24)
    prompts = ["kuhn_poker|player_0|1|", "x" * 90 + "|", "a much longer prompt " * 6, "y"]
    completions = policy.sample(prompts, [None] * len(prompts), torch.Generator().manual_seed(3))
    recorded = torch.tensor([lp for c in completions for lp in c.logprobs])
    scores = policy.score(completions)
    assert all(allowed is None for c in completions for _, allowed in c.decisions)  # the whole vocabulary
    assert torch.allclose(scores.logprobs.detach(), recorded, atol=1e-4), (scores.logprobs - recorded).abs().max()
