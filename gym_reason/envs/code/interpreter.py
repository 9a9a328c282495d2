"""``gym_reason/CodeInterpreter-v0``: multi-turn reasoning with a Python tool.

Each episode poses one procedural task (:mod:`gym_reason.envs.code.tasks`) with an exact
answer. Every turn the model either runs code or answers:

* a reply with a ```` ```python ```` block is a **tool call**: the block (all blocks of the
  reply, in order) runs in a persistent sandboxed interpreter, and its output (stdout, the
  tail of stderr, the exit status or a timeout note, each cut to ``output_chars``) comes
  back in the next observation. An answer written in the same reply is ignored: the model
  sees the output first.
* a reply with no code block and an answer in the answer format (``[answer]`` or
  ``\\boxed{answer}``) outside any code is the **final answer**; the episode ends.
* anything else is an **invalid action**, scored and reported, and the turn is spent.

``info[ACTION_GRAMMAR]`` declares the replies a decoder may be held to
(:func:`~gym_reason.envs.code.replies.code_or_answer_grammar`): one ```` ```python ```` block,
or one final answer in the answer format; text around them is read too, but not offered.

The observation is the whole episode so far: the task, how to use the tool and how to
answer, then every turn's code and output.

Rewards (``info["reward_components"]``; the step reward is their sum):

========================  ==========  ============================================================
component                 value       paid
========================  ==========  ============================================================
``correct``               1 or 0      on the final answer: 1 when it equals the task's answer
``output_used``           +0.05       with a correct final answer that appears in a tool output
``code_ok``               +0.02       when a code cell ran to the end without error or timeout
``turn_cost``             -0.02       every turn
``invalid_action``        -0.1        a reply with neither code nor a final answer
========================  ==========  ============================================================

So a cell that runs cleanly costs nothing, a failing one costs a little, and only a correct
answer gains: code cannot be farmed for reward. Answers compare exactly after normalisation
(:func:`~gym_reason.envs.code.tasks.answers_match`).

The interpreter is a :class:`~gym_reason.sandboxes.base.Session` of the chosen sandbox
backend, opened at the first code cell of an episode and closed when the episode ends (or
at :meth:`close`/:meth:`reset`), so no process outlives its episode.

:meth:`snapshot`/:meth:`restore` copy the task, the turn and the transcript. A live
interpreter cannot be copied: :meth:`restore` instead records the code cells that built the
namespace and re-runs them in a fresh session before the next cell runs (their outputs
are discarded). The namespace is then the same as long as those cells are deterministic
(code that reads the clock or ``random`` without a seed rebuilds a different one).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gym_reason.core import (
    ACTION_FORMAT,
    ACTION_GRAMMAR,
    INVALID_ACTION,
    MAX_TEXT_LENGTH,
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
from gym_reason.envs.code.replies import (
    CODE_ECHO_CHARS,
    code_or_answer_grammar,
    cut_head,
    cut_tail,
    prose,
    python_blocks,
)
from gym_reason.envs.code.tasks import DIFFICULTIES, FAMILIES, Task, answers_match, appears_in, generate
from gym_reason.sandboxes.base import ExecResult, Sandbox, Session, make_sandbox

CORRECT = 1.0
OUTPUT_USED = 0.05
CODE_OK = 0.02
TURN_COST = -0.02
INVALID = -0.1
MAX_DRAWS = 200
"""Draws of a task before a family with no task of the split is reported (none has come close)."""

_ROLE = "solver"


@dataclass
class _Episode:
    """Everything that makes up the state of one episode, except the live interpreter."""

    task: Task
    turn: int = 0
    transcript: list[str] = field(default_factory=list)
    """One rendered block per turn: the code and its output, or a note."""
    outputs: list[str] = field(default_factory=list)
    """The tool outputs as shown, for ``output_used``."""
    cells: list[str] = field(default_factory=list)
    """Code that has run in the current interpreter since it last started clean."""
    code_runs: int = 0
    code_errors: int = 0
    invalid: int = 0
    done: bool = False
    ending: str = ""


class CodeInterpreterEnv(SandboxTask):
    """Multi-turn math and counting tasks solved with a sandboxed Python interpreter.

    Args:
        difficulty: a level 1..3 or a sequence of them to draw from uniformly (default all).
        families: task families to draw from (default all of
            :data:`~gym_reason.envs.code.tasks.FAMILIES`).
        max_turns: replies (code, answers and invalid ones) before the episode is truncated.
        answer_format: ``"bracket"`` (``[answer]``, default) or ``"boxed"`` (``\\boxed{answer}``).
        sandbox: a backend name for :func:`~gym_reason.sandboxes.base.make_sandbox` (``"bwrap"`` by
            default), or a :class:`Sandbox` to share (the env then leaves closing it to its owner).
        timeout: wall-clock seconds one code cell may run.
        output_chars: characters of a cell's stdout shown (its stderr: half of that, the tail).
        split: ``"train"`` (default) or ``"test"``: the tasks drawn, disjoint by their text
            (:func:`~gym_reason.envs.code.episodes.split_of`, about one in five is held out).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(
        self,
        difficulty: int | Sequence[int] = DIFFICULTIES,
        families: Sequence[str] | None = None,
        max_turns: int = 8,
        answer_format: str | AnswerFormat = "bracket",
        sandbox: str | Sandbox = "bwrap",
        timeout: float = 5.0,
        output_chars: int = 2000,
        split: str = "train",
    ) -> None:
        self.split = check_split(split)
        self.difficulties = _difficulties(difficulty)
        self.families = _families(families)
        if not isinstance(max_turns, int) or not 1 <= max_turns <= 64:
            raise ValueError(f"max_turns must be an integer in 1..64, got {max_turns!r}")
        if not isinstance(timeout, int | float) or not 0 < timeout <= 600:
            raise ValueError(f"timeout must be a number of seconds in (0, 600], got {timeout!r}")
        if not isinstance(output_chars, int) or not 100 <= output_chars <= 20_000:
            raise ValueError(f"output_chars must be an integer in 100..20000, got {output_chars!r}")
        self.max_turns = max_turns
        # Free-form sampling stops after a code block's closing fence, not at the answer's closing mark,
        # which code is full of (``]`` or ``}``); a final answer without code ends at the model's EOS.
        self.answer_format = dataclasses.replace(AnswerFormat.named(answer_format), stop_after=("```\n",))
        self.timeout = float(timeout)
        self.output_chars = output_chars
        if max_turns * (CODE_ECHO_CHARS + 2 * output_chars + 500) + 10_000 > MAX_TEXT_LENGTH:
            raise ValueError(
                f"max_turns={max_turns} with output_chars={output_chars} can outgrow an observation "
                f"({MAX_TEXT_LENGTH} characters); lower one of them"
            )
        super().__init__(sandbox)
        self._session: Session | None = None
        self._replay: list[str] = []
        self._episode: _Episode | None = None

    # ------------------------------------------------------------------ gymnasium API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Draw a new task (``options`` may fix ``family`` and/or ``difficulty``)."""
        options = self._begin(seed, options, {"family", "difficulty"})
        self._close_session()
        self._replay = []
        name = self._rng.choice(self.families)
        level = self._rng.choice(self.difficulties)
        name = _families([options["family"]])[0] if "family" in options else name
        level = _difficulties(options["difficulty"])[0] if "difficulty" in options else level
        task = generate(name, self._rng, level)
        for _ in range(MAX_DRAWS):  # about 1.25 draws for train, 5 for test
            if split_of(task.statement) == self.split:
                break
            task = generate(name, self._rng, level)
        else:
            raise RuntimeError(f"no {self.split!r} task of {name} at difficulty {level} in {MAX_DRAWS} draws")
        self._episode = _Episode(task=task)
        return self._observation(), self._info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        episode = self._begin_step(action)
        components = {"turn_cost": TURN_COST}
        blocks = python_blocks(action)
        answer = None if blocks else self.answer_format.extract(prose(action))
        terminated = False
        parsed: str | None
        if blocks:
            parsed = "\n\n".join(blocks)
            result, restarted = self._run_cell(parsed)
            shown = self._render_output(result, restarted)
            episode.outputs.append(shown)
            episode.code_runs += 1
            if result.ok:
                components["code_ok"] = CODE_OK
            else:
                episode.code_errors += 1
            code = to_charset(cut_head(parsed, CODE_ECHO_CHARS))
            episode.transcript.append(f"--- Turn {episode.turn}: code ---\n```python\n{code}\n```\nOutput:\n{shown}")
        elif answer is not None and answer.strip():
            parsed = answer.strip()
            correct = answers_match(parsed, episode.task.answer)
            components["correct"] = CORRECT if correct else 0.0
            if correct and any(appears_in(episode.task.answer, shown) for shown in episode.outputs):
                components["output_used"] = OUTPUT_USED
            terminated = True
            verdict = "correct" if correct else f"wrong; the expected answer was {episode.task.answer}"
            episode.ending = (
                f"--- Turn {episode.turn}: final answer ---\n{to_charset(cut_head(parsed, 200))}: {verdict}."
            )
        else:
            parsed = None
            episode.invalid += 1
            components["invalid_action"] = INVALID
            episode.transcript.append(
                f"--- Turn {episode.turn}: invalid ---\nNo ```python block and no final answer "
                f"{self.answer_format.wrap('...')} in that reply; nothing ran."
            )
        truncated = not terminated and episode.turn >= self.max_turns
        if truncated:
            episode.ending = f"--- Out of turns ---\nThe expected answer was {episode.task.answer}."
        reward = sum(components.values())
        info = self._info()
        info.update({INVALID_ACTION: parsed is None, PARSED_ACTION: parsed, REWARD_COMPONENTS: components})
        if terminated or truncated:
            episode.done = True
            del info[ACTION_GRAMMAR]
            self._close_session()
            correct = components.get("correct", 0.0) == CORRECT
            info[OUTCOME] = Outcome.TRUNCATED if truncated else Outcome.WIN if correct else Outcome.LOSS
            info[METRICS] = {
                "correct": float(correct),
                "turns": float(episode.turn),
                "code_runs": float(episode.code_runs),
                "code_errors": float(episode.code_errors),
                "invalid_actions": float(episode.invalid),
            }
        return self._observation(), reward, terminated, truncated, info

    def close(self) -> None:
        """End the interpreter session and release a sandbox this env made. Idempotent; the env stays usable."""
        self._close_session()
        self._release_sandbox()

    # ------------------------------------------------------------------ snapshots

    def snapshot(self) -> dict[str, Any]:
        """The task, turn and transcript, and the code cells that built the interpreter's namespace."""
        return super().snapshot()

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Return to ``snapshot``. The interpreter is rebuilt lazily: its recorded cells re-run in a fresh
        session before the next cell does."""
        self._restore_episode(snapshot, _Episode)
        self._close_session()
        self._replay = list(self._episode.cells)

    # ------------------------------------------------------------------ internals

    @property
    def task(self) -> Task:
        """The current task (with its answer: for evaluation code, never for the policy)."""
        return self._require_started().task

    def _close_session(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            session.close()

    def _open_session(self) -> Session:
        if self._session is None:
            if self._sandbox is None:
                assert self._backend is not None
                self._sandbox = make_sandbox(self._backend)
            self._session = self._sandbox.session()
            replay, self._replay = self._replay, []
            for cell in replay:
                self._session.run(cell, timeout=self.timeout)
        return self._session

    def _run_cell(self, code: str) -> tuple[ExecResult, bool]:
        """Run ``code`` in the session; also says whether the session restarted clean (state lost)."""
        episode = self._require_started()
        session = self._open_session()
        restarts = session.restarts  # every backend counts restarts (the Session contract)
        result = session.run(code, timeout=self.timeout)
        restarted = session.restarts != restarts
        if restarted:
            episode.cells = []  # nothing from before the restart needs replaying
        else:
            episode.cells.append(code)
        return result, restarted

    def _render_output(self, result: ExecResult, restarted: bool) -> str:
        parts = []
        if result.stdout:
            parts.append(to_charset(cut_head(result.stdout, self.output_chars)).rstrip("\n"))
        stderr = result.stderr
        if restarted:  # the notes below say it more plainly than the session's own notice
            stderr = "".join(line for line in stderr.splitlines(True) if not line.startswith("[sandbox] "))
        if stderr.strip():
            stderr = to_charset(cut_tail(stderr, self.output_chars // 2)).rstrip("\n")
            parts.append(f"[stderr]\n{stderr}")
        if result.timed_out:
            parts.append(f"[timed out after {self.timeout:g} s]")
        elif result.killed_by_limit:
            parts.append("[stopped by a resource limit: memory, CPU time, file size or processes]")
        elif result.exit_code not in (0, None):
            parts.append(f"[exit status {result.exit_code}]")
        if restarted:
            parts.append("[the interpreter was restarted: earlier variables, imports and files are gone]")
        if result.truncated:
            parts.append("[the output was longer than the sandbox keeps; the rest was dropped]")
        return "\n".join(parts) if parts else "(no output)"

    def _observation(self) -> str:
        episode = self._require_started()
        fmt = self.answer_format
        lines = [
            f"Task: {episode.task.statement}",
            "",
            "Tool: reply with a ```python code block to run it in a persistent Python interpreter "
            "(variables, imports and functions survive between runs; the standard library is there, "
            f"the network is not). Print what you want to see. A run may take {self.timeout:g} s; "
            f"its output is cut to {self.output_chars} characters.",
            f"Answer: when you are sure, reply with the final answer as {fmt.wrap('answer')} and no code block. "
            f"You have {self.max_turns} turns in all.",
        ]
        body = "\n".join(lines)
        turns = "\n\n".join(episode.transcript)
        if turns:
            body += "\n\n" + turns
        if episode.ending:
            body += "\n\n" + episode.ending
        elif episode.turn:
            body += f"\n\n{self.max_turns - episode.turn} turn(s) left."
        return body

    def _info(self) -> dict[str, Any]:
        episode = self._require_started()
        digest = self._transcript_digest()
        task_id = hashlib.sha1(episode.task.statement.encode()).hexdigest()[:12]
        return {
            ROLE: _ROLE,
            ACTION_FORMAT: (
                f"Run code in a ```python block, or give the final answer as {self.answer_format.wrap('answer')}."
            ),
            ACTION_GRAMMAR: code_or_answer_grammar(self.answer_format),
            STATE_KEY: f"{task_id}|{episode.turn}|{digest}",
            "family": episode.task.family,
            "difficulty": episode.task.difficulty,
        }


def _difficulties(value: int | Sequence[int]) -> tuple[int, ...]:
    levels = (value,) if isinstance(value, int) else tuple(value)
    if not levels or any(level not in DIFFICULTIES for level in levels):
        raise ValueError(f"difficulty must be one of {list(DIFFICULTIES)} or a non-empty list of them, got {value!r}")
    return levels


def _families(value: Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return tuple(FAMILIES)
    names = (value,) if isinstance(value, str) else tuple(value)
    unknown = [name for name in names if name not in FAMILIES]
    if not names or unknown:
        raise ValueError(f"unknown task families {unknown or names!r}; valid: {sorted(FAMILIES)}")
    return names
