"""Env workers as Ray actors: slow or heavy envs (sandboxes, browsers) leave the trainer's process.

Install with ``pip install 'gym-reason[ray]'``. Two ways to use an :class:`EnvWorkerPool`:

* **Remote envs** (:meth:`EnvWorkerPool.make`): a :class:`RemoteTask` or :class:`RemoteGame` proxy that
  the episode engine (:func:`~gym_reason.eval.engine.play_episodes`) plays exactly like a local env, so
  the learner (the policy being trained) stays in the trainer's process while every ``reset`` and
  ``step`` runs on a worker. ``gym-reason selfplay --env-workers N`` plays its rollouts this way. Each
  call is one round trip (the worker sends back the env's next view with the reply); the engine sends
  every step of a round (``submit_step``) before collecting the replies, so envs on different workers
  step at the same time.
* **Worker-pool front** (:meth:`EnvWorkerPool.play`): whole episodes with fixed agents (random, bots)
  played on the workers by the engine there, chunks of the requests in parallel: evaluation and
  benchmark traffic that needs no learner.

**Same seeds, same trajectories.** A remote env is built on its worker by ``gym_reason.make`` with the
same arguments and reset with the same seed, so an episode played through a proxy is the one played
in-process, token for token (a test checks it with the tiny model).

**A dead worker** (its process killed mid-episode, its node lost): Ray restarts the actor (up to
``max_restarts`` times). The env call in flight raises :class:`EnvWorkerDied`, which the engine records
as a *failed* episode (``episode.error`` says which worker died): the trainer drops failed episodes from
the update and counts them in ``failed_games``, never as a zero reward. The rule is **drop, not
replay**: the episode's partial moves are gone with the env's state, and a replay would bias a step
towards episodes short enough to survive. Later calls of an episode that was in flight on the old
process fail too (its env is gone), as do calls made while Ray is still restarting the worker; the
proxy's next ``reset`` waits for the restart (up to ``restart_timeout``) and builds the env again on the
new process, so the next episode plays normally. A worker past ``max_restarts``, or whose node is lost
for good (workers are pinned to nodes), stays dead: every episode on it fails, counted.

**Several machines.** Start Ray on the head machine with ``ray start --head --port=6379`` and on each
other machine with ``ray start --address=<head-ip>:6379``; then give the address to the pool
(``EnvWorkerPool(address="<head-ip>:6379")`` or ``--ray-address``; ``auto`` joins the cluster this
machine belongs to). The pool puts its workers on the cluster's nodes in turn. Every
node needs gym-reason installed (and the sandbox or browser its envs use).
"""

from __future__ import annotations

import contextlib
import itertools
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from gym_reason import registry
from gym_reason.eval.engine import Episode, EpisodeRequest, Learner, play_episodes

INSTALL = "pip install 'gym-reason[ray]'"


class EnvWorkerDied(RuntimeError):
    """The Ray actor holding an env died during a call; the episode it was playing is failed (dropped)."""


def _ray() -> Any:
    try:
        import ray
    except ImportError as error:
        raise ImportError(f"Ray env workers need the Python package ray ({INSTALL})") from error
    return ray


