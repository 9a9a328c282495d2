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
import json
import random
from collections.abc import Sequence

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
def _engine_entry(grammar: ActionGrammar) -> str:
    """The grammar as one entry of llguidance's grammar list (JSON text; a finite set becomes a regex of alternatives)."""
    if not isinstance(grammar, ActionGrammar):
        raise TypeError(f"expected an ActionGrammar, got {type(grammar).__name__}: {grammar!r}")
    if grammar.kind is GrammarKind.CHOICE:
        text = llguidance.LLMatcher.grammar_from_regex("|".join(map(regex_literal, grammar.choices)))
    elif grammar.kind is GrammarKind.REGEX:
        text = llguidance.LLMatcher.grammar_from_regex(grammar.source)
    elif grammar.kind is GrammarKind.JSON_SCHEMA:
        text = llguidance.LLMatcher.grammar_from_json_schema(grammar.source)
    else:
        return json.dumps({"lark_grammar": grammar.source})
    (entry,) = json.loads(text)["grammars"]
    entry.pop("name", None)
    return json.dumps(entry)


@functools.lru_cache(maxsize=4096)
def engine_grammar(grammar: ActionGrammar) -> str:
    """The grammar as llguidance's ``LLMatcher`` takes it.

    Raises:
        ValueError: the engine cannot read the grammar; the message quotes the engine's error.
    """
    text = f'{{"grammars": [{_engine_entry(grammar)}]}}'
    _validate(text, grammar)
    return text


THINK_RULE = "thinking"
"""The name of the free-text rule of :func:`think_grammar`."""


@functools.lru_cache(maxsize=4096)
def think_grammar(grammar: ActionGrammar, budget: int) -> str:
    """Free thinking of at most ``budget`` tokens, then a string of ``grammar`` (llguidance grammar text).

    The thinking may hold any character except those a string of ``grammar`` can begin with (a game's
    ``[``, a code block's backtick, a JSON object's ``{``): the first such character the model writes
    begins its answer, so where the thinking ends is never ambiguous, and the env, which reads the
    last marked answer (or the code block), reads the answer the grammar held the model to. Once the
    thinking has ``budget`` tokens the grammar lets the model only begin the answer.

    >>> text = think_grammar(ActionGrammar.choice(["[check]", "[bet]"]), 64)
    >>> "thinking[max_tokens=64]" in text
    True

    Raises:
        ValueError: ``budget`` is below 1, or a string of ``grammar`` can begin with a letter, a digit,
            whitespace or a non-ASCII character, so no thinking could be told apart from the answer.
    """
    if not isinstance(budget, int) or budget < 1:
        raise ValueError(f"the thinking budget must be a positive number of tokens, got {budget!r} (e.g. 128)")
    starts = first_bytes(grammar)
    unmarked = bytes(b for b in starts if b >= 0x80 or not chr(b).isprintable() or chr(b).isalnum() or chr(b).isspace())
    if unmarked or not starts:
        raise ValueError(
            f"think mode needs an answer grammar whose strings begin with a mark (such as '[' or '```'); this "
            f"{grammar.kind} grammar's strings may begin with {unmarked.decode('latin-1')!r}, so free thinking could "
            "not be told apart from the answer. Decode it with decoding='constrained' (or 'free')."
        )
    excluded = "".join(f"\\x{{{b:02x}}}" for b in sorted(starts))
    lark = f"start: {THINK_RULE} @answer\n{THINK_RULE}[max_tokens={budget}]: /[^{excluded}]*/\n"
    thinking = json.dumps({"name": "think", "lark_grammar": lark})
    text = f'{{"grammars": [{thinking}, {{"name": "answer", {_engine_entry(grammar)[1:]}]}}'  # the entry, named
    _validate(text, grammar)
    return text


def first_bytes(grammar: ActionGrammar) -> bytes:
    """The bytes a string of ``grammar`` can begin with.

    >>> first_bytes(ActionGrammar.choice(["[check]", "[bet]"]))
    b'['
    """
    mask = _matcher(grammar).compute_bitmask()
    return bytes(b for b in range(256) if mask[b >> 3] >> (b & 7) & 1)


def _validate(text: str, grammar: ActionGrammar) -> None:
    message = llguidance.LLMatcher.validate_grammar(text, byte_tokenizer())
    if message:
        raise ValueError(f"llguidance cannot read this {grammar.kind} grammar: {message}\n{grammar.source[:2000]}")


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


def shortest_closing(
    m: llguidance.LLMatcher, tokens: Sequence[int], depth: int = CLOSING_DEPTH, *, few: int = 0, limit: int = 4000
) -> list[int] | None:
    """The shortest sequence of ``tokens`` (and of tokens the grammar forces; at most ``depth`` in all) that makes
    the text of matcher ``m`` a whole string of its grammar (breadth first over at most ``limit`` states; ``[]``
    if it already is), or ``None``. With ``few``, a sequence may also take, at two places at most, any token
    where the grammar allows at most ``few`` (a digit, the first letter of a name).

    Decoders close a reply that is running out of tokens with it (``tokens``: the model's tokens of
    :data:`CLOSING_BYTES`; ``few`` lets it finish an offer's quantity and resource name); :func:`sample`
    closes an over-long walk with it.
    """
    if m.is_accepting():
        return []
    frontier = [(m, [], 0)]
    seen = 0
    for _ in range(depth):
        grown = []
        for node, path, spent in frontier:
            mask = node.compute_bitmask()
            word = int.from_bytes(mask, "little")
            count = word.bit_count()
            options = [(t, spent) for t in tokens if t >> 3 < len(mask) and mask[t >> 3] >> (t & 7) & 1]
            if count == 1:
                options = [(word.bit_length() - 1, spent)]  # forced
            elif count <= few and spent < 2:
                listed = {t for t, _ in options}
                options += [(t, spent + 1) for t in range(len(mask) * 8) if word >> t & 1 and t not in listed]
            for token, used in options:
                child = node.deep_copy()
                child.consume_token(token)
                if child.is_accepting():
                    return [*path, token]
                grown.append((child, [*path, token], used))
                seen += 1
                if seen >= limit:
                    return None
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
                tail = shortest_closing(m, CLOSING_BYTES)
                if tail is not None:
                    found.append((out + bytes(tail)).decode("utf-8"))
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
