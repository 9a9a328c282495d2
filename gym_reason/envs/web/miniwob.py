"""``gym_reason/MiniWoB-<task>-v0``: MiniWoB++ tasks (Liu et al., 2018) in the shared headless Chromium, with
our observation and action format.

The tasks' HTML and scripts come from the PyPI package ``miniwob`` (``pip install "gym-reason[web]"``);
they are opened from its folder (``file://``) with no network and no Selenium. Each reset loads the
task page again, seeds its random generator (``Math.seedrandom``, as MiniWoB's own environment does) and
starts the episode with the episode timer set out of reach, so an episode's content depends on the seed
only and a slow model is not timed out.

The observation is the task's instruction (MiniWoB's *utterance*), the page's title and a digest of the
visible elements of the page with ids (MiniWoB's ``getDOMInfo`` walk: the same elements, the same skipped
ones): interactive elements (links, buttons, inputs, selects, labels) and every element with text of its
own, indented by nesting. Ids are stable within an episode (kept on the element) and start again at each
reset. A click goes to the element's centre as a mouse would (whatever covers it gets the click).

The reward is the task's own, without MiniWoB's time discount: +1 for success, -1 (or a partial value in
``[-1, 1]``, e.g. for checkboxes) for a wrong submission, when the task ends the episode; an ``answer``
action ends it with 0; an invalid action costs 0.05. No snapshots: a task's state lives in its page's
scripts, which cannot be copied.
"""

from __future__ import annotations

import importlib.util
import weakref
from pathlib import Path
from typing import Any

from gym_reason.core import Outcome
from gym_reason.envs.web import browser
from gym_reason.envs.web.actions import Action
from gym_reason.envs.web.base import VIEWPORT, WebEnv, check_choice
from gym_reason.envs.web.browser import INSTALL, BrowserUnavailable
from gym_reason.envs.web.clients import BrowserClient
from gym_reason.envs.web.page import Node

TASKS = (
    "click-test",
    "click-test-2",
    "click-button",
    "click-link",
    "click-dialog",
    "click-option",
    "click-checkboxes",
    "click-tab",
    "click-collapsible",
    "choose-list",
    "enter-text",
    "enter-text-2",
    "enter-password",
    "login-user",
    "focus-text",
)
"""The MiniWoB++ tasks served under our ids: single-page tasks with no timed animation, each solved by
:func:`~gym_reason.envs.web.oracles.miniwob_oracle`."""

MAX_EPISODE_MS = 2**31 - 1
"""The episode timer MiniWoB starts at each episode, set out of reach (the longest ``setTimeout`` delay)."""

DIGEST_JS = """
([withBoxes]) => {
  const SKIP = new Set(['reward-display', 'sync-task-cover', 'click-canvas', 'query']);
  const TEXTBOX = new Set(['text', 'password', 'email', 'number', 'search', 'tel', 'url']);
  const WHOLE_TEXT = new Set(['A', 'BUTTON', 'LABEL', 'OPTION']);
  const clean = (s) => s.replace(/\\s+/g, ' ').trim();
  if (window.__gymGid === undefined) window.__gymGid = 1;
  const out = [];
  const walk = (el, depth) => {
    if (SKIP.has(el.id) || ['SCRIPT', 'STYLE', 'BR', 'OPTION', 'svg'].includes(el.tagName)) return;
    const cs = window.getComputedStyle(el);
    if (cs.display === 'none' || cs.visibility === 'hidden') return;
    const r = el.getBoundingClientRect();
    const tag = el.tagName;
    let role = tag.toLowerCase(), value = null, options = [];
    if (tag === 'INPUT') {
      const type = (el.type || 'text').toLowerCase();
      if (TEXTBOX.has(type)) { role = 'textbox'; value = el.value; }
      else if (type === 'checkbox' || type === 'radio') { role = type; value = el.checked ? 'checked' : 'unchecked'; }
      else { role = 'input-' + type; }
    } else if (tag === 'TEXTAREA') { role = 'textbox'; value = el.value; }
    else if (tag === 'SELECT') {
      options = Array.from(el.options).map(o => clean(o.textContent));
      value = el.selectedIndex >= 0 ? options[el.selectedIndex] : '';
    } else if (tag === 'A') { role = 'link'; }
    let text = WHOLE_TEXT.has(tag) ? clean(el.textContent) : clean(Array.from(el.childNodes)
      .filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.data).join(' '));
    const interactive = ['A', 'BUTTON', 'INPUT', 'SELECT', 'TEXTAREA', 'LABEL'].includes(tag);
    let shown = false;
    if ((interactive || text) && r.width > 0 && r.height > 0) {
      if (!el.dataset.gid) el.dataset.gid = String(window.__gymGid++);
      const box = withBoxes ? [Math.round(r.left), Math.round(r.top), Math.round(r.width), Math.round(r.height)] : null;
      out.push([parseInt(el.dataset.gid), role, text, value, options, depth, box]);
      shown = true;
    }
    for (const child of el.children) walk(child, shown ? depth + 1 : depth);
  };
  walk(document.body, 0);
  return [document.title, out];
}
"""

