"""What the code envs share: a sandbox they own or borrow, a seeded task generator, and an episode
that exists only after ``reset`` and ends once (snapshot and restore copy it with the generator)."""

from __future__ import annotations

import copy
import hashlib
import random
from collections.abc import Collection
from typing import Any, ClassVar

import gymnasium

from gym_reason.core import text_space
from gym_reason.sandboxes.base import Sandbox, make_sandbox

SPLITS = ("train", "test")
"""The splits of the code envs' tasks (the ``split`` convention of :mod:`gym_reason.core`)."""


def split_of(text: str) -> str:
    """The split a task belongs to, by a hash of its text: ``"test"`` for about one task in five.

    A task's text decides, so the splits are disjoint by construction, whatever the seed or the draw:

    >>> split_of("Compute 2 + 3."), split_of("Compute 2 + 2.")
    ('train', 'test')
    """
    return "test" if hashlib.sha256(text.encode()).digest()[0] % 5 == 0 else "train"


def check_split(split: object) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}; 'test' holds the held-out tasks")
    return str(split)


class SandboxTask(gymnasium.Env):
    """Base of a single-agent text task that runs code in a sandbox.

    Subclasses keep their episode (a dataclass with ``done``, ``turn`` and ``transcript``) in ``self._episode``,
    and draw their tasks from their ``split`` only (:func:`split_of`).
    """

    splits: ClassVar[tuple[str, ...]] = SPLITS

    def __init__(self, sandbox: str | Sandbox) -> None:
        if isinstance(sandbox, str):
            self._backend: str | None = sandbox  # the env made this sandbox, so it closes it
            self._sandbox: Sandbox | None = make_sandbox(sandbox)
        elif isinstance(sandbox, Sandbox):
            self._backend, self._sandbox = None, sandbox
        else:
            raise TypeError(f"sandbox must be a backend name such as 'bwrap' or a Sandbox, got {sandbox!r}")
        self.observation_space = text_space()
        self.action_space = text_space()
        self._rng = random.Random()
        self._episode: Any = None

    def _begin(self, seed: int | None, options: dict[str, Any] | None, valid: Collection[str]) -> dict[str, Any]:
        """The start of ``reset``: seed the generator and check ``options`` against ``valid`` names."""
        super().reset(seed=seed)
        if seed is not None:
            self._rng.seed(seed)
        options = dict(options or {})
        unknown = sorted(set(options) - set(valid))
        if unknown:
            raise ValueError(f"unknown reset option(s) {unknown}; valid: {sorted(valid)}")
        return options

    def _release_sandbox(self) -> None:
        """Close the sandbox if this env made it (a borrowed one stays open). Idempotent."""
        if self._backend is not None and self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def snapshot(self) -> dict[str, Any]:
        return {"episode": copy.deepcopy(self._require_started()), "rng": self._rng.getstate()}

    def _restore_episode(self, snapshot: dict[str, Any], episode_type: type) -> None:
        if not isinstance(snapshot, dict) or not isinstance(snapshot.get("episode"), episode_type):
            raise TypeError("restore() takes a value returned by this env's snapshot()")
        self._episode = copy.deepcopy(snapshot["episode"])
        self._rng.setstate(snapshot["rng"])

    def _require_started(self) -> Any:
        if self._episode is None:
            raise RuntimeError("call reset() before using the env")
        return self._episode

    def _begin_step(self, action: Any) -> Any:
        """The start of ``step``: the live episode, with ``action`` (the model's reply) counted as a turn."""
        episode = self._require_started()
        if episode.done:
            raise RuntimeError("the episode is over; call reset() to start a new one")
        if not isinstance(action, str):
            raise TypeError(f"action must be the model's reply as a str, got {type(action).__name__}")
        episode.turn += 1
        return episode

    def _transcript_digest(self) -> str:
        """A short hash of the episode's transcript so far, for ``info[STATE_KEY]``."""
        return hashlib.sha1("\x00".join(self._require_started().transcript).encode()).hexdigest()[:16]
