"""What the tool-calling task envs share: the episode loop of "call tools, then call the final tool".

Every turn the model writes a reply; :func:`~gym_reason.envs.tool_calls.parse_reply` reads its calls:

* an unreadable reply (no call, bad JSON, an unknown tool, wrong arguments, several calls beside the
  final one) is an **invalid action**: component ``invalid_action``, and the observation shows why;
* each call of a non-final tool runs, in order, and its result (or the :class:`ToolError` it raised:
  component ``tool_error``) is shown; the subclass scores it against the task (step rewards);
* a call of the final tool (``answer``, ``submit``) is scored by the subclass and ends the episode.

The subclass owns the task: drawing it (:meth:`ToolTaskEnv._draw_task`), running tools
(:meth:`ToolTaskEnv._run_call`) and scoring (:meth:`ToolTaskEnv._score_call`,
:meth:`ToolTaskEnv._score_final`), with per-env weights for every component (constructor ``weights``).

Scripted agents play these envs through ``env.game``, a :class:`TaskRules` (a name under which the
family's bots are declared, and ``random_move``, which :class:`~gym_reason.agents.RandomAgent` uses),
and ``info[GAME_OBSERVATION]``: the task as data and the calls made so far with their results, nothing
the model has not seen.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import gymnasium

from gym_reason.core import (
    ACTION_FORMAT,
    ACTION_GRAMMAR,
    GAME_OBSERVATION,
    INVALID_ACTION,
    METRICS,
    OUTCOME,
    PARSED_ACTION,
    REWARD_COMPONENTS,
    ROLE,
    STATE_KEY,
    AnswerFormat,
    Outcome,
    text_space,
    to_charset,
)
from gym_reason.envs.tool_calls import ToolCall, ToolError, ToolSpec, call_grammar, parse_reply, tools_prompt

SPLITS = ("train", "test")
_CALL_EXAMPLE = '{"name": ..., "arguments": {...}}'
RESULT_CHARS = 1500
"""Characters of one tool result shown in the observation."""


@dataclass(frozen=True, slots=True)
class TaskRules:
    """The ``env.game`` of a tool-calling task env: its family name (for ``fixed:<bot>`` agents) and a
    random move from the structured view (for the ``random`` agent and the checker's random play)."""

    name: str
    random_move: Callable[[dict[str, Any], random.Random], str]


@dataclass
class ToolEpisode:
    """The state of one episode; ``task`` and ``progress`` belong to the subclass."""

    task: Any
    progress: Any = None
    turn: int = 0
    transcript: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    """One entry per call that ran: ``{"call": {...}, "ok": bool, "result": JSON value or error text}``."""
    calls: int = 0
    tool_errors: int = 0
    invalid: int = 0
    correct: bool = False
    done: bool = False
    ending: str = ""


class ToolTaskEnv(gymnasium.Env):
    """Base of a single-agent task solved by calling tools. See the module docstring."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}
    tools: ClassVar[tuple[ToolSpec, ...]]
    rules: ClassVar[TaskRules]
    default_weights: ClassVar[Mapping[str, float]]
    role: ClassVar[str] = "solver"
    levels: ClassVar[tuple[int, ...]] = (1, 2, 3)
    splits: ClassVar[tuple[str, ...]] = SPLITS
    """The task splits (the ``split`` convention of :mod:`gym_reason.core`): evaluation plays ``"test"``."""

    def __init__(
        self,
        difficulty: int | tuple[int, ...] | list[int] | None = None,
        split: str = "train",
        max_turns: int = 12,
        answer_format: str | AnswerFormat = "bracket",
        weights: Mapping[str, float] | None = None,
        max_calls: int = 4,
    ) -> None:
        levels = self.levels if difficulty is None else (difficulty,) if isinstance(difficulty, int) else difficulty
        levels = tuple(levels)
        if not levels or any(level not in self.levels for level in levels):
            raise ValueError(
                f"difficulty must be one of {list(self.levels)} or a non-empty list of them, got {difficulty!r}"
            )
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}: 'train' to train, 'test' held out")
        if not isinstance(max_turns, int) or isinstance(max_turns, bool) or not 1 <= max_turns <= 64:
            raise ValueError(f"max_turns must be an integer in 1..64, got {max_turns!r}")
        if not isinstance(max_calls, int) or isinstance(max_calls, bool) or not 1 <= max_calls <= 16:
            raise ValueError(f"max_calls must be an integer in 1..16, got {max_calls!r}")
        unknown = sorted(set(weights or {}) - set(self.default_weights))
        if unknown:
            raise ValueError(
                f"unknown reward weight(s) {unknown}; valid: {sorted(self.default_weights)} "
                f"(defaults {dict(self.default_weights)})"
            )
        self.weights = {**self.default_weights, **(weights or {})}
        self.difficulties = levels
        self.split = split
        self.max_turns = max_turns
        self.max_calls = max_calls
        self.answer_format = AnswerFormat.named(answer_format)
        self.game = self.rules
        self._tool_table = {t.name: t for t in self.tools}
        self._grammar = call_grammar(self.tools, self.answer_format)
        self._action_format = f"Call one tool as {self.answer_format.wrap(_CALL_EXAMPLE)}."
        self._tools_text = tools_prompt(self.tools, self.answer_format, max_calls=max_calls)
        self.observation_space = text_space()
        self.action_space = text_space()
        self._rng = random.Random()
        self._episode: ToolEpisode | None = None

    # ------------------------------------------------------------------ subclass hooks

    def _draw_task(self, level: int, options: dict[str, Any]) -> tuple[Any, Any]:
        """A new task of ``level`` from ``self._rng`` and ``self.split``, and its initial progress."""
        raise NotImplementedError

    def _run_call(self, call: ToolCall) -> Any:
        """The result of a non-final call (a JSON value or text), or :class:`ToolError`."""
        raise NotImplementedError

    def _score_call(self, episode: ToolEpisode, call: ToolCall, ok: bool, result: Any) -> dict[str, float]:
        """Step-reward components of a non-final call that ran (``ok``) or raised a tool error."""
        raise NotImplementedError

    def _score_final(self, episode: ToolEpisode, call: ToolCall) -> tuple[dict[str, float], bool, str]:
        """Components of the final call, whether it is correct, and the verdict shown to the model."""
        raise NotImplementedError

    def _task_view(self, task: Any) -> dict[str, Any]:
        """The task as JSON-able data for scripted agents (what the statement says, nothing hidden)."""
        raise NotImplementedError

    def _task_text(self, task: Any) -> str:
        """The head of every observation: the question and what an answer must be."""
        return f"Task: {task.statement}"

    def _task_id(self, task: Any) -> str:
        return hashlib.sha1(task.statement.encode()).hexdigest()[:12]

    # ------------------------------------------------------------------ gymnasium API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        """Draw a new task (``options`` may fix ``difficulty``; subclasses may accept more)."""
        super().reset(seed=seed)
        if seed is not None:
            self._rng.seed(seed)
        options = dict(options or {})
        level = self._rng.choice(self.difficulties)
        if "difficulty" in options:
            level = options.pop("difficulty")
            if level not in self.levels:
                raise ValueError(f"option difficulty must be one of {list(self.levels)}, got {level!r}")
        task, progress = self._draw_task(level, options)
        self._episode = ToolEpisode(task=task, progress=progress)
        return self._observation(), self._info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        episode = self._require_started()
        if episode.done:
            raise RuntimeError("the episode is over; call reset() to start a new one")
        if not isinstance(action, str):
            raise TypeError(f"action must be the model's reply as a str, got {type(action).__name__}")
        episode.turn += 1
        components: dict[str, float] = {}
        reply = parse_reply(action, self.answer_format, self._tool_table, max_calls=self.max_calls)
        terminated = False
        lines = [f"--- Turn {episode.turn} ---"]
        if not reply.ok:
            episode.invalid += 1
            _add(components, "invalid_action", self.weights["invalid_action"])
            lines.append(f"invalid reply: {reply.error}. Nothing ran.")
        written = [call.to_json() for call in reply.calls]
        for call, text in zip(reply.calls, written, strict=True):
            lines.append(f"call: {to_charset(text)}")
            if self._tool_table[call.name].final:
                scored, correct, verdict = self._score_final(episode, call)
                for name, value in scored.items():
                    _add(components, name, value)
                episode.correct = correct
                terminated = True
                lines.append(verdict)
                break
            episode.calls += 1
            try:
                result, ok = self._run_call(call), True
            except ToolError as error:
                result, ok = str(error), False
                episode.tool_errors += 1
                _add(components, "tool_error", self.weights["tool_error"])
            for name, value in self._score_call(episode, call, ok, result).items():
                _add(components, name, value)
            episode.history.append({"call": {"name": call.name, "arguments": dict(call.arguments)}, "ok": ok,
                                    "result": result})  # fmt: skip
            shown = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
            if len(shown) > RESULT_CHARS:
                shown = shown[:RESULT_CHARS] + f" ... [{len(shown) - RESULT_CHARS} more characters cut]"
            lines.append(("result: " if ok else "tool error: ") + to_charset(shown))
        episode.transcript.append("\n".join(lines))
        truncated = not terminated and episode.turn >= self.max_turns
        if truncated:
            episode.ending = "--- Out of turns ---"
        elif terminated:
            episode.ending = f"--- Episode over: {'correct' if episode.correct else 'not correct'} ---"
        reward = sum(components.values())
        info = self._info()
        parsed = "\n".join(written) if reply.ok else None
        info.update({INVALID_ACTION: not reply.ok, PARSED_ACTION: parsed, REWARD_COMPONENTS: components})
        if terminated or truncated:
            episode.done = True
            del info[ACTION_GRAMMAR]
            info[OUTCOME] = Outcome.TRUNCATED if truncated else Outcome.WIN if episode.correct else Outcome.LOSS
            info[METRICS] = {
                "correct": float(episode.correct),
                "turns": float(episode.turn),
                "calls": float(episode.calls),
                "tool_errors": float(episode.tool_errors),
                "invalid_actions": float(episode.invalid),
            }
        return self._observation(), reward, terminated, truncated, info

    # ------------------------------------------------------------------ snapshots

    def snapshot(self) -> dict[str, Any]:
        """The episode (task, progress, transcript) and the generator's state."""
        return {"episode": copy.deepcopy(self._require_started()), "rng": self._rng.getstate()}

    def restore(self, snapshot: dict[str, Any]) -> None:
        if not isinstance(snapshot, dict) or not isinstance(snapshot.get("episode"), ToolEpisode):
            raise TypeError("restore() takes a value returned by this env's snapshot()")
        self._episode = copy.deepcopy(snapshot["episode"])
        self._rng.setstate(snapshot["rng"])

    # ------------------------------------------------------------------ internals

    @property
    def task(self) -> Any:
        """The current task (with its gold: for evaluation code, never for the policy)."""
        return self._require_started().task

    def _require_started(self) -> ToolEpisode:
        if self._episode is None:
            raise RuntimeError("call reset() before using the env")
        return self._episode

    def _observation(self) -> str:
        episode = self._require_started()
        final = next(t.name for t in self.tools if t.final)
        parts = [
            self._task_text(episode.task),
            self._tools_text,
            f"Finish by calling {final}. You have {self.max_turns} turns in all.",
            *episode.transcript,
        ]
        if episode.ending:
            parts.append(episode.ending)
        elif episode.turn:
            parts.append(f"{self.max_turns - episode.turn} turn(s) left.")
        return "\n\n".join(parts)

    def _info(self) -> dict[str, Any]:
        episode = self._require_started()
        digest = hashlib.sha1("\x00".join(episode.transcript).encode()).hexdigest()[:16]
        return {
            ROLE: self.role,
            ACTION_FORMAT: self._action_format,
            ACTION_GRAMMAR: self._grammar,
            STATE_KEY: f"{self._task_id(episode.task)}|{episode.turn}|{digest}",
            GAME_OBSERVATION: {"task": self._task_view(episode.task), "history": list(episode.history)},
            "difficulty": episode.task.level,
        }


def _add(components: dict[str, float], name: str, value: float) -> None:
    components[name] = components.get(name, 0.0) + value