class EnvWorker:
    """The actor's body: envs by key, built with :func:`gym_reason.make` (run inside a Ray actor)."""

    def __init__(self) -> None:
        self.envs: dict[str, Any] = {}

    def where(self) -> tuple[str, int]:
        """``(node id, process id)`` of this worker."""
        import os

        import ray

        return ray.get_runtime_context().get_node_id(), os.getpid()

    def open(self, key: str, env_id: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Build an env under ``key``; what a proxy needs to know of it before the first reset."""
        env = self._build(key, env_id, kwargs)
        multi = hasattr(env, "agent_iter")
        return {
            "multi": multi,
            "possible_agents": list(env.possible_agents) if multi else None,
            "answer_format": getattr(env, "answer_format", "bracket"),
            "game": getattr(env, "game", None),  # fixed bots and the random agent read the game's rules
        }

    def _build(self, key: str, env_id: str, kwargs: dict[str, Any]) -> Any:
        env = registry.make(env_id, **kwargs)
        self.envs[key] = env
        return env

    def _env(self, key: str) -> Any:
        env = self.envs.get(key)
        if env is None:
            raise EnvWorkerDied(
                "this env's worker restarted during the episode (its env state is gone); the episode is "
                "dropped and the next reset builds the env again"
            )
        return env

    @staticmethod
    def _game_view(env: Any) -> dict[str, Any]:
        agents = list(env.agents)
        return {
            "agents": agents,
            "selection": env.agent_selection if agents else None,
            "last": env.last() if agents else None,
            "infos": dict(env.infos),
        }

    def reset(self, key: str, env_id: str, kwargs: dict[str, Any], seed: int | None, options: Any) -> Any:
        env = self.envs.get(key) or self._build(key, env_id, kwargs)  # a restarted worker builds it again
        view = env.reset(seed=seed, options=options)
        return self._game_view(env) if hasattr(env, "agent_iter") else view

    def step(self, key: str, action: Any) -> Any:
        env = self._env(key)
        result = env.step(action)
        return self._game_view(env) if hasattr(env, "agent_iter") else result

    def close(self, key: str) -> None:
        env = self.envs.pop(key, None)
        if env is not None and hasattr(env, "close"):
            env.close()

    def play(
        self, env_id: str, kwargs: dict[str, Any], requests: list[EpisodeRequest], transcripts: bool
    ) -> list[Episode]:
        """Play ``requests`` with the engine here, on envs it builds (one per episode in flight) and closes."""
        return play_episodes(requests, make_env=lambda: registry.make(env_id, **kwargs), transcripts=transcripts)


_ACTOR_ERRORS: tuple[type[BaseException], ...] | None = None


def _actor_errors() -> tuple[type[BaseException], ...]:
    """Ray's exceptions for a call whose actor died or cannot be reached."""
    global _ACTOR_ERRORS
    if _ACTOR_ERRORS is None:
        from ray import exceptions

        names = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError")
        _ACTOR_ERRORS = tuple(getattr(exceptions, n) for n in names if hasattr(exceptions, n))
    return _ACTOR_ERRORS


class RemoteTask:
    """A single-agent task living on an :class:`EnvWorker`: Gymnasium's ``reset``/``step`` by round trip."""

    def __init__(
        self,
        pool: EnvWorkerPool,
        worker: int,
        env_id: str,
        kwargs: dict[str, Any],
        key: str,
        description: dict[str, Any],
    ) -> None:
        self.pool, self.worker, self.env_id, self.kwargs, self.key = pool, worker, env_id, kwargs, key
        self.answer_format = description["answer_format"]
        self.game = description["game"]
        self.closed = False
        self._submitted: tuple[Any, Any] | None = None  # (action, object ref) of a step sent by submit_step

    def _call(self, method: str, *args: Any, wait_restart: bool = False, submitted: Any = None) -> Any:
        """One call of this env on its worker; a dead, restarting or silent worker raises :class:`EnvWorkerDied`."""
        ray = _ray()
        try:
            return self.pool.call(self.worker, method, *args, wait_restart=wait_restart, submitted=submitted)
        except ray.exceptions.ActorUnavailableError:
            raise EnvWorkerDied(
                f"env worker {self.worker} holding {self.env_id} is restarting after a crash (during {method}); "
                "this episode is dropped as failed"
            ) from None
        except _actor_errors() as error:
            raise EnvWorkerDied(
                f"env worker {self.worker} holding {self.env_id} died during {method} ({type(error).__name__}); "
                f"Ray restarts it (max_restarts={self.pool.max_restarts}) and this episode is dropped as failed"
            ) from None
        except ray.exceptions.GetTimeoutError:
            raise EnvWorkerDied(
                f"env worker {self.worker} holding {self.env_id} did not answer {method} within "
                f"call_timeout={self.pool.call_timeout} s; this episode is dropped as failed"
            ) from None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        self._submitted = None
        return self._call("reset", self.key, self.env_id, self.kwargs, seed, options, wait_restart=True)

    def submit_step(self, action: Any) -> None:
        """Send ``step(action)`` to the worker now and return; the next ``step(action)`` collects its reply.

        The engine submits every step of a round before collecting any, so envs on different workers step at
        the same time (one worker runs its envs' steps in order)."""
        if self._submitted is not None:  # one env in two episodes of a round: the second step is sent by step()
            return
        try:
            self._submitted = (action, self.pool.actors[self.worker].step.remote(self.key, action))
        except Exception:  # sending failed: step() sends again and reports what goes wrong
            self._submitted = None

    def step(self, action: Any) -> Any:
        submitted, self._submitted = self._submitted, None
        if submitted is not None and submitted[0] != action:
            raise RuntimeError(
                f"{self!r}: step({action!r}) after submit_step({submitted[0]!r}); step what was submitted"
            )
        return self._call("step", self.key, action, submitted=None if submitted is None else submitted[1])

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(EnvWorkerDied):  # its worker is gone, and the env with it
                self._call("close", self.key)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.env_id} on env worker {self.worker}>"


