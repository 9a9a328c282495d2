"""Tool calls: the two written forms, parallel calls, validation messages and the reply grammar."""

from __future__ import annotations

import json
import random

import pytest

from gym_reason import grammar
from gym_reason.core import AnswerFormat
from gym_reason.envs.tool_calls import (
    MAX_REPLY_CHARS,
    Param,
    ToolCall,
    ToolSpec,
    call_grammar,
    parse_reply,
    render_call,
    tools_prompt,
    validate_call,
)

BRACKET, BOXED = AnswerFormat.named("bracket"), AnswerFormat.named("boxed")
TOOLS = (
    ToolSpec(
        "convert",
        "convert money",
        (
            ("amount", Param("number", "how much", minimum=-1e6, maximum=1e6)),
            ("currency", Param("string", "to which", enum=("EUR", "USD"))),
        ),
    ),
    ToolSpec("count", "count", (("n", Param("integer", "n", minimum=0, maximum=10)),)),
    ToolSpec("note", "free text", (("text", Param("string", "text", max_length=30)), ("flag", Param("boolean", "f")))),
    ToolSpec("answer", "final", (("value", Param("string", "the answer", max_length=20)),), final=True),
)
TABLE = {t.name: t for t in TOOLS}


def parse(text: str, fmt: AnswerFormat = BRACKET, max_calls: int = 4):
    return parse_reply(text, fmt, TABLE, max_calls=max_calls)


def test_marker_form_reads_the_last_marked_call_after_thinking():
    reply = parse(
        'I could [{"name": "count", "arguments": {"n": 1}}] but rather [{"name":"count","arguments":{"n":2}}]'
    )
    assert reply.ok and reply.style == "marker"
    assert reply.calls == (ToolCall("count", {"n": 2}),)


def test_boxed_form_and_nested_json_with_closing_marks_inside_strings():
    text = r'so \boxed{{"name": "note", "arguments": {"text": "a } b ] c", "flag": false}}}'
    reply = parse(text, BOXED)
    assert reply.ok, reply.error
    assert reply.calls[0].arguments == {"text": "a } b ] c", "flag": False}


def test_hermes_blocks_are_parallel_calls_run_in_order():
    text = (
        '<tool_call>{"name": "count", "arguments": {"n": 3}}</tool_call>\n'
        '<tool_call>\n{"name": "convert", "arguments": {"currency": "EUR", "amount": 2.5}}\n</tool_call>'
    )
    reply = parse(text)
    assert reply.ok and reply.style == "hermes"
    assert [c.name for c in reply.calls] == ["count", "convert"]
    # Arguments come back in the declared order, whatever order the model wrote them in.
    assert list(reply.calls[1].arguments) == ["amount", "currency"]


def test_too_many_parallel_calls_is_invalid():
    block = '<tool_call>{"name": "count", "arguments": {"n": 1}}</tool_call>'
    assert parse(block * 3, max_calls=3).ok
    reply = parse(block * 4, max_calls=3)
    assert not reply.ok and "4 calls in one reply; at most 3" in reply.error


def test_final_call_must_be_alone():
    both = (
        '<tool_call>{"name": "count", "arguments": {"n": 1}}</tool_call>'
        '<tool_call>{"name": "answer", "arguments": {"value": "1"}}</tool_call>'
    )
    reply = parse(both)
    assert not reply.ok and "'answer' ends the episode and must be the only call" in reply.error
    two_answers = '<tool_call>{"name": "answer", "arguments": {"value": "1"}}</tool_call>' * 2
    assert not parse(two_answers).ok


def test_a_hermes_tag_inside_a_marked_string_argument_does_not_switch_forms():
    reply = parse('[{"name": "note", "arguments": {"text": "<tool_call>", "flag": true}}]')
    assert reply.ok and reply.style == "marker"


