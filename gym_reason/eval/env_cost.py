"""The env-cost card: what an env costs the loop that plays it, measured on the episode engine.

:func:`env_cost` builds the env, times its first (cold) reset apart (a sandbox or a browser starting),
then plays seeded episodes one at a time with an agent (``random`` by default) through
:func:`~gym_reason.eval.engine.play_episodes`, timing every ``reset`` and ``step`` of the env itself
(the agent's time is not the env's). The card reports p50/p99 latency of reset and step, episodes per
second (of the env alone and of the whole loop), and every call that blocked longer than a threshold:
the calls that would stall a batched rollout round. ``gym-reason bench-env ID`` prints it.

>>> card = env_cost("kuhn_poker", episodes=5, seed=0)
>>> card.episodes, card.failed, card.blocked
(5, 0, False)
>>> card.step.calls >= 10 and card.step.p50_ms <= card.step.p99_ms
True
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from typing import Any

from gym_reason import registry
from gym_reason.agents.base import make_agent
from gym_reason.eval.engine import EpisodeRequest, play_episodes

DEFAULT_BLOCK_MS = 1000.0
"""A call slower than this (one second) is reported as blocking: a round of a batched rollout waits for it."""


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values`` by the nearest-rank rule: always one of the values.

    >>> percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50), percentile([5.0, 1.0, 3.0, 2.0, 4.0], 99)
    (3.0, 5.0)
    """
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be in [0, 100], got {q}")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclasses.dataclass(frozen=True)
class Latency:
    """The latency of one kind of env call, in milliseconds."""

    calls: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        ms = [s * 1000 for s in seconds]
        mean = sum(ms) / len(ms) if ms else math.nan
        return cls(len(ms), percentile(ms, 50), percentile(ms, 99), max(ms, default=math.nan), mean)


@dataclasses.dataclass(frozen=True)
class EnvCost:
    """The card: an env's cost over ``episodes`` seeded episodes played by ``agent``."""

    env_id: str
    agent: str
    episodes: int
    failed: int
    """Episodes the engine recorded as failed (the env raised); their calls still count in the latencies."""
    construct_ms: float
    first_reset_ms: float
    """The first reset of a new env (sandbox, browser or data loading start here), kept out of ``reset``."""
    reset: Latency
    step: Latency
    env_seconds: float
    """Time spent inside the env's reset and step over the measured episodes."""
    wall_seconds: float
    """Wall time of the measured episodes, the agent's turns included."""
    block_ms: float
    slow_calls: tuple[tuple[str, float], ...]
    """``(call, milliseconds)`` of every call slower than ``block_ms``: construct, first reset, reset, step."""
    first_error: str | None = None

    @property
    def blocked(self) -> bool:
        """Whether any call (the construction and the cold first reset included) took longer than ``block_ms``."""
        return bool(self.slow_calls)

    @property
    def env_episodes_per_s(self) -> float:
        """Episodes per second of env time alone: the ceiling with an instant agent."""
        return self.episodes / self.env_seconds if self.env_seconds > 0 else math.inf

    @property
    def episodes_per_s(self) -> float:
        """Episodes per wall second of the whole loop with this agent."""
        return self.episodes / self.wall_seconds if self.wall_seconds > 0 else math.inf

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.update(
            blocked=self.blocked, env_episodes_per_s=self.env_episodes_per_s, episodes_per_s=self.episodes_per_s
        )
        return data

    def lines(self) -> list[str]:
        """The card as text, one fact per line."""
        out = [
            f"{self.env_id}: {self.episodes} episodes by {self.agent} ({self.failed} failed)",
            f"  construct {self.construct_ms:.1f} ms, first reset {self.first_reset_ms:.1f} ms",
        ]
        for name, lat in (("reset", self.reset), ("step", self.step)):
            out.append(
                f"  {name:<5} {lat.calls:>6} calls  p50 {lat.p50_ms:8.3f} ms  p99 {lat.p99_ms:8.3f} ms  "
                f"max {lat.max_ms:8.3f} ms"
            )
        out.append(
            f"  episodes/s: {self.env_episodes_per_s:.1f} (env alone), {self.episodes_per_s:.1f} (with the agent)"
        )
        if self.blocked:
            worst = max(self.slow_calls, key=lambda c: c[1])
            out.append(
                f"  BLOCKS: {len(self.slow_calls)} call(s) over {self.block_ms:g} ms (slowest: {worst[0]} {worst[1]:.0f} ms)"
            )
        else:
            out.append(f"  no call over {self.block_ms:g} ms")
        if self.first_error is not None:
            out.append(f"  first failure: {self.first_error}")
        return out


class _Timed:
    """The env as the engine sees it, with the time of every ``reset`` and ``step`` recorded."""

    def __init__(self, env: Any) -> None:
        self._env = env
        self.resets: list[float] = []
        self.steps: list[float] = []

    def reset(self, *args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self._env.reset(*args, **kwargs)
        finally:
            self.resets.append(time.perf_counter() - t0)

    def step(self, action: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return self._env.step(action)
        finally:
            self.steps.append(time.perf_counter() - t0)

    def __getattr__(self, name: str) -> Any:  # agents, last(), infos, answer_format: the env's own
        return getattr(self._env, name)


def env_cost(
    env_id: str,
    *,
    episodes: int = 20,
    seed: int = 0,
    agent: str = "random",
    block_ms: float = DEFAULT_BLOCK_MS,
    env_kwargs: Mapping[str, Any] | None = None,
) -> EnvCost:
    """Measure ``env_id`` over ``episodes`` episodes seeded ``seed, seed + 1, ...``, every seat played by
    ``agent`` (an agent spec: ``random``, ``fixed:<bot>``, ...; one agent per seat, seeded apart).

    Raises what the env raises when it cannot be built or cannot reset at all (a missing sandbox raises
    :class:`~gym_reason.sandboxes.base.SandboxUnavailable` with the install command); episodes that fail
    later are counted in ``failed``.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    if not block_ms > 0:
        raise ValueError(f"block_ms must be a positive number of milliseconds, got {block_ms}")
    env_id = registry.resolve_id(env_id)
    t0 = time.perf_counter()
    env = registry.make(env_id, **dict(env_kwargs or {}))
    construct = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        env.reset(seed=seed)
        first_reset = time.perf_counter() - t0
        seats = list(env.possible_agents) if hasattr(env, "agent_iter") else ["agent"]
        players = [make_agent(agent, env, seed=seed * 1000 + k) for k in range(len(seats))]
        timed = _Timed(env)
        requests = [EpisodeRequest(env_id, timed, seed=seed + i, players=players) for i in range(episodes)]
        t0 = time.perf_counter()
        played = play_episodes(requests, concurrency=1)
        wall = time.perf_counter() - t0
    finally:
        close = getattr(env, "close", None)
        if close is not None:
            close()
    slow = [("construct", construct * 1000), ("first reset", first_reset * 1000)]
    slow += [(name, s * 1000) for name, calls in (("reset", timed.resets), ("step", timed.steps)) for s in calls]
    slow = [call for call in slow if call[1] > block_ms]
    errors = [e.error for e in played if e.error is not None]
    return EnvCost(
        env_id=env_id,
        agent=agent,
        episodes=episodes,
        failed=len(errors),
        construct_ms=construct * 1000,
        first_reset_ms=first_reset * 1000,
        reset=Latency.of(timed.resets),
        step=Latency.of(timed.steps),
        env_seconds=sum(timed.resets) + sum(timed.steps),
        wall_seconds=wall,
        block_ms=block_ms,
        slow_calls=tuple(slow),
        first_error=errors[0] if errors else None,
    )
