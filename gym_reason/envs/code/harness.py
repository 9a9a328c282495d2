"""Run a submitted function against hidden tests in a sandbox, and judge the results on the host.

The sandbox only *computes*: a harness program loads the submission, calls the function
once per test (each call under its own timeout, with the submission's prints thrown
away) and reports every return value as one line ``<token> <json>``. The expected values
never enter the sandbox; the host compares. A submission that forges report lines
therefore still has to produce the right values, and the token (random per run) keeps
whatever the submission prints from being read as a report. Lines that do not parse,
and tests without a report (a crash, a run that timed out), count as failures.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gym_reason.sandboxes.base import ExecResult, Sandbox

HARNESS = r'''
import io, json, os, signal, sys


class _Timeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise _Timeout()


class _Discard(io.TextIOBase):
    def writable(self):
        return True

    def write(self, text):
        return len(text)


def _plain(value, depth=0):
    """The value as JSON data, or TypeError: tuples become lists, nothing else is converted."""
    if depth > 50:
        raise TypeError("nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item, depth + 1) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _plain(item, depth + 1) for key, item in value.items()}
    raise TypeError(type(value).__name__)


def _main(token, source, entry, cases, timeout, value_chars):
    out = os.fdopen(os.dup(1), "w")

    def emit(record):
        out.write(token + " " + json.dumps(record, ensure_ascii=True) + "\n")
        out.flush()

    def error_text(exc):
        return (type(exc).__name__ + ": " + str(exc))[:300]

    signal.signal(signal.SIGALRM, _on_alarm)
    sys.stdout = sys.stderr = _Discard()
    namespace = {"__name__": "submission", "__builtins__": __builtins__}
    try:
        signal.setitimer(signal.ITIMER_REAL, timeout * 2)
        try:
            exec(compile(source, "submission.py", "exec"), namespace)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Timeout:
        emit({"load_error": "loading the submission timed out"})
        return
    except BaseException as exc:
        emit({"load_error": error_text(exc)})
        return
    function = namespace.get(entry)
    if not callable(function):
        emit({"load_error": "the submission defines no function named " + entry})
        return
    emit({"loaded": True})
    for index, args in enumerate(json.loads(cases)):
        try:
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                got = function(*args)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _Timeout:
            emit({"i": index, "timeout": True})
            continue
        except BaseException as exc:
            emit({"i": index, "error": error_text(exc)})
            continue
        try:
            text = json.dumps(_plain(got), ensure_ascii=True)
        except (TypeError, ValueError) as exc:
            emit({"i": index, "unreadable": str(exc)[:200]})
            continue
        if len(text) > value_chars:
            emit({"i": index, "unreadable": "%d characters as JSON" % len(text)})
            continue
        out.write(token + ' {"i": ' + str(index) + ', "got": ' + text + "}\n")
        out.flush()
    emit({"done": True})
'''

VALUE_CHARS = 20_000
"""Longest return value (as JSON) the harness reports; a longer one counts as a failure."""


@dataclass(frozen=True, slots=True)
class Failure:
    """One hidden test that did not pass, as the model will read it."""

    index: int
    call: str
    problem: str
    """What went wrong: ``expected 3, got 4``, ``raised ValueError: ...``, ``timed out``, ..."""


@dataclass(slots=True)
class TestReport:
    """The outcome of one submission."""

    passed: int
    total: int
    failures: list[Failure] = field(default_factory=list)
    load_error: str | None = None
    """Why the submission could not be loaded (a syntax error, no such function), if it could not."""
    note: str | None = None
    """How the run itself ended when that explains missing results (a timeout, a crash)."""

    @property
    def fraction(self) -> float:
        return self.passed / self.total if self.total else 0.0


def values_equal(got: Any, expected: Any) -> bool:
    """JSON values compared strictly: ``True`` is not ``1``, an int is not a str; floats within 1e-6.

    >>> values_equal([1, 2.0000000001], [1, 2.0]), values_equal(True, 1), values_equal(2, 2.0)
    (True, False, True)
    >>> values_equal({"a": [1]}, {"a": [1]}), values_equal(2.0, 2)
    (True, False)
    """
    if isinstance(expected, bool) or isinstance(got, bool):
        return isinstance(expected, bool) and isinstance(got, bool) and got == expected
    if isinstance(expected, float):
        return isinstance(got, int | float) and math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(expected, int):
        return isinstance(got, int) and got == expected
    if isinstance(expected, list):
        return (
            isinstance(got, list)
            and len(got) == len(expected)
            and all(values_equal(g, e) for g, e in zip(got, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(got, dict)
            and got.keys() == expected.keys()
            and all(values_equal(got[k], v) for k, v in expected.items())
        )
    return type(got) is type(expected) and got == expected


def short_repr(value: Any, limit: int) -> str:
    """``repr(value)`` cut to ``limit`` characters.

    >>> short_repr(list(range(100)), 20)
    '[0, 1, 2, 3, 4, 5...'
    """
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def call_text(entry: str, args: Sequence[Any], limit: int = 200) -> str:
    """How a test's call reads: ``f(1, 'a')``, arguments cut to ``limit`` characters."""
    return f"{entry}({short_repr(list(args), limit + 2)[1:-1]})" if args else f"{entry}()"