START_JS = f"""
(seed) => {{
  Math.seedrandom(seed);
  core.EPISODE_MAX_TIME = {MAX_EPISODE_MS};
  core.startEpisodeReal();
  return core.getUtterance();
}}
"""


def miniwob_html_dir() -> Path:
    """The folder of the ``miniwob`` package's task pages, or :class:`BrowserUnavailable`."""
    spec = importlib.util.find_spec("miniwob")
    if spec is None or not spec.submodule_search_locations:
        raise BrowserUnavailable(f"the Python package miniwob (MiniWoB++'s tasks) is not installed ({INSTALL})")
    folder = Path(next(iter(spec.submodule_search_locations))) / "html" / "miniwob"
    if not folder.is_dir():
        raise BrowserUnavailable(f"the miniwob package has no task pages at {folder}; reinstall it ({INSTALL})")
    return folder


def _never_navigates(node: Node, enter: bool = False) -> bool:
    return False


class _MiniWoBClient(BrowserClient):
    """Clicks land on the element's centre whatever covers it (``force``), as MiniWoB's own clicks do."""

    def _perform(self, action: Action) -> None:
        if action.kind == "click":
            self._locator(action.id).click(force=True, timeout=self.click_timeout_ms)
            self.focus = action.id
            return
        super()._perform(action)


class MiniWoBEnv(WebEnv):
    """One MiniWoB++ task; see the module docstring."""

    role = "web_agent"

    def __init__(self, task: str, obs_mode: str = "text", max_turns: int = 10, backend: str = "browser") -> None:
        check_choice("task", task, TASKS)
        check_choice("backend", backend, ("browser",), ": MiniWoB tasks run their own scripts, so only in a browser")
        super().__init__(obs_mode, max_turns)
        self.task_name = task
        folder = miniwob_html_dir()
        self._hold: browser.Hold | None = browser.Hold(VIEWPORT)
        weakref.finalize(self, browser.orphan, self._hold)
        self.client = _MiniWoBClient(self._hold.context, folder.as_uri() + "/", DIGEST_JS, _never_navigates, 2000)

    def _open(self, seed: int | None, options: dict[str, Any] | None) -> str:
        if options:
            raise ValueError(f"MiniWoB envs take no reset options, got {sorted(options)}")
        if self._hold is None:
            raise RuntimeError("reset() after close(): this env gave its browser context back; make a new env")
        if seed is None:
            seed = int(self.np_random.integers(2**31))
        self.client.open(f"{self.task_name}.html")
        return self.client.page.evaluate(START_JS, str(seed))

    def _outcome(self, action: Action) -> tuple[dict[str, float], Outcome | None, dict[str, float]]:
        if action.kind == "answer":
            return {"task": 0.0}, Outcome.LOSS, {"success": 0.0}
        done, reward = self.client.page.evaluate("() => [WOB_DONE_GLOBAL, WOB_RAW_REWARD_GLOBAL]")
        if not done:
            return {}, None, {}
        reward = float(reward)
        return {"task": reward}, Outcome.WIN if reward > 0 else Outcome.LOSS, {"success": float(reward > 0)}

    def close(self) -> None:
        """Close the context and give back this env's share of the browser (the last env's close stops it)."""
        self.done = True
        if self._hold is not None:
            self._hold.close()
            self._hold = None
        super().close()


def register_tasks(register: Any) -> None:
    """Register ``gym_reason/MiniWoB-<task>-v0`` for every task of :data:`TASKS` with ``register``."""
    for task in TASKS:
        register(
            id=f"gym_reason/MiniWoB-{task}-v0",
            entry_point="gym_reason.envs.web.miniwob:MiniWoBEnv",
            kwargs={"task": task},
            description=f"MiniWoB++ {task} in headless Chromium (needs chromium and gym-reason[web])",
        )