def test_malformed_hermes_block_is_reported():
    reply = parse("<tool_call>{not json}</tool_call>")
    assert not reply.ok and "not one JSON object" in reply.error


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no call at all", "no tool call was found; write one as ["),
        (
            '[{"name": "fly", "arguments": {}}]',
            "unknown tool 'fly'; the tools are ['answer', 'convert', 'count', 'note']",
        ),
        ('[{"name": "count", "arguments": {}}]', "tool 'count': missing argument(s) ['n']"),
        ('[{"name": "count", "arguments": {"n": true}}]', "argument 'n' must be an integer, got True"),
        ('[{"name": "count", "arguments": {"n": 2.5}}]', "argument 'n' must be an integer, got 2.5"),
        ('[{"name": "count", "arguments": {"n": 11}}]', "argument 'n' must be at most 10, got 11"),
        ('[{"name": "count", "arguments": {"n": 1, "m": 2}}]', 'unexpected argument(s) ["m"]'),
        ('[{"name": "convert", "arguments": {"amount": 1, "currency": "GBP"}}]', "must be one of ['EUR', 'USD']"),
        ('[{"name": "convert", "arguments": {"amount": NaN, "currency": "EUR"}}]', "no tool call was found"),
        ('[{"name": "note", "arguments": {"text": "' + "x" * 31 + '", "flag": true}}]', "at most 30 characters"),
        ('[{"name": "count", "arguments": [1]}]', '"arguments" must be a JSON object'),
        ('[{"name": "count", "arguments": {"n": 1}, "id": 7}]', 'it also has ["id"]'),
    ],
)
def test_invalid_calls_say_what_is_wrong(text, message):
    reply = parse(text)
    assert not reply.ok
    assert message in reply.error


def test_validate_call_accepts_exact_parameters():
    assert validate_call({"name": "count", "arguments": {"n": 0}}, TABLE) == ToolCall("count", {"n": 0})
    assert isinstance(validate_call("count", TABLE), str)


def test_overlong_reply_is_invalid_without_reading():
    call = '[{"name": "count", "arguments": {"n": 1}}]'
    assert parse("x" * (MAX_REPLY_CHARS - len(call)) + call).ok
    reply = parse("x" * MAX_REPLY_CHARS + call)
    assert not reply.ok and "characters long" in reply.error


def test_openai_schema_and_prompt():
    schema = TOOLS[0].openai_schema()
    assert schema["type"] == "function"
    params = schema["function"]["parameters"]
    assert params["required"] == ["amount", "currency"] and params["additionalProperties"] is False
    assert params["properties"]["currency"]["enum"] == ["EUR", "USD"]
    text = tools_prompt(TOOLS, BRACKET)
    assert all(json.loads(line)["type"] == "function" for line in text.splitlines()[1:5])


@pytest.mark.parametrize("fmt", [BRACKET, BOXED], ids=["bracket", "boxed"])
def test_grammar_strings_are_valid_calls_and_canonical_calls_are_in_the_grammar(fmt):
    g = call_grammar(TOOLS, fmt)
    assert call_grammar(TOOLS, fmt) is g  # memoised
    for text in grammar.sample(g, random.Random(0), 40, max_bytes=150):
        assert parse(text, fmt).ok, text
    for call in (ToolCall("count", {"n": 3}), ToolCall("convert", {"amount": -2.5, "currency": "USD"})):
        assert grammar.accepts(g, render_call(call, fmt))


@pytest.mark.parametrize(
    "text",
    [
        '[{"name": "count", "arguments": {"n": 11}}]',
        '[{"name": "count", "arguments": {"n": true}}]',
        '[{"name": "fly", "arguments": {}}]',
        '[{"name": "count", "arguments": {}}]',
        '[{"name": "note", "arguments": {"text": "' + "x" * 31 + '", "flag": true}}]',
        "no call",
    ],
)
def test_invalid_replies_lie_outside_the_grammar(text):
    assert not parse(text).ok
    assert not grammar.accepts(call_grammar(TOOLS, BRACKET), text)


def test_bad_tool_declarations_raise():
    with pytest.raises(ValueError, match="snake_case"):
        ToolSpec("Bad Name", "x")
    with pytest.raises(ValueError, match="must be one of"):
        Param("list", "x")
    with pytest.raises(ValueError, match="declares a parameter twice"):
        ToolSpec("t", "x", (("a", Param("string", "")), ("a", Param("string", ""))))
