"""What every web env shares: the observation, the action bookkeeping, the turn limit.

The observation is text::

    Task: Buy a red cotton shirt, in size M, for less than $35.00.
    URL: /search?q=red+cotton+shirt
    Title: Search - Shop
    Error: there is no element [99] on this page (ids on this page: 1-31)
    [1] link "Home"
    [2] textbox "Search" value="red cotton shirt"
    ...

(the ``Error`` line only after an invalid action). In screenshot mode (``obs_mode="text+screenshot"``)
every line ends with its element's box ``@(x,y,width,height)`` in screenshot pixels and
``info["screenshot"]`` holds the page as PNG bytes.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import gymnasium

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
    Outcome,
    text_space,
)
from gym_reason.envs.web import actions
from gym_reason.envs.web.actions import Action, BadAction
from gym_reason.envs.web.page import Node, digest

OBS_MODES = ("text", "text+screenshot")
BACKENDS = ("text", "browser")
SCREENSHOT = "screenshot"
"""``info`` key: the page as PNG bytes, in screenshot mode."""
VIEWPORT = (1024, 768)
INVALID_PENALTY = -0.05


def check_choice(name: str, value: object, valid: tuple[str, ...], fix: str = "") -> None:
    if value not in valid:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, valid))}, got {value!r}{fix}")


def check_turns(max_turns: object) -> None:
    if isinstance(max_turns, bool) or not isinstance(max_turns, int) or not 1 <= max_turns <= 500:
        raise ValueError(f"max_turns must be an integer in 1..500, got {max_turns!r}")


class WebEnv(gymnasium.Env):
    """Base of the web envs: subclasses open a task (:meth:`_open`), own a client (``self.client``) and
    say what an action earned (:meth:`_outcome`)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}
    role = "web_agent"

    def __init__(self, obs_mode: str, max_turns: int) -> None:
        check_choice("obs_mode", obs_mode, OBS_MODES)
        check_turns(max_turns)
        self.obs_mode, self.max_turns = obs_mode, max_turns
        self.screenshots = obs_mode == "text+screenshot"
        self.observation_space = text_space()
        self.action_space = text_space()
        self.client: Any = None
        self.task = ""
        self.turn = 0
        self.done = True
        self._nodes: list[Node] = []

    # ----------------------------------------------------------------- subclass hooks

    def _open(self, seed: int | None, options: dict[str, Any] | None) -> str:
        """Start an episode in ``self.client``; returns the task text."""
        raise NotImplementedError

    def _outcome(self, action: Action) -> tuple[dict[str, float], Outcome | None, dict[str, float]]:
        """After a valid action: reward components, the outcome if the episode is over, metrics."""
        raise NotImplementedError

    def _state_key(self) -> Any:
        return (self.client.url, tuple((n.gid, n.value) for n in self._nodes if n.value is not None))

    # ----------------------------------------------------------------- gymnasium API

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        self.task = self._open(seed, options)
        self.turn, self.done = 0, False
        return self._observe(None), self._info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self.done or self.client is None:
            raise RuntimeError("step() after the episode ended (or the env was closed): call reset() first")
        if not isinstance(action, str):
            raise TypeError(f"action must be a str (the model's reply), got {type(action).__name__}")
        self.turn += 1
        error, parsed, outcome, metrics = None, None, None, {}
        try:
            move = actions.parse_action(action, self._nodes, self.screenshots)
            if move.kind != "answer":
                self.client.perform(move)
            parsed = move.canonical()
            components, outcome, metrics = self._outcome(move)
        except BadAction as exc:
            error = str(exc)
            components = {"invalid_action": INVALID_PENALTY}
        truncated = outcome is None and self.turn >= self.max_turns
        if truncated:
            outcome = Outcome.TRUNCATED
        self.done = outcome is not None
        obs = self._observe(error)
        info = self._info(**{INVALID_ACTION: error is not None, PARSED_ACTION: parsed, REWARD_COMPONENTS: components})
        if metrics:
            info[METRICS] = metrics
        if outcome is not None:
            info[OUTCOME] = outcome
        return obs, float(sum(components.values())), self.done and not truncated, truncated, info

    def _observe(self, error: str | None) -> str:
        self._nodes = self.client.nodes(self.screenshots)
        head = [f"Task: {self.task}", f"URL: {self.client.url}", f"Title: {self.client.title}"]
        if error is not None:
            head.append(f"Error: {error}")
        return "\n".join(head) + "\n" + digest(self._nodes)

    def _info(self, **extra: Any) -> dict[str, Any]:
        info: dict[str, Any] = {
            ROLE: self.role,
            ACTION_FORMAT: actions.ACTION_FORMAT + (actions.XY_FORMAT if self.screenshots else ""),
            STATE_KEY: self._state_key(),
            **extra,
        }
        if not self.done:
            info[ACTION_GRAMMAR] = actions.action_grammar(
                self._nodes, self.screenshots, VIEWPORT, can_go_back=self.client.can_go_back()
            )
        if self.screenshots:
            info[SCREENSHOT] = self.client.screenshot()
        return info

    def snapshot_base(self) -> dict[str, Any]:
        return {"task": self.task, "turn": self.turn, "done": self.done, "nodes": copy.deepcopy(self._nodes)}

    def restore_base(self, snap: dict[str, Any]) -> None:
        self.task, self.turn, self.done, self._nodes = snap["task"], snap["turn"], snap["done"], list(snap["nodes"])