def harness_program(source: str, entry: str, cases: Sequence[Sequence[Any]], timeout: float, token: str) -> str:
    """The program that runs ``source``'s ``entry`` on each argument list of ``cases``."""
    arguments = (token, source, entry, json.dumps([list(args) for args in cases]), float(timeout), VALUE_CHARS)
    return HARNESS + "\n_main(" + ", ".join(repr(a) for a in arguments) + ")\n"


def run_tests(
    sandbox: Sandbox,
    source: str,
    entry: str,
    tests: Sequence[tuple[Sequence[Any], Any]],
    *,
    timeout: float = 2.0,
    value_chars: int = 200,
) -> TestReport:
    """Run ``source``'s function ``entry`` on each ``(args, expected)`` of ``tests`` in ``sandbox``.

    ``timeout`` bounds each call (loading the submission gets twice that); ``value_chars`` cuts
    the values quoted in failure messages.
    """
    token = secrets.token_hex(16)
    program = harness_program(source, entry, [args for args, _ in tests], timeout, token)
    result = sandbox.run(program, timeout=timeout * (len(tests) + 2) + 5.0)
    return judge(result, token, entry, tests, timeout=timeout, value_chars=value_chars)


def judge(
    result: ExecResult,
    token: str,
    entry: str,
    tests: Sequence[tuple[Sequence[Any], Any]],
    *,
    timeout: float,
    value_chars: int = 200,
) -> TestReport:
    """Read the harness's report lines out of ``result`` and compare each value with the expected one."""
    records: dict[int, dict[str, Any]] = {}
    load_error: str | None = None
    loaded = finished = False
    for line in result.stdout.splitlines():
        at = line.find(token)
        if at == -1:
            continue
        try:
            record = json.loads(line[at + len(token) :])
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        if isinstance(record.get("load_error"), str) and not loaded:
            load_error = record["load_error"]
        elif record.get("loaded") is True:
            loaded = True
        elif record.get("done") is True:
            finished = True
        elif isinstance(record.get("i"), int) and 0 <= record["i"] < len(tests):
            records.setdefault(record["i"], record)
    report = TestReport(passed=0, total=len(tests), load_error=load_error)
    for index, (args, expected) in enumerate(tests):
        record = records.get(index)
        problem = None
        if record is None:
            problem = "no result: the run ended before this test"
        elif "got" in record:
            if not values_equal(record["got"], expected):
                problem = f"expected {short_repr(expected, value_chars)}, got {short_repr(record['got'], value_chars)}"
        elif record.get("timeout") is True:
            problem = f"timed out after {timeout:g} s"
        elif "error" in record:
            problem = f"raised {str(record['error'])[:value_chars]}"
        else:
            problem = f"returned a value the tests cannot read ({str(record.get('unreadable', ''))[:value_chars]})"
        if problem is None:
            report.passed += 1
        else:
            report.failures.append(Failure(index, call_text(entry, args, value_chars), problem))
    if load_error is None and not finished:
        if result.timed_out:
            report.note = "the whole run timed out"
        elif result.killed_by_limit:
            report.note = "the run was stopped by a resource limit (CPU time or memory)"
        elif not loaded:
            stderr = result.stderr.strip()[-300:]
            report.note = f"the harness did not start (exit status {result.exit_code}){': ' + stderr if stderr else ''}"
        else:
            report.note = f"the run crashed (exit status {result.exit_code})"
    return report
