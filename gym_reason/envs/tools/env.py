"""``gym_reason/ToolUse-v0``: questions answered by calling tools (calculator, unit and currency
conversion, calendar, table look-ups), then ``answer``.

Each episode poses one task of :mod:`gym_reason.envs.tools.tasks` (level 1: one call; 2: two or
three; 3: four to seven, later calls using earlier results). The model sees the question, the tools
in OpenAI function-calling JSON and the calls it made with their results; the call format and the
invalid replies are those of :mod:`gym_reason.envs.tool_calls`.

Rewards (``info["reward_components"]``; the step reward is their sum; weights by constructor
``weights``), ToolRL-style matching of each call against the task's gold calls, order-insensitive
(an order the task needs is forced anyway: a dependent call's values are right only after the call
it depends on). ``n`` is the number of gold calls, so a perfect episode earns ``1.25``:

=================  =========  ======================================================================
component          default    paid
=================  =========  ======================================================================
``tool_name``      0.1 / n    the first call of a gold call's tool that is matched to it
``tool_args``      0.05 / n   with it, times the Jaccard overlap of its argument keys with the gold's
``tool_values``    0.1 / n    times the fraction of the gold's argument values it has right; a later
                              call that gets more of them right is paid the difference
``extra_call``     -0.05      a call that earns nothing above (a repeat of an earlier call, a tool
                              no gold call left to improve on uses); bounded by the turn limit
``tool_error``     -0.05      a well-formed call the tool could not serve (unknown name, bad date)
``invalid_action`` -0.1       a reply with no readable, valid call
``answer``         1 or 0     the ``answer`` call: 1 when it equals the task's answer
=================  =========  ======================================================================

Every valid call names exactly its tool's parameters, so ``tool_args`` pays with ``tool_name``; it is
kept apart so that re-weighting follows ToolRL's three parts. Process rewards per gold call are
capped (improvements only) and unneeded calls cost, so calling tools cannot be farmed: only a right
answer pays more than the calls that lead to it.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gym_reason.envs.games.bots import declare_bots
from gym_reason.envs.tool_calls import ToolCall
from gym_reason.envs.tools import tasks as t
from gym_reason.envs.tools import world as w
from gym_reason.envs.tools.base import TaskRules, ToolEpisode, ToolTaskEnv
from gym_reason.envs.tools.bots import ToolUseOracle


@dataclass
class Credit:
    """What each gold call has been paid so far (by index), for improvement-only step rewards."""

    named: list[bool] = field(default_factory=list)
    keys: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    made: set[tuple[str, str]] = field(default_factory=set)
    """Every call made so far (:meth:`ToolCall.key`): a repeat earns nothing."""


def random_move(view: dict[str, Any], rng: random.Random) -> str:
    """A random call (JSON, unwrapped): a random tool with random plausible arguments; ``answer`` with a
    number or word seen in the results so far, or a random one."""
    spec = rng.choice(w.TOOLS)
    seen = [h["result"] for h in view.get("history", []) if h.get("ok")]
    arguments: dict[str, Any] = {}
    for key, param in spec.params:
        if param.enum is not None:
            arguments[key] = rng.choice(param.enum)
        elif key in ("city", "product", "employee"):
            arguments[key] = rng.choice(list(getattr(w.world(), key + ("s" if key != "city" else ""), {})) or ["x"])
        elif key in ("date", "start", "end"):
            arguments[key] = f"{rng.randrange(1990, 2031)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
        elif key == "expression":
            arguments[key] = f"{rng.randrange(1, 1000)} {rng.choice('+-*/')} {rng.randrange(1, 1000)}"
        elif key == "value" and spec.name == "answer":
            arguments[key] = t.answer_text(rng.choice(seen)) if seen and rng.random() < 0.5 else str(rng.randrange(100))
        elif param.type == "integer":
            arguments[key] = rng.randrange(-1000, 1000)
        else:
            arguments[key] = rng.randrange(0, 1000)
    return ToolCall(spec.name, arguments).to_json()


RULES = TaskRules("tool_use", random_move)


class ToolUseEnv(ToolTaskEnv):
    """Multi-step tool-use questions with exact answers. See the module docstring.

    Args:
        difficulty: a level 1..3 or a list of them to draw from uniformly (default all).
        split: ``"train"`` (default) or ``"test"``; their questions share no entity and no number.
        max_turns: replies before the episode is truncated.
        answer_format: ``"bracket"`` (``[{...}]``, default) or ``"boxed"``.
        weights: overrides of the reward weights (see the table above).
        max_calls: calls one reply may run in parallel (Hermes ``<tool_call>`` blocks).
        templates: names of :data:`~gym_reason.envs.tools.tasks.TEMPLATES` to draw from (default all of
            the chosen levels).
    """

    tools: ClassVar = w.TOOLS
    rules: ClassVar = RULES
    default_weights: ClassVar = {
        "tool_name": 0.1,
        "tool_args": 0.05,
        "tool_values": 0.1,
        "extra_call": -0.05,
        "tool_error": -0.05,
        "invalid_action": -0.1,
        "answer": 1.0,
    }

    def __init__(
        self,
        difficulty: int | list[int] | tuple[int, ...] | None = None,
        *,
        templates: list[str] | tuple[str, ...] | None = None,
        **kwargs: Any,
    ) -> None:
        if templates is not None:
            unknown = [name for name in templates if name not in t.BY_NAME]
            if unknown or not templates or isinstance(templates, str):
                raise ValueError(f"unknown templates {unknown or templates!r}; valid: {sorted(t.BY_NAME)}")
            if difficulty is None:  # the chosen templates' own levels
                difficulty = sorted({t.BY_NAME[name].level for name in templates})
        super().__init__(difficulty, **kwargs)
        self.templates = None if templates is None else tuple(templates)
        self._pools = {level: self._pool(level) for level in self.levels}
        empty = [level for level in self.difficulties if not self._pools[level]]
        if empty:
            raise ValueError(f"no template of {list(self.templates or ())} has difficulty {empty}; pick others")

    def _pool(self, level: int) -> tuple[t.Template, ...]:
        return tuple(x for x in t.BY_LEVEL[level] if self.templates is None or x.name in self.templates)

    def _draw_task(self, level: int, options: dict[str, Any]) -> tuple[t.Task, Credit]:
        if options:
            raise ValueError(f"unknown reset option(s) {sorted(options)}; valid: ['difficulty']")
        pool = self._pools[level]
        if not pool:
            raise ValueError(f"no template of {list(self.templates or ())} has difficulty {level}")
        task = t.generate(self._rng.choice(pool), self._rng, self.split)
        n = len(task.gold_calls)
        return task, Credit([False] * n, [0.0] * n, [0.0] * n)

    def _run_call(self, call: ToolCall) -> Any:
        return w.run_tool(call.name, call.arguments)

    def _score_call(self, episode: ToolEpisode, call: ToolCall, ok: bool, result: Any) -> dict[str, float]:
        task: t.Task = episode.task
        credit: Credit = episode.progress
        n = len(task.gold_calls)
        best: tuple[float, float, int] | None = None
        if call.key() in credit.made:
            return {"extra_call": self.weights["extra_call"]}
        credit.made.add(call.key())
        for i, gold in enumerate(task.gold_calls):
            if gold.name != call.name:
                continue
            right = sum(t.values_match(call.name, k, call.arguments.get(k), v) for k, v in gold.arguments.items())
            fraction = right / len(gold.arguments) if gold.arguments else 1.0
            gain = (not credit.named[i]) + max(0.0, fraction - credit.values[i])
            # The gold call it matches best (then the one it adds most to); one it adds nothing to is no match.
            if gain > 0 and (best is None or (fraction, gain) > best[:2]):
                best = (fraction, gain, i)
        if best is None:
            return {"extra_call": self.weights["extra_call"]}
        fraction, _gain, i = best
        gold = task.gold_calls[i]
        keys = set(gold.arguments) | set(call.arguments)
        jaccard = len(set(gold.arguments) & set(call.arguments)) / len(keys) if keys else 1.0
        components = {}
        if not credit.named[i]:
            credit.named[i] = True
            components["tool_name"] = self.weights["tool_name"] / n
        if jaccard > credit.keys[i]:
            components["tool_args"] = self.weights["tool_args"] / n * (jaccard - credit.keys[i])
            credit.keys[i] = jaccard
        if fraction > credit.values[i]:
            components["tool_values"] = self.weights["tool_values"] / n * (fraction - credit.values[i])
            credit.values[i] = fraction
        return components

    def _score_final(self, episode: ToolEpisode, call: ToolCall) -> tuple[dict[str, float], bool, str]:
        task: t.Task = episode.task
        correct = t.answers_match(call.arguments["value"], task)
        verdict = "correct." if correct else f"wrong; the expected answer was {task.answer}."
        return {"answer": self.weights["answer"] if correct else 0.0}, correct, f"answer: {verdict}"

    def _task_view(self, task: t.Task) -> dict[str, Any]:
        return {"template": task.template, "level": task.level, "params": dict(task.params)}

    def _task_id(self, task: t.Task) -> str:
        return hashlib.sha1(task.statement.encode()).hexdigest()[:12]


declare_bots(RULES.name, {"oracle": ToolUseOracle}, strongest="oracle")
