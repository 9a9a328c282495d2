"""A thread-safe pool of sessions, so that many envs of a rollout can execute code at once.

    pool = SandboxPool("bwrap", size=32, limits=Limits(cpu_seconds=5))
    with pool.session() as session:          # blocks while all 32 are in use
        session.run("x = 1")
    pool.close()                             # kills every session, in use or idle

Sessions are started on demand, up to ``size``. A released session is by default
replaced by a fresh one (its state must not leak into the next episode), built in a
background thread so that the next :meth:`SandboxPool.acquire` finds it warm;
``release(session, reset=False)`` hands it back as it is.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

from gym_reason.sandboxes.base import Limits, Sandbox, Session, make_sandbox


class SandboxPool:
    """Up to ``size`` sessions of one sandbox, handed out to threads."""

    def __init__(self, backend: str | Sandbox = "bwrap", size: int = 8, limits: Limits | None = None, **options: Any):
        """``backend``: a backend name (made with :func:`make_sandbox` and ``limits``/``options``, and
        closed with the pool) or a :class:`Sandbox` you own (then ``limits`` and ``options`` must be unset)."""
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        if isinstance(backend, Sandbox):
            if limits is not None or options:
                raise ValueError("pass limits and options to the Sandbox you give, not to the pool")
            self.sandbox, self._owns_sandbox = backend, False
        else:
            self.sandbox, self._owns_sandbox = make_sandbox(backend, limits, **options), True
        self.size = size
        self._cond = threading.Condition()
        self._idle: list[Session] = []
        self._in_use: set[Session] = set()
        self._slots = 0  # sessions idle, in use, or being built
        self._builders: set[threading.Thread] = set()
        self._closed = False

    def acquire(self, timeout: float | None = None) -> Session:
        """A session for the caller's exclusive use; blocks while ``size`` are in use.

        Raises:
            TimeoutError: none came free within ``timeout`` seconds.
            RuntimeError: the pool is closed.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                self._check_open()
                if self._idle:
                    session = self._idle.pop()
                    self._in_use.add(session)
                    return session
                if self._slots < self.size:
                    self._slots += 1
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError(f"all {self.size} sessions of the pool stayed in use for {timeout}s")
                self._cond.wait(remaining)
        try:
            session = self.sandbox.session()
        except BaseException:
            self._free_slot()
            raise
        with self._cond:
            if self._closed:
                self._slots -= 1
                session.close()
                self._check_open()
            self._in_use.add(session)
        return session

    def release(self, session: Session, *, reset: bool = True) -> None:
        """Give ``session`` back. ``reset``: close it and build a fresh one (default), or keep its state."""
        with self._cond:
            if session not in self._in_use:
                raise ValueError("this session is not in use from this pool (released twice, or another pool's)")
            self._in_use.remove(session)
            if not reset and not self._closed:
                self._idle.append(session)
                self._cond.notify()
                return
        session.close()
        with self._cond:
            if self._closed:
                self._slots -= 1
                return
            builder = threading.Thread(target=self._rebuild, name="sandbox-pool-rebuild", daemon=True)
            self._builders.add(builder)
        builder.start()

    @contextlib.contextmanager
    def session(self, timeout: float | None = None, *, reset: bool = True) -> Iterator[Session]:
        """``with pool.session() as s:`` acquire, and release on exit (see :meth:`release` for ``reset``)."""
        session = self.acquire(timeout)
        try:
            yield session
        finally:
            self.release(session, reset=reset)

    def close(self) -> None:
        """Close every session, idle or in use, and wait for sessions being built. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            sessions = [*self._idle, *self._in_use]
            self._idle.clear()
            self._in_use.clear()
            self._slots -= len(sessions)
            builders = list(self._builders)
            self._cond.notify_all()
        for session in sessions:
            session.close()
        for builder in builders:
            builder.join()
        if self._owns_sandbox:
            self.sandbox.close()

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- internals

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this SandboxPool is closed")

    def _free_slot(self) -> None:
        with self._cond:
            self._slots -= 1
            self._cond.notify()

    def _rebuild(self) -> None:
        try:
            session = self.sandbox.session()
        except Exception:  # the next acquire builds one itself and raises the error there
            session = None
        with self._cond:
            self._builders.discard(threading.current_thread())
            if session is None or self._closed:
                self._slots -= 1
                self._cond.notify()
            else:
                self._idle.append(session)
                self._cond.notify()
                return
        if session is not None:
            session.close()
