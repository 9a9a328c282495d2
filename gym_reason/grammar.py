"""Action grammars through a grammar engine: compile, test membership, sample.

An :class:`~gym_reason.core.ActionGrammar` is data; this module hands it to `llguidance
<https://github.com/guidance-ai/llguidance>`_, the engine behind vLLM's, SGLang's and
llama.cpp's structured outputs. llguidance was chosen over xgrammar and outlines-core because
it reads all four kinds natively (Lark context-free grammars with regex terminals, regexes,
JSON schemas; a finite set becomes a regex), builds a matcher in about a millisecond with no
per-grammar precompilation over the vocabulary (grammars change every turn here), and works
with any tokenizer, including the byte-level one below: xgrammar's grammars are EBNF (no Lark),
and outlines-core compiles only regexes and JSON schemas, to an index over the whole vocabulary.

Everything here runs over a **byte-level tokenizer** (token ``b`` is the byte ``b``, 256 is the
end): :func:`accepts` asks whether a whole text is in the language, :func:`sample` draws random
derivations by walking random allowed bytes. A model's decoder builds its own matcher from
:func:`engine_grammar` and its own tokenizer, ``llguidance.LLMatcher(llguidance.hf.from_tokenizer(tok),
engine_grammar(g))`` (memoised: grammars are hashable and games repeat them), masks the logits
with the matcher's bitmask and ``consume_token`` s what it samples. Since a grammar's strings
hold their answer marks (``[bet]``) and free text in them never holds a mark's character, a
"think, then answer" decoder may write free text and then a string of a game's grammar: the
env reads the last marked answer, which is that string's (the code envs read every code block,
so there the thinking must hold no fence).
"""

from __future__ import annotations

import functools
import random

import llguidance

from gym_reason.core import ActionGrammar, GrammarKind, regex_literal

_END = 256  # the byte tokenizer's end-of-text token


class _ByteTokens:
    """A tokenizer whose tokens are the 256 bytes, plus an end token."""

    eos_token_id = _END
    bos_token_id = None
    tokens = (*(bytes([b]) for b in range(256)), b"<end>")
    special_token_ids = (_END,)

    def __call__(self, text: str | bytes) -> list[int]:
        return list(text if isinstance(text, bytes) else text.encode("utf-8"))


@functools.cache
def byte_tokenizer() -> llguidance.LLTokenizer:
    """The byte-level llguidance tokenizer (built once)."""
    return llguidance.LLTokenizer(llguidance.TokenizerWrapper(_ByteTokens()))


@functools.lru_cache(maxsize=4096)
def engine_grammar(grammar: ActionGrammar) -> str:
    """The grammar as llguidance's ``LLMatcher`` takes it (a finite set becomes a regex of alternatives).

    Raises:
        ValueError: the engine cannot read the grammar; the message quotes the engine's error.
    """
    if not isinstance(grammar, ActionGrammar):
        raise TypeError(f"expected an ActionGrammar, got {type(grammar).__name__}: {grammar!r}")
    if grammar.kind is GrammarKind.CHOICE:
        text = llguidance.LLMatcher.grammar_from_regex("|".join(map(regex_literal, grammar.choices)))
    elif grammar.kind is GrammarKind.REGEX:
        text = llguidance.LLMatcher.grammar_from_regex(grammar.source)
    elif grammar.kind is GrammarKind.JSON_SCHEMA:
        text = llguidance.LLMatcher.grammar_from_json_schema(grammar.source)
    else:
        text = llguidance.LLMatcher.grammar_from_lark(grammar.source)
    message = llguidance.LLMatcher.validate_grammar(text, byte_tokenizer())
    if message:
        raise ValueError(f"llguidance cannot read this {grammar.kind} grammar: {message}\n{grammar.source[:2000]}")
    return text


@functools.lru_cache(maxsize=4096)
def _matcher(grammar: ActionGrammar) -> llguidance.LLMatcher:
    return llguidance.LLMatcher(byte_tokenizer(), engine_grammar(grammar), log_level=0)


