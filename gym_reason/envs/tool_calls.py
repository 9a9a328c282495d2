"""Tool calls: how the tool envs describe their tools to a model and read the calls it writes.

**Describing.** A :class:`ToolSpec` is one tool: a name, a description and typed parameters
(:class:`Param`). :meth:`ToolSpec.openai_schema` gives it in OpenAI function-calling form
(``{"type": "function", "function": {"name", "description", "parameters": <JSON schema>}}``), the
form chat templates (``tools=``) and every function-calling model know; :func:`tools_prompt` writes
the whole list and the calling convention into an observation.

**Writing a call.** The documented form is one JSON object ``{"name": ..., "arguments": {...}}``
inside the env's answer marker::

    [{"name": "convert_currency", "arguments": {"amount": 12.5, "from_currency": "EUR", "to_currency": "JPY"}}]

(``\\boxed{{...}}`` with the boxed format). Models trained on Hermes-style templates (Qwen, Hermes,
many others) write ``<tool_call>{...}</tool_call>`` instead; that is read too. How a reply is read
(:func:`parse_reply`):

* if it holds ``<tool_call>`` blocks, each block is one call, in order: **parallel calls** are
  allowed this way, up to ``max_calls`` per reply; the env runs them in order and shows every
  result (a call that depends on another's result has to wait for the next turn, since the model
  cannot know it yet);
* otherwise the **last** marked JSON object is the call (one call per reply), so a model may
  think first, as with every answer marker.

**Validation.** A call names a tool of the env and gives exactly its parameters with the right
JSON types: strings, integers (``true`` is not an integer), finite numbers, booleans, a listed value
where the parameter has an ``enum``. Anything else (no call found, JSON that does not parse, an
unknown tool, a missing, unexpected or mistyped argument, more than ``max_calls`` calls) makes the
reply an **invalid action**: :attr:`ParsedReply.error` holds a message naming the problem and the
fix, which the env shows as the next observation. A *final* tool (``answer``, ``submit``) must be
the only call of its reply: a reply that answers several times at once is invalid, so a policy
cannot spread its bets over the candidates.

A well-formed call whose tool then fails (an unknown city in a look-up, a division by zero) is a
**tool error**, not an invalid action: implementations raise :class:`ToolError`, and envs score it
apart from wrong answers (``reward_components``).

**Grammar.** :func:`call_grammar` is the reply language as an :class:`~gym_reason.core.ActionGrammar`
(a Lark grammar whose body is a JSON schema, ``%json``): one call in the answer marker, compact
JSON with ``", "`` and ``": "`` separators and the arguments in the declared order; every string of
it is a valid call, and every invalid reply lies outside it (the parser reads a superset: any
spacing and key order, Hermes blocks, thinking before the call). Strings are bounded
(``max_length``) and numbers lie in their declared ranges, so a decoder held to it cannot write a
value the tool would reject for its type.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gym_reason.core import ActionGrammar, AnswerFormat, lark_literal, to_charset

JSON_TYPES = ("string", "integer", "number", "boolean")
"""The parameter types a tool may declare (JSON schema type names)."""

MAX_REPLY_CHARS = 20_000
"""A longer reply is invalid without being read: no call needs it, and it bounds parsing time."""

HERMES_OPEN, HERMES_CLOSE = "<tool_call>", "</tool_call>"


class ToolError(Exception):
    """Raised by a tool implementation for a well-formed call it cannot serve (unknown key, bad date,
    a value out of its table). The message is shown to the model as the call's result."""


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter of a tool.

    Args:
        type: one of :data:`JSON_TYPES`.
        description: what it means, for the model.
        enum: the only values allowed, where the set is fixed (unit names, table names).
        minimum, maximum: bounds of a number or integer (inclusive).
        max_length: the longest string allowed.
    """

    type: str
    description: str
    enum: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    max_length: int = 200

    def __post_init__(self) -> None:
        if self.type not in JSON_TYPES:
            raise ValueError(f"Param type must be one of {list(JSON_TYPES)}, got {self.type!r}")
        if self.enum is not None and (not self.enum or any(_type_error(v, self.type) for v in self.enum)):
            raise ValueError(f"Param enum must be a non-empty tuple of {self.type} values, got {self.enum!r}")

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.enum is not None:
            schema["enum"] = list(self.enum)
        if self.type in ("integer", "number"):
            if self.minimum is not None:
                schema["minimum"] = self.minimum
            if self.maximum is not None:
                schema["maximum"] = self.maximum
        if self.type == "string" and self.enum is None:
            schema["maxLength"] = self.max_length
        return schema

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not a valid value of this parameter, or ``None``."""
        wrong = _type_error(value, self.type)
        if wrong:
            return wrong
        if self.enum is not None and value not in self.enum:
            return f"must be one of {list(self.enum)}, got {_show(value)}"
        if self.type in ("integer", "number"):
            if self.minimum is not None and value < self.minimum:
                return f"must be at least {self.minimum:g}, got {_show(value)}"
            if self.maximum is not None and value > self.maximum:
                return f"must be at most {self.maximum:g}, got {_show(value)}"
        if self.type == "string" and len(value) > self.max_length:
            return f"must be at most {self.max_length} characters long, got {len(value)}"
        return None


