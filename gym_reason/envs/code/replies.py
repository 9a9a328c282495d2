"""Reading code out of a model's reply, and cutting text to a budget: shared by the code envs.

A code block is a Markdown fence whose info string is empty or names Python
(```` ```python ````, ```` ```py ````, ```` ```python3 ````). A reply cut off inside its last
block (a model that ran out of tokens) still yields that block, up to where the text ends.

>>> python_blocks("Let me try:\\n```python\\nprint(1)\\n```\\nand\\n```py\\nx = 2\\n```")
['print(1)', 'x = 2']
>>> python_blocks("```python\\nprint(sum([1, 2")
['print(sum([1, 2']
>>> prose("I ran ```python\\nprint(l[0])\\n``` so [3]")
'I ran  so [3]'
"""

from __future__ import annotations

import functools
import re
import textwrap

from gym_reason.core import ActionGrammar, AnswerFormat, regex_literal, text_regex, word_char_regex

CODE_ECHO_CHARS = 4000
"""Characters of submitted code repeated back in a transcript."""

_FENCE = re.compile(
    r"^[ \t]*```[ \t]*(?P<lang>[A-Za-z0-9_+-]*)[^\n]*\n(?P<body>.*?)(?:^[ \t]*```[ \t]*$|\Z)",
    re.DOTALL | re.MULTILINE,
)
_PYTHON = frozenset({"", "python", "py", "python3", "py3"})
_INLINE_FENCE = re.compile(r"```(?P<lang>[A-Za-z0-9_+-]*)(?P<body>.*?)(?:```|\Z)", re.DOTALL)


def _blocks(text: str) -> list[re.Match[str]]:
    return [m for m in _FENCE.finditer(text) if m.group("lang").lower() in _PYTHON]


def python_blocks(text: str) -> list[str]:
    """The bodies of the Python code blocks in ``text``, in order (trailing newline dropped)."""
    # Dedent: a fence indented inside a Markdown list indents its code too.
    found = [textwrap.dedent(m.group("body")).removesuffix("\n") for m in _blocks(text)]
    if not found:
        # Fences that do not start a line ("Here: ```python print(1)```") still hold code.
        found = [m.group("body").strip() for m in _INLINE_FENCE.finditer(text) if m.group("lang").lower() in _PYTHON]
    return [body for body in found if body.strip()]


def prose(text: str) -> str:
    """``text`` without its fenced blocks (of any language): where a final answer may stand."""
    text = _FENCE.sub("", text)
    return _INLINE_FENCE.sub("", text)


def cut_head(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text``, with a note of how much was dropped.

    >>> cut_head("abcdef", 4)
    'abcd\\n... [2 more characters cut]'
    """
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n... [{len(text) - limit} more characters cut]"


def cut_tail(text: str, limit: int) -> str:
    """The last ``limit`` characters of ``text`` (where a traceback ends), with a note of how much was dropped.

    >>> cut_tail("abcdef", 4)
    '[2 characters cut] ...\\ncdef'
    """
    if len(text) <= limit:
        return text
    return f"[{len(text) - limit} characters cut] ...\n{text[-limit:]}"


_ANY = "(?s:.*)"
CODE_BLOCK_TERMINAL = (
    f"BLOCK: /```python\\n{_ANY}{word_char_regex()}{_ANY}\\n```/ & ~/```python\\n{_ANY}```{_ANY}\\n```/"
)
"""The Lark terminal of one ```` ```python ```` block (the opening fence, code, a newline and the
closing fence): code holding a printable character and no triple backtick, which
:func:`python_blocks` reads back whole."""


def code_block_grammar() -> ActionGrammar:
    """The replies of an env that takes one code block (``CodeTests``): the block alone."""
    return _code_grammar("start: BLOCK\n")


def code_or_answer_grammar(answer_format: AnswerFormat) -> ActionGrammar:
    """The replies of an env that runs a code block or takes a final answer (``CodeInterpreter``):
    one block, or one answer in ``answer_format`` holding free text without backticks or the
    format's marks. An answer written after a block is not offered: the block runs and the answer
    is ignored."""
    text = text_regex(answer_format.reserved + "`")
    answer = f"ANSWER: /{regex_literal(answer_format.open)}{text}{regex_literal(answer_format.close)}/"
    return _code_grammar(f"start: BLOCK | ANSWER\n{answer}\n")


@functools.cache
def _code_grammar(rules: str) -> ActionGrammar:
    return ActionGrammar.lark(rules + CODE_BLOCK_TERMINAL + "\n")