def matcher(grammar: ActionGrammar) -> llguidance.LLMatcher:
    """A fresh llguidance matcher of ``grammar`` over the byte tokenizer (a copy of a cached one)."""
    return _matcher(grammar).deep_copy()


def accepts(grammar: ActionGrammar, text: str) -> bool:
    """Whether the whole of ``text`` is a string of ``grammar``.

    >>> accepts(ActionGrammar.choice(["[check]", "[bet]"]), "[bet]")
    True
    >>> accepts(ActionGrammar.regex(r"\\[(check|bet)\\]"), "I bet: [bet]")
    False
    """
    if grammar.kind is GrammarKind.CHOICE and text in grammar.choices:
        return True  # the engine agrees (tests check it); this skips building a matcher
    data = text.encode("utf-8")
    m = matcher(grammar)
    if m.validate_tokens(list(data)) != len(data):
        return False
    m.consume_tokens(list(data))
    return m.is_accepting()


CLOSING_BYTES = b'\n`"]})0a '
"""The bytes a walk that is out of length may close with: what ends code fences, JSON, lists, answers."""
CLOSING_DEPTH = 5


def _closing(m: llguidance.LLMatcher) -> bytes | None:
    """The shortest bytes of :data:`CLOSING_BYTES` that make the text of matcher ``m`` whole (breadth first)."""
    if m.is_accepting():
        return b""
    frontier = [(m, b"")]
    for _ in range(CLOSING_DEPTH):
        grown = []
        for node, path in frontier:
            mask = node.compute_bitmask()
            for byte in CLOSING_BYTES:
                if mask[byte >> 3] >> (byte & 7) & 1:
                    child = node.deep_copy()
                    child.consume_token(byte)
                    if child.is_accepting():
                        return path + bytes([byte])
                    grown.append((child, path + bytes([byte])))
        frontier = grown
    return None


def sample(
    grammar: ActionGrammar, rng: random.Random, count: int, *, stop: float = 0.3, max_bytes: int = 400
) -> list[str]:
    """``count`` random strings of ``grammar`` (every string of a finite set, in order, when ``count``
    is at least its size).

    A string grows one allowed byte at a time, uniformly among the bytes the grammar allows next;
    where the text so far is already a whole string it stops with probability ``stop``. Once it
    has ``max_bytes`` bytes it ends at the next point where it is whole, or by the shortest closing
    of at most :data:`CLOSING_DEPTH` bytes of :data:`CLOSING_BYTES` (a random walk rarely writes
    the closing fence of a code block by chance); a walk that finds none is dropped and drawn again.

    Raises:
        ValueError: no whole string could be drawn in ``20 * count`` walks.
    """
    if grammar.kind is GrammarKind.CHOICE and count >= len(grammar.choices):
        return list(grammar.choices)
    base = _matcher(grammar)
    found: list[str] = []
    for _ in range(20 * count):
        if len(found) == count:
            break
        m = base.deep_copy()
        out = bytearray()
        while True:
            accepting = m.is_accepting()
            if accepting and (len(out) >= max_bytes or rng.random() < stop):
                found.append(out.decode("utf-8"))
                break
            if len(out) >= max_bytes:
                tail = _closing(m)
                if tail is not None:
                    found.append((out + tail).decode("utf-8"))
                break
            mask = m.compute_bitmask()
            allowed = [b for b in range(256) if mask[b >> 3] >> (b & 7) & 1]
            if not allowed:
                if accepting:
                    found.append(out.decode("utf-8"))
                break
            byte = rng.choice(allowed)
            m.consume_token(byte)
            out.append(byte)
    if len(found) < count:
        raise ValueError(
            f"drew only {len(found)} of {count} whole strings of this {grammar.kind} grammar in {20 * count} walks "
            f"of about {max_bytes} bytes: {grammar.source[:300] or grammar.choices[:20]}"
        )
    return found
