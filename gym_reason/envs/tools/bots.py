"""Scripted players of the tool-calling task envs, for ``fixed:<name>`` agents.

:class:`ToolUseOracle` (``fixed:oracle``) solves a ``ToolUse`` task as its template's plan does
(:func:`~gym_reason.envs.tools.tasks.next_call`), reading only what the model was shown: the task as
data (``info["game_observation"]["task"]``) and the results of the calls made so far. Results of calls
that match the plan's next call are reused, so it picks up after any prefix of other calls.
"""

from __future__ import annotations

from typing import Any

from gym_reason.envs.games.bots import ScriptedAgent
from gym_reason.envs.tool_calls import ToolCall
from gym_reason.envs.tools import tasks as t


def results_by_call(view: dict[str, Any]) -> dict[tuple[str, str], Any]:
    """The result of every call that ran without a tool error, keyed by :meth:`ToolCall.key`."""
    return {
        ToolCall(h["call"]["name"], h["call"]["arguments"]).key(): h["result"]
        for h in view.get("history", [])
        if h.get("ok")
    }


class ToolUseOracle(ScriptedAgent):
    """Follows the task template's plan; scores the maximum reward on every task."""

    name = "oracle"

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        task = view["task"]
        template = t.BY_NAME[task["template"]]
        done = results_by_call(view)
        results: list[Any] = []
        while True:
            call = t.next_call(template, task["params"], results)
            if call.name == "answer" or call.key() not in done:
                return {call.to_json(): 1.0}
            results.append(done[call.key()])