class RemoteGame(RemoteTask):
    """A turn-based game (PettingZoo AEC) living on an :class:`EnvWorker`.

    ``reset`` and ``step`` bring back the game's next view (``agents``, ``agent_selection``, ``last()``,
    ``infos``), so reading it costs no round trip.
    """

    def __init__(
        self,
        pool: EnvWorkerPool,
        worker: int,
        env_id: str,
        kwargs: dict[str, Any],
        key: str,
        description: dict[str, Any],
    ) -> None:
        super().__init__(pool, worker, env_id, kwargs, key, description)
        self.possible_agents: list[str] = description["possible_agents"]
        self._view: dict[str, Any] = {"agents": [], "selection": None, "last": None, "infos": {}}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        self._view = super().reset(seed=seed, options=options)

    def step(self, action: Any) -> None:
        self._view = super().step(action)

    @property
    def agents(self) -> list[str]:
        return self._view["agents"]

    @property
    def agent_selection(self) -> str | None:
        return self._view["selection"]

    @property
    def infos(self) -> dict[str, dict[str, Any]]:
        return self._view["infos"]

    def last(self, observe: bool = True) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """PettingZoo's ``last()``, as the worker sent it with the last reply (observed either way)."""
        if self._view["last"] is None:
            raise RuntimeError(f"{self.env_id} has no agent to move (reset it first, or the game is over)")
        return self._view["last"]

    def agent_iter(self, max_iter: int = 2**63) -> Iterator[str]:
        for _ in range(max_iter):
            if not self.agents:
                return
            yield self.agent_selection  # type: ignore[misc]


