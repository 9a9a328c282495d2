"""The tiny built-in model: its byte tokenizer round-trips any text, one token per byte."""

from __future__ import annotations

import pytest

from gym_reason.policy.tiny import byte_tokenizer


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
