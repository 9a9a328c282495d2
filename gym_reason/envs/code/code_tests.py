"""``gym_reason/CodeTests-v0``: write a function that passes hidden unit tests.

Each episode poses one problem of :data:`~gym_reason.envs.code.problems.PROBLEMS`: the
statement, the function's signature and one or two example calls. The model answers with a
```` ```python ```` block defining the function; every submission runs the problem's hidden
tests in a fresh sandbox (:func:`~gym_reason.envs.code.harness.run_tests`: one program per
submission, each test call under its own timeout) and the next observation lists the first
failures, expected against got. A reply without a code block is an invalid action: it is
flagged, reported, and spends a turn. ``info[ACTION_GRAMMAR]`` is one block
(:func:`~gym_reason.envs.code.replies.code_block_grammar`).

Reward: the fraction of hidden tests passed, paid as progress. Each step pays the
improvement of the best fraction so far (component ``tests_passed``; never negative), so an
episode's rewards sum to its best fraction. Passing every test wins and ends the episode;
``max_turns`` submissions without that truncate it.

:meth:`snapshot`/:meth:`restore` copy the whole state (the problem, the turn, the best
fraction, the transcript): no sandbox state outlives a submission.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gym_reason.core import (
    ACTION_FORMAT,
    ACTION_GRAMMAR,
    INVALID_ACTION,
    METRICS,
    OUTCOME,
    PARSED_ACTION,
    REWARD_COMPONENTS,
    ROLE,
    STATE_KEY,
    AnswerFormat,
    Outcome,
    to_charset,
)
from gym_reason.envs.code.episodes import SandboxTask, check_split, split_of
from gym_reason.envs.code.harness import TestReport, call_text, run_tests, short_repr
from gym_reason.envs.code.problems import PROBLEMS, Problem
from gym_reason.envs.code.replies import CODE_ECHO_CHARS, code_block_grammar, cut_head, python_blocks
from gym_reason.sandboxes.base import Sandbox, make_sandbox

PYTHON_BLOCK = AnswerFormat(
    "python_block", "```python\n", "\n```\n", "Answer with one ```python code block, e.g. {example}."
)
"""How a reply marks its answer here: a fenced Python block. Free decoding (the trainer's
rollout) stops at its closing fence rather than at the first ``]`` of the code."""

_ROLE = "programmer"


@dataclass
class _Episode:
    problem: Problem
    turn: int = 0
    best: float = 0.0
    transcript: list[str] = field(default_factory=list)
    invalid: int = 0
    done: bool = False
    ending: str = ""


class CodeTestsEnv(SandboxTask):
    """Write a Python function from a statement and examples until it passes the hidden tests.

    Args:
        difficulty: a level 1..3 or a sequence of them: the problems to draw from (default all).
        problems: ids of the problems to draw from (default all, within ``difficulty``).
        max_turns: submissions (and invalid replies) before the episode is truncated.
        sandbox: a backend name for :func:`~gym_reason.sandboxes.base.make_sandbox` (``"bwrap"`` by
            default), or a :class:`Sandbox` to share (the env then leaves closing it to its owner).
        test_timeout: wall-clock seconds each hidden test call may take.
        show_failures: failing tests described after a submission (0 shows only the count).
        split: ``"train"`` (default) or ``"test"``: the problems drawn, disjoint by problem id
            (:func:`~gym_reason.envs.code.episodes.split_of`, about one in five is held out).
            Problems named in ``problems`` (or by ``reset(options={"problem": id})``) are played whatever
            their split: naming them is choosing the pool.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}
    answer_format = PYTHON_BLOCK

    def __init__(
        self,
        difficulty: int | Sequence[int] = (1, 2, 3),
        problems: Sequence[str] | None = None,
        max_turns: int = 4,
        sandbox: str | Sandbox = "bwrap",
        test_timeout: float = 2.0,
        show_failures: int = 3,
        split: str = "train",
    ) -> None:
        self.split = check_split(split)
        levels = (difficulty,) if isinstance(difficulty, int) else tuple(difficulty)
        if not levels or any(level not in (1, 2, 3) for level in levels):
            raise ValueError(f"difficulty must be 1, 2, 3 or a non-empty list of them, got {difficulty!r}")
        known = {p.id: p for p in PROBLEMS}
        if problems is not None:
            names = [problems] if isinstance(problems, str) else list(problems)
            unknown = [name for name in names if name not in known]
            if unknown or not names:
                raise ValueError(f"unknown problem ids {unknown or names!r}; valid: {sorted(known)}")
        pool = [p for p in PROBLEMS if p.difficulty in levels and (problems is None or p.id in names)]
        if problems is None:
            pool = [p for p in pool if split_of(p.id) == self.split]
        if not pool and problems is not None:
            raise ValueError(f"no problem has difficulty in {list(levels)} among {names}; widen one of them")
        if not pool:
            held = [p.id for p in PROBLEMS if split_of(p.id) == self.split]
            raise ValueError(f"no problem of split {split!r} has difficulty in {list(levels)}; it holds {held}")
        if not isinstance(max_turns, int) or not 1 <= max_turns <= 32:
            raise ValueError(f"max_turns must be an integer in 1..32, got {max_turns!r}")
        if not isinstance(test_timeout, int | float) or not 0 < test_timeout <= 60:
            raise ValueError(f"test_timeout must be a number of seconds in (0, 60], got {test_timeout!r}")
        if not isinstance(show_failures, int) or not 0 <= show_failures <= 20:
            raise ValueError(f"show_failures must be an integer in 0..20, got {show_failures!r}")
        self.pool = pool
        self.max_turns = max_turns
        self.test_timeout = float(test_timeout)
        self.show_failures = show_failures
        super().__init__(sandbox)
        self._episode: _Episode | None = None

    # ------------------------------------------------------------------ gymnasium API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Draw a problem from the pool (``options={"problem": id}`` picks one by id, from any difficulty)."""
        options = self._begin(seed, options, {"problem"})
        chosen = self._rng.choice(self.pool)
        if "problem" in options:
            by_id = {p.id: p for p in PROBLEMS}
            if options["problem"] not in by_id:
                raise ValueError(f"unknown problem id {options['problem']!r}; valid: {sorted(by_id)}")
            chosen = by_id[options["problem"]]
        self._episode = _Episode(problem=chosen)
        return self._observation(), self._info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        episode = self._begin_step(action)
        blocks = python_blocks(action)
        parsed: str | None = "\n\n".join(blocks) if blocks else None
        improvement, solved = 0.0, False
        if parsed is None:
            episode.invalid += 1
            episode.transcript.append(
                f"--- Turn {episode.turn}: invalid ---\nNo ```python block in that reply; nothing was tested."
            )
        else:
            report = self._test(parsed)
            improvement = max(0.0, report.fraction - episode.best)
            episode.best = max(episode.best, report.fraction)
            solved = report.passed == report.total
            code = to_charset(cut_head(parsed, CODE_ECHO_CHARS))
            episode.transcript.append(
                f"--- Turn {episode.turn}: submission ---\n```python\n{code}\n```\n{self._describe(report)}"
            )
        truncated = not solved and episode.turn >= self.max_turns
        if solved:
            episode.ending = "All hidden tests passed."
        elif truncated:
            episode.ending = f"Out of turns; best score {episode.best:.0%} of the hidden tests."
        info = self._info()
        info.update(
            {INVALID_ACTION: parsed is None, PARSED_ACTION: parsed, REWARD_COMPONENTS: {"tests_passed": improvement}}
        )
        if solved or truncated:
            episode.done = True
            del info[ACTION_GRAMMAR]
            info[OUTCOME] = Outcome.WIN if solved else Outcome.TRUNCATED
            info[METRICS] = {
                "best_fraction": episode.best,
                "solved": float(solved),
                "turns": float(episode.turn),
                "invalid_actions": float(episode.invalid),
            }
        return self._observation(), improvement, solved, truncated, info

    def close(self) -> None:
        """Release a sandbox this env made. Idempotent; the env stays usable."""
        self._release_sandbox()

    # ------------------------------------------------------------------ snapshots

    def snapshot(self) -> dict[str, Any]:
        """The problem, turn, best fraction and transcript (everything: no sandbox state survives a step)."""
        return super().snapshot()

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Return to ``snapshot``."""
        self._restore_episode(snapshot, _Episode)

    @property
    def problem(self) -> Problem:
        """The current problem (with its hidden tests: for evaluation code, never for the policy)."""
        return self._require_started().problem

    # ------------------------------------------------------------------ internals

    def _test(self, source: str) -> TestReport:
        if self._sandbox is None:
            assert self._backend is not None
            self._sandbox = make_sandbox(self._backend)
        problem = self._require_started().problem
        return run_tests(self._sandbox, source, problem.entry_point, problem.tests, timeout=self.test_timeout)

    def _describe(self, report: TestReport) -> str:
        lines = [f"Result: {report.passed}/{report.total} hidden tests passed."]
        if report.load_error is not None:
            lines.append(f"The submission could not be loaded: {report.load_error}")
        elif report.note is not None:
            lines.append(f"Note: {report.note}.")
        shown = report.failures[: self.show_failures] if report.load_error is None else []
        if shown:
            more = len(report.failures) - len(shown)
            lines.append("Failures" + (f" (first {len(shown)} of {len(report.failures)})" if more else "") + ":")
            lines += [f"  {failure.call}: {failure.problem}" for failure in shown]
        return to_charset("\n".join(lines))

    def _observation(self) -> str:
        episode = self._require_started()
        problem = episode.problem
        examples = "\n".join(
            f"    {call_text(problem.entry_point, args)} == {short_repr(expected, 300)}"
            for args, expected in problem.examples
        )
        lines = [
            "Write a Python function that solves this problem.",
            "",
            problem.statement,
            "",
            f"Signature:\n    {problem.signature}",
            "",
            f"Examples:\n{examples}",
            "",
            f"Reply with one ```python code block that defines {problem.entry_point} (imports and helper functions "
            "are fine; the block is loaded as a module, so it should not read input). After each submission "
            f"{len(problem.tests)} hidden tests run, each call limited to {self.test_timeout:g} s, and you see which "
            f"failed. You have {self.max_turns} submissions; your score is the best fraction of tests passed.",
        ]
        body = "\n".join(lines)
        if episode.transcript:
            body += "\n\n" + "\n\n".join(episode.transcript)
        if episode.ending:
            body += "\n\n" + episode.ending
        elif episode.turn:
            body += f"\n\n{self.max_turns - episode.turn} submission(s) left."
        return body

    def _info(self) -> dict[str, Any]:
        episode = self._require_started()
        digest = self._transcript_digest()
        return {
            ROLE: _ROLE,
            ACTION_FORMAT: f"Reply with one ```python block defining {episode.problem.entry_point}.",
            ACTION_GRAMMAR: code_block_grammar(),
            STATE_KEY: f"{episode.problem.id}|{episode.turn}|{digest}",
            "problem": episode.problem.id,
            "difficulty": episode.problem.difficulty,
        }