class EnvWorkerPool:
    """``workers`` Ray actors that hold envs; see the module docstring.

    ``num_cpus``: the CPUs Ray reserves per worker (``1`` puts one worker per core; ``0`` lets workers share
    cores, for envs that mostly wait). ``max_restarts``: how often Ray brings a dead worker back.
    ``call_timeout``: seconds an env call may take before it fails the episode as :class:`EnvWorkerDied` (``None``:
    no limit). ``restart_timeout``: how long a ``reset`` waits for a restarting worker. ``address``: a Ray cluster to join (``auto``,
    ``<head-ip>:6379``); by default the running Ray instance, or a new local one.
    """

    def __init__(
        self,
        workers: int = 2,
        *,
        num_cpus: float = 0,
        max_restarts: int = 3,
        call_timeout: float | None = None,
        restart_timeout: float = 120.0,
        address: str | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if max_restarts < 0:
            raise ValueError(f"max_restarts must be 0 or more (-1 is not allowed here), got {max_restarts}")
        ray = _ray()
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        self.max_restarts = max_restarts
        self.call_timeout = call_timeout
        self.restart_timeout = restart_timeout
        actor = ray.remote(EnvWorker)
        options = {"num_cpus": num_cpus, "max_restarts": max_restarts, "max_task_retries": 0}
        self.actors = [actor.options(**options, scheduling_strategy=where).remote() for where in _spread(workers)]
        self._next = itertools.cycle(range(workers))

    def __len__(self) -> int:
        return len(self.actors)

    def where(self) -> list[tuple[str, int]]:
        """``(node id, pid)`` of each worker."""
        ray = _ray()
        return ray.get([a.where.remote() for a in self.actors])

    def make(self, env_id: str, *, worker: int | None = None, **kwargs: Any) -> RemoteTask:
        """A proxy of ``gym_reason.make(env_id, **kwargs)`` built on ``worker`` (default: the next, round robin)."""
        env_id = registry.resolve_id(env_id)
        if worker is None:
            worker = next(self._next)
        elif not 0 <= worker < len(self.actors):
            raise ValueError(f"worker must be in 0..{len(self.actors) - 1}, got {worker}")
        key = uuid.uuid4().hex
        description = self.call(worker, "open", key, env_id, kwargs, wait_restart=True)
        kind = RemoteGame if description["multi"] else RemoteTask
        return kind(self, worker, env_id, kwargs, key, description)

    def call(self, worker: int, method: str, *args: Any, wait_restart: bool = False, submitted: Any = None) -> Any:
        """``ray.get`` of one call on ``worker``, an exception the env raised there raised here as itself.

        ``wait_restart``: the call starts afresh (building or resetting an env, a chunk of whole episodes), so
        while Ray restarts a crashed worker it is retried for up to ``restart_timeout`` seconds instead of
        raising Ray's ``ActorUnavailableError``. ``submitted``: the call's object ref, already sent."""
        ray = _ray()
        deadline = time.monotonic() + self.restart_timeout
        while True:
            ref = submitted if submitted is not None else getattr(self.actors[worker], method).remote(*args)
            submitted = None
            try:
                return ray.get(ref, timeout=self.call_timeout)
            except ray.exceptions.ActorUnavailableError:  # restarting after a crash: its envs are gone
                if not wait_restart or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
            except ray.exceptions.RayTaskError as error:
                raise error.as_instanceof_cause() from None

    def kill(self, worker: int, timeout: float = 60.0) -> None:
        """Kill one worker's process as a crash would (Ray restarts it within ``max_restarts``); returns once
        the old process no longer answers (``ray.kill`` only sends the request)."""
        ray = _ray()
        actor = self.actors[worker]
        old = ray.get(actor.where.remote())
        ray.kill(actor, no_restart=False)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if ray.get(actor.where.remote(), timeout=timeout) != old:
                    return  # already restarted
            except _actor_errors():
                return  # dead or restarting
            time.sleep(0.05)
        raise TimeoutError(f"env worker {worker} still answers {timeout} s after ray.kill")

    def play(
        self,
        requests: Sequence[EpisodeRequest],
        *,
        env_kwargs: dict[str, Any] | None = None,
        transcripts: bool = False,
    ) -> list[Episode]:
        """Play ``requests`` (one env id, no env given, every seat an agent) on the workers, one contiguous
        chunk each, and return one :class:`Episode` per request in order. Each chunk is the in-process
        ``play_episodes`` of those requests (its agents are copies, their generators as they were when sent).
        A chunk whose worker died is recorded as failed episodes (dropped, never scored)."""
        env_ids = {r.env_id for r in requests}
        if len(env_ids) > 1:
            raise ValueError(f"play takes requests of one env id, got {sorted(env_ids)}; call it once per env")
        for r in requests:
            if r.env is not None or not r.players or any(p is None or isinstance(p, Learner) for p in r.players):
                raise ValueError(
                    f"request for {r.env_id!r} (seed {r.seed}) brings an env or leaves a seat to a learner; the "
                    "worker pool plays agents on envs it builds: leave env=None and name an agent per seat "
                    "(the learner plays remote envs from pool.make in the trainer's process)"
                )
        if not requests:
            return []
        ray = _ray()
        env_id = registry.resolve_id(next(iter(env_ids)))
        n = len(self.actors)
        bounds = [len(requests) * k // n for k in range(n + 1)]
        chunks = [list(requests[bounds[k] : bounds[k + 1]]) for k in range(n)]
        futures = [
            (worker, chunk, self.actors[worker].play.remote(env_id, dict(env_kwargs or {}), chunk, transcripts))
            for worker, chunk in enumerate(chunks)
            if chunk
        ]
        episodes: list[Episode] = []
        for worker, chunk, future in futures:
            try:
                try:
                    episodes += ray.get(future, timeout=self.call_timeout)
                except ray.exceptions.RayTaskError as error:  # the engine or env build raised there: raise it here
                    raise error.as_instanceof_cause() from None
                except ray.exceptions.ActorUnavailableError:  # restarting before it began: nothing was played yet
                    episodes += self.call(worker, "play", env_id, dict(env_kwargs or {}), chunk, transcripts,
                                          wait_restart=True)  # fmt: skip
            except (*_actor_errors(), ray.exceptions.GetTimeoutError) as error:
                reason = f"EnvWorkerDied: env worker {worker} died ({type(error).__name__}); episode dropped"
                episodes += [_failed(r, reason) for r in chunk]
        return episodes

    def close(self) -> None:
        """Stop the workers (and every env on them)."""
        ray = _ray()
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []


def _spread(workers: int) -> list[Any]:
    """A scheduling strategy per worker: the cluster's alive nodes in turn, pinned (Ray's ``SPREAD``, and a soft
    node affinity too, packed three workers that reserve no CPU onto two of three nodes in a test). Pinned, a
    worker restarts on its node; a worker whose node is lost for good stays dead and its episodes fail, counted."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))
    if not nodes:
        return ["SPREAD"] * workers
    return [NodeAffinitySchedulingStrategy(node_id=nodes[k % len(nodes)], soft=False) for k in range(workers)]


def _failed(request: EpisodeRequest, error: str) -> Episode:
    n = len(request.players)
    labels = list(request.labels) or [p.name for p in request.players]  # type: ignore[union-attr]
    return Episode(request.seed, labels, [0.0] * n, [None] * n, [0] * n, [0] * n, [None] * n, error=error,
                   env_id=request.env_id)  # fmt: skip
