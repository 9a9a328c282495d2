"""Scoring: exact answer probabilities, and log-probabilities recomputed as sampling recorded them.

What makes the PPO ratio start at 1 is that the log-probabilities recorded while sampling equal
those :meth:`LMPolicy.score` recomputes under the same weights; these tests check that for every
decoding mode, with prompts of different lengths in one batch (decoding runs over a KV cache,
score right-pads whole sequences). Exact answer probabilities are checked against the trie decoder
they replaced and against what the engine samples.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

import gym_reason
from gym_reason.policy import scoring
from tests.policy.cases import LEGAL_SETS, kuhn_prompts, tiny
from tests.policy.trie_reference import trie_answer_probabilities

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def game_prompts(policy, env_id: str, deals: int) -> tuple[list[str], list[list[str]]]:
    """Prompts and legal answers along random plays of a few deals of a listed game."""
    import random

    env = gym_reason.make(env_id)
    rng = random.Random(0)
    prompts, legal = [], []
    for seed in range(deals):
        env.reset(seed=seed)
        while env.agents:
            obs, _, terminated, truncated, info = env.last()
            if terminated or truncated:
                env.step(None)
                continue
            prompts.append(policy.prompt(env_id, obs, info))
            legal.append(list(info["legal_actions"]))
            env.step(rng.choice(legal[-1]))
    return prompts, legal


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


@pytest.mark.parametrize("mode", ["constrained", "think", "free"])
def test_recorded_logprobs_are_those_score_recomputes(mode):
    """The first PPO ratio is 1 in every decoding mode: what sampling recorded, score() recomputes (1e-5)."""
    policy = tiny(temperature=0.7, decoding=mode, think_tokens=6, max_new_tokens=24)
    prompts, legal = kuhn_prompts(policy)
    prompts += ["x|" * 40, "y|"]
    legal += [["[a]", "[ab]", "[abc]", "[b]"], ["[é]", "[e]", "[ü]"]]
    completions = policy.sample(prompts, legal, torch.Generator().manual_seed(2))
    scores = policy.score(completions)
    recorded = torch.tensor([lp for c in completions for lp in c.logprobs])
    assert scores.logprobs.shape == recorded.shape and len(recorded) >= len(prompts)
    assert torch.allclose(scores.logprobs.detach(), recorded, atol=1e-5), (scores.logprobs - recorded).abs().max()
    if mode == "think":  # thinking, then a decision inside the answer
        assert all(len(c.decisions) > 1 and c.text.rpartition("[")[1:] and c.budget_out for c in completions[:4])
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


def test_free_logprobs_match_score_with_prompts_of_many_lengths():
    policy = tiny(decoding="free", temperature=0.8, max_new_tokens=24)
    prompts = ["kuhn_poker|player_0|1|", "x" * 90 + "|", "a much longer prompt " * 6, "y"]
    completions = policy.sample(prompts, [None] * len(prompts), torch.Generator().manual_seed(3))
    recorded = torch.tensor([lp for c in completions for lp in c.logprobs])
    scores = policy.score(completions)
    assert all(allowed is None for c in completions for _, allowed in c.decisions)  # the whole vocabulary
    assert torch.allclose(scores.logprobs.detach(), recorded, atol=1e-5), (scores.logprobs - recorded).abs().max()


def test_scoring_in_chunks_gives_the_values_and_gradients_of_one_chunk(monkeypatch):
    """score() holds one chunk of decisions x vocabulary at a time; the chunking changes nothing."""
    policy = tiny(temperature=0.9, decoding="think", think_tokens=5, max_new_tokens=16)
    prompts, legal = kuhn_prompts(policy)
    completions = policy.sample(prompts, legal, torch.Generator().manual_seed(5))
    reference = tiny(seed=2).model

    def run(elements: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        monkeypatch.setattr(scoring, "SCORE_CHUNK_ELEMENTS", elements)
        policy.model.zero_grad()
        scores = policy.score(completions, reference=reference)
        (scores.logprobs.sum() + scores.entropies.sum() + scores.kl.sum()).backward()
        grads = [p.grad.clone() for p in policy.model.parameters() if p.grad is not None]
        return [scores.logprobs.detach(), scores.entropies.detach(), scores.kl.detach()], grads

    whole, whole_grads = run(1 << 30)
    chunked, chunked_grads = run(259 * 3)  # three decisions per chunk
    assert sum(len(c.decisions) for c in completions) > 9
    for a, b in zip(whole, chunked, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
    for a, b in zip(whole_grads, chunked_grads, strict=True):  # float32 sums over chunks, in another order
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-5), (a - b).abs().max()


def test_score_never_builds_a_decisions_by_vocabulary_tensor(monkeypatch):
    """The output layer sees at most a chunk of decisions at a time (the largest logits tensor is one chunk's)."""
    policy = tiny(decoding="free", max_new_tokens=20)
    completions = policy.sample([f"{i}|" for i in range(16)], [None] * 16, torch.Generator().manual_seed(1))
    monkeypatch.setattr(scoring, "SCORE_CHUNK_ELEMENTS", 259 * 8)
    rows = []
    hook = policy.model.get_output_embeddings().register_forward_hook(lambda _m, _i, out: rows.append(out.shape[0]))
    try:
        scores = policy.score(completions)
        scores.logprobs.sum().backward()  # recomputes each chunk
    finally:
        hook.remove()
    # the first call is the model's own forward: its last position per sequence (16 rows), then chunks of 8
    assert rows[0] == 16 and len(scores.logprobs) > 100
    assert max(rows[1:]) <= 8 and len(rows) - 1 >= 2 * len(scores.logprobs) // 8


@pytest.mark.parametrize("game", ["KuhnPoker-v0", "LeducHoldem-v0", "LiarsDice-v0"])
def test_engine_answer_probabilities_equal_the_trie_decoders(game):
    """Exactness: the engine's tree walk (KV cache) and the old trie (full forwards) agree to 1e-9 in float64.
    In float32 they differ only by the forwards' rounding (~1e-7)."""
    policy = tiny(temperature=0.5)
    prompts, legal = game_prompts(policy, f"gym_reason/{game}", 6)
    policy.model.double()
    engine = policy.answer_probabilities(prompts, legal)
    trie = trie_answer_probabilities(policy, prompts, legal)
    for a, b in zip(engine, trie, strict=True):
        assert a.keys() == b.keys() and sum(a.values()) == pytest.approx(1.0, abs=1e-12)
        assert max(abs(a[k] - b[k]) for k in a) < 1e-9, (a, b)


def test_the_engine_samples_exactly_the_answer_probabilities():
    """Each sampled reply's recorded probability (the product of its decisions') is its answer probability."""
    policy = tiny(temperature=0.5)
    prompts, legal = game_prompts(policy, "gym_reason/LiarsDice-v0", 3)
    policy.model.double()
    exact = policy.answer_probabilities(prompts, legal)
    completions = policy.sample(prompts * 20, legal * 20, torch.Generator().manual_seed(0))
    for k, completion in enumerate(completions):
        recorded = math.exp(sum(completion.logprobs))
        assert recorded == pytest.approx(exact[k % len(prompts)][completion.text], abs=1e-9)
