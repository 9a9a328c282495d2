"""The tiny built-in model: a byte-level tokenizer and a 2-layer GPT-2, both built in code (no download).

Small enough to learn Kuhn Poker from scratch on a laptop CPU, with decoding constrained to the
env's action grammar and the compact ``state`` prompt layout.
"""

from __future__ import annotations

from typing import Any

import torch

from gym_reason.policy.lm_policy import LMPolicy


def byte_tokenizer() -> Any:
    """A byte-level tokenizer built in code: one token per UTF-8 byte plus ``<pad>``, ``<eos>``, ``<bos>``.

    >>> tok = byte_tokenizer()
    >>> ids = tok("[bet]", add_special_tokens=False)["input_ids"]
    >>> len(ids), tok.decode(ids), len(tok)
    (5, '[bet]', 259)
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    core = Tokenizer(models.BPE(vocab={ch: i for i, ch in enumerate(alphabet)}, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        clean_up_tokenization_spaces=False,
    )
    return tokenizer


def tiny_model(tokenizer: Any, *, layers: int = 2, dim: int = 64, heads: int = 4, context: int = 256, seed: int = 0):
    """A randomly initialised GPT-2 (``layers`` x ``dim``) for ``tokenizer``, built in code, dropout off."""
    from transformers import GPT2Config, GPT2LMHeadModel

    if dim % heads:
        raise ValueError(f"tiny model dim ({dim}) must be a multiple of heads ({heads}); e.g. dim=64, heads=4")
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=context,
        n_embd=dim,
        n_layer=layers,
        n_head=heads,
        activation_function="gelu",  # torch's fused GELU; GPT-2's tanh form is several Python-level ops
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return GPT2LMHeadModel(config)


TINY_CONTEXT = 512
"""The most prompt tokens the tiny model keeps (its prompts are short ``state`` keys)."""


def tiny_policy(
    *,
    seed: int = 0,
    layers: int = 2,
    dim: int = 64,
    heads: int = 4,
    context: int = TINY_CONTEXT,
    max_new_tokens: int = 256,
    layout: str = "state",
    decoding: str = "constrained",
    think_tokens: int = 128,
    temperature: float = 1.0,
    system_prompt: str | None = None,
    device: torch.device | str = "cpu",
) -> LMPolicy:
    """A fresh tiny model (seeded weights) as a policy; ``context`` is capped at :data:`TINY_CONTEXT`.

    The model's position table covers the kept prompt plus a whole free completion.
    """
    tokenizer = byte_tokenizer()
    context = min(context, TINY_CONTEXT)
    model = tiny_model(tokenizer, layers=layers, dim=dim, heads=heads, context=context + max_new_tokens, seed=seed)
    model.to(device).eval()
    policy = LMPolicy(
        model,
        tokenizer,
        layout=layout,
        decoding=decoding,
        think_tokens=think_tokens,
        max_new_tokens=max_new_tokens,
        context=context,
        temperature=temperature,
        system_prompt=system_prompt,
    )
    policy.source = {"model": None}
    return policy