def _type_error(value: Any, kind: str) -> str | None:
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value),
        "boolean": isinstance(value, bool),
    }[kind]
    return None if ok else f"must be {'an' if kind == 'integer' else 'a'} {kind}, got {_show(value)}"


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool: its name, what it does, its parameters (all required, in this order), and whether
    calling it ends the episode (``final``: the answer or submit tool)."""

    name: str
    description: str
    params: tuple[tuple[str, Param], ...] = ()
    final: bool = False

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", self.name):
            raise ValueError(f"tool name must be snake_case (at most 64 characters), got {self.name!r}")
        names = [n for n, _ in self.params]
        if len(set(names)) != len(names):
            raise ValueError(f"tool {self.name!r} declares a parameter twice: {names}")

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.params)

    def parameters_schema(self) -> dict[str, Any]:
        """The JSON schema of the ``arguments`` object."""
        return {
            "type": "object",
            "properties": {n: p.json_schema() for n, p in self.params},
            "required": list(self.param_names),
            "additionalProperties": False,
        }

    def openai_schema(self) -> dict[str, Any]:
        """The tool in OpenAI function-calling form (what ``tools=`` of a chat template takes)."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters_schema()},
        }


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A validated call: a tool name and its arguments (JSON values)."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """Compact canonical JSON, arguments in the order given (what :func:`call_grammar` holds).

        >>> ToolCall("add", {"a": 1, "b": 2}).to_json()
        '{"name": "add", "arguments": {"a": 1, "b": 2}}'
        """
        return json.dumps({"name": self.name, "arguments": dict(self.arguments)}, ensure_ascii=False)

    def key(self) -> tuple[str, tuple[tuple[str, Any], ...]]:
        """Hashable form, arguments sorted (for comparing calls; argument values are JSON scalars)."""
        return self.name, tuple(sorted(self.arguments.items()))


@dataclass(frozen=True, slots=True)
class ParsedReply:
    """What :func:`parse_reply` read: the calls, or why the reply is invalid."""

    calls: tuple[ToolCall, ...] = ()
    error: str | None = None
    style: str | None = None
    """``"marker"`` or ``"hermes"``: the form the calls were written in."""

    @property
    def ok(self) -> bool:
        return self.error is None


# --------------------------------------------------------------------------- reading replies


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _decode_at(text: str, start: int) -> tuple[Any, int] | None:
    """The JSON value starting at ``text[start]`` and where it ends, or ``None``."""
    try:
        return _DECODER.raw_decode(text, start)
    except (ValueError, RecursionError):
        return None


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def marked_objects(text: str, answer_format: AnswerFormat) -> list[Any]:
    """The JSON objects written inside the answer marker, left to right (``[{...}]`` or ``\\boxed{{...}}``).

    An object is read where the opening mark, optional spaces and a ``{`` start a JSON object that is
    followed (after optional spaces) by the closing mark; scanning resumes after it, so an object's
    own strings cannot start another.

    >>> marked_objects('think [{"a": [1]}] then [{"b": 2}]', AnswerFormat.named("bracket"))
    [{'a': [1]}, {'b': 2}]
    """
    return [value for value, _start, _end in _marked_spans(text, answer_format)]


def _marked_spans(text: str, answer_format: AnswerFormat) -> list[tuple[Any, int, int]]:
    found: list[tuple[Any, int, int]] = []
    opening, closing = answer_format.open, answer_format.close
    pos = text.find(opening)
    while pos != -1:
        start = _skip_spaces(text, pos + len(opening))
        decoded = _decode_at(text, start) if text.startswith("{", start) else None
        if decoded is not None:
            value, end = decoded
            end = _skip_spaces(text, end)
            if text.startswith(closing, end):
                found.append((value, pos, end + len(closing)))
                pos = text.find(opening, end + len(closing))
                continue
        pos = text.find(opening, pos + 1)
    return found


def _outside(text: str, needle: str, spans: list[tuple[Any, int, int]]) -> bool:
    """Whether ``needle`` occurs in ``text`` outside every span (a Hermes tag inside a marked call's
    string argument does not make the reply a Hermes one)."""
    pos = text.find(needle)
    while pos != -1:
        if not any(start <= pos < end for _v, start, end in spans):
            return True
        pos = text.find(needle, pos + 1)
    return False


def hermes_blocks(text: str) -> list[Any]:
    """The contents of the ``<tool_call>...</tool_call>`` blocks, in order: the decoded JSON, or the raw
    text of a block whose content is not one JSON value (a malformed call, reported as such).

    >>> hermes_blocks('<tool_call>{"name": "f", "arguments": {}}</tool_call> <tool_call>oops</tool_call>')
    [{'name': 'f', 'arguments': {}}, 'oops']
    """
    found: list[Any] = []
    pos = text.find(HERMES_OPEN)
    while pos != -1:
        start = _skip_spaces(text, pos + len(HERMES_OPEN))
        decoded = _decode_at(text, start)
        if decoded is not None and text.startswith(HERMES_CLOSE, _skip_spaces(text, decoded[1])):
            value, end = decoded
            end = _skip_spaces(text, end) + len(HERMES_CLOSE)
            found.append(value)
        else:
            close = text.find(HERMES_CLOSE, start)
            end = len(text) if close == -1 else close + len(HERMES_CLOSE)
            found.append(_Raw(text[start : close if close != -1 else len(text)]))
        pos = text.find(HERMES_OPEN, end)
    return found


class _Raw(str):
    """The text of a Hermes block that held no JSON value."""


def validate_call(value: Any, tools: Mapping[str, ToolSpec]) -> ToolCall | str:
    """``value`` (a decoded JSON object) as a :class:`ToolCall` of one of ``tools``, or why it is not one.

    >>> spec = ToolSpec("add", "a + b", (("a", Param("number", "a")), ("b", Param("number", "b"))))
    >>> validate_call({"name": "add", "arguments": {"a": 1, "b": 2}}, {"add": spec})
    ToolCall(name='add', arguments={'a': 1, 'b': 2})
    >>> validate_call({"name": "add", "arguments": {"a": "1"}}, {"add": spec})
    "tool 'add': argument 'a' must be a number, got '1'; missing argument(s) ['b']"
    """
    valid = sorted(tools)
    if isinstance(value, _Raw):
        return f"the content of a {HERMES_OPEN} block is not one JSON object: {_show(str(value))}"
    if not isinstance(value, dict):
        return f'a call must be a JSON object {{"name": ..., "arguments": {{...}}}}, got {_show(value)}'
    extra = sorted(set(value) - {"name", "arguments"})
    if extra:
        return f'a call has the keys "name" and "arguments" only; it also has {_show(extra)}'
    name = value.get("name")
    if not isinstance(name, str):
        return f'a call needs "name": one of the tools {valid}, got {_show(name)}'
    spec = tools.get(name)
    if spec is None:
        return f"unknown tool {_show(name)}; the tools are {valid}"
    arguments = value.get("arguments", {})
    if not isinstance(arguments, dict):
        return f'tool {name!r}: "arguments" must be a JSON object, got {_show(arguments)}'
    params = dict(spec.params)
    problems = (
        [f"unexpected argument(s) {_show(sorted(set(arguments) - set(params)))}"]
        if set(arguments) - set(params)
        else []
    )
    for key, param in spec.params:
        if key in arguments:
            wrong = param.check(arguments[key])
            if wrong:
                problems.append(f"argument {key!r} {wrong}")
    missing = [key for key in spec.param_names if key not in arguments]
    if missing:
        problems.append(f"missing argument(s) {missing}")
    if problems:
        return f"tool {name!r}: " + "; ".join(problems)
    return ToolCall(name, {key: arguments[key] for key in spec.param_names})


def parse_reply(
    text: str, answer_format: AnswerFormat, tools: Mapping[str, ToolSpec], *, max_calls: int = 4
) -> ParsedReply:
    """Read the tool calls of a model's reply (see the module docstring), or say why it holds none.

    >>> spec = ToolSpec("echo", "echo", (("text", Param("string", "what to echo")),))
    >>> parse_reply('[{"name": "echo", "arguments": {"text": "hi"}}]', AnswerFormat.named("bracket"), {"echo": spec})
    ParsedReply(calls=(ToolCall(name='echo', arguments={'text': 'hi'}),), error=None, style='marker')
    >>> parse_reply("no call here", AnswerFormat.named("bracket"), {"echo": spec}).error[:22]
    'no tool call was found'
    """
    if len(text) > MAX_REPLY_CHARS:
        return ParsedReply(error=f"the reply is {len(text)} characters long; at most {MAX_REPLY_CHARS} are read")
    marked = _marked_spans(text, answer_format)
    if _outside(text, HERMES_OPEN, marked):
        style, values = "hermes", hermes_blocks(text)
        if len(values) > max_calls:
            return ParsedReply(
                error=f"{len(values)} calls in one reply; at most {max_calls} run in parallel", style=style
            )
    else:
        if not marked:
            example = answer_format.wrap('{"name": "TOOL", "arguments": {...}}')
            return ParsedReply(error=f"no tool call was found; write one as {example}")
        style, values = "marker", [marked[-1][0]]
    calls: list[ToolCall] = []
    for index, value in enumerate(values):
        call = validate_call(value, tools)
        if isinstance(call, str):
            where = f"call {index + 1}: " if len(values) > 1 else ""
            return ParsedReply(error=where + call, style=style)
        calls.append(call)
    finals = [c.name for c in calls if tools[c.name].final]
    if finals and len(calls) > 1:
        return ParsedReply(
            error=f"{_show(finals[0])} ends the episode and must be the only call of its reply; "
            f"this reply has {len(calls)} calls",
            style=style,
        )
    return ParsedReply(calls=tuple(calls), style=style)


def _show(value: Any, limit: int = 80) -> str:
    """A short, charset-safe rendering of a model-written value for an error message."""
    text = repr(value) if not isinstance(value, list) else json.dumps(value, ensure_ascii=False)
    if len(text) > limit:
        text = text[:limit] + "..."
    return to_charset(text)


# --------------------------------------------------------------------------- describing and grammar


def call_schema(spec: ToolSpec) -> dict[str, Any]:
    """The JSON schema of one call of ``spec``: ``{"name": <its name>, "arguments": {...}}``."""
    return {
        "type": "object",
        "properties": {"name": {"const": spec.name}, "arguments": spec.parameters_schema()},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


_COMPACT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}


@functools.lru_cache(maxsize=256)
def call_grammar(tools: tuple[ToolSpec, ...], answer_format: AnswerFormat) -> ActionGrammar:
    """The replies that make exactly one valid call of one of ``tools``, in the answer marker (see the
    module docstring). Memoised: envs keep their tool tuple, so this is a lookup per turn."""
    if not tools:
        raise ValueError("call_grammar needs at least one tool")
    schema = {"x-guidance": _COMPACT, "anyOf": [call_schema(t) for t in tools]}
    rules = f"start: {lark_literal(answer_format.open)} call {lark_literal(answer_format.close)}\n"
    return ActionGrammar.lark(rules + "call: %json " + json.dumps(schema) + "\n")


def tools_prompt(tools: Sequence[ToolSpec], answer_format: AnswerFormat, *, max_calls: int = 4) -> str:
    """The tool list (OpenAI function-calling JSON, one tool a line) and how to call them."""
    lines = ["Tools (OpenAI function-calling JSON schema):"]
    lines += [json.dumps(t.openai_schema(), ensure_ascii=False) for t in tools]
    example = answer_format.wrap('{"name": "TOOL", "arguments": {"ARG": VALUE}}')
    lines.append(
        f"Call one tool per reply as {example}; the last such call of a reply counts. "
        f"Or write up to {max_calls} calls as <tool_call>{{...}}</tool_call> blocks to run them in order. "
        "Every argument is required."
    )
    return "\n".join(lines)


def render_call(call: ToolCall, answer_format: AnswerFormat) -> str:
    """``call`` written as the canonical reply (a string of :func:`call_grammar`)."""
    return answer_format.wrap(call.to_json())
