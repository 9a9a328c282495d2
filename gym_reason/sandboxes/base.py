"""The sandbox contract: run untrusted code, get an :class:`ExecResult`, never hurt the host.

A :class:`Sandbox` runs one program from scratch (:meth:`Sandbox.run`) or opens a
persistent :class:`Session` (a REPL whose state is kept across calls, for multi-turn
envs). Both are context managers that always clean up: killed processes, removed
temporary files, stopped containers.

Backends (see :func:`make_sandbox`): ``bwrap`` (default on Linux), ``docker``, and
``local`` (rlimits only, no isolation: only when asked for by name, with a warning).
A backend that is unavailable raises :class:`SandboxUnavailable` saying how to install
it; nothing ever falls back silently to a weaker backend.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import Any


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits applied inside every sandbox (rlimits, or the container's own limits)."""

    cpu_seconds: int = 10
    """CPU time of the whole program (RLIMIT_CPU)."""
    memory_mb: int = 512
    """Memory: the address space of each process (RLIMIT_AS, bwrap and local) and the whole sandbox's
    memory, tmpfs included (a memory cgroup: docker always, bwrap where the machine allows it)."""
    processes: int = 64
    """Processes/threads of the sandbox user (RLIMIT_NPROC) or the container's pids limit."""
    file_size_mb: int = 16
    """Largest file the program may write (RLIMIT_FSIZE)."""
    open_files: int = 64
    """Open file descriptors (RLIMIT_NOFILE)."""
    output_bytes: int = 64_000
    """Captured stdout and stderr are each cut to this many bytes (the rest is read and dropped)."""
    tmp_mb: int = 64
    """Size of the sandbox's writable /tmp. It is a tmpfs (host memory), so it is capped as well as each file."""


@dataclasses.dataclass(frozen=True)
class ExecResult:
    stdout: str
    stderr: str
    exit_code: int | None
    """The program's exit status; negative for a signal (as :mod:`subprocess` reports it); ``None`` if unknown.
    A program that calls ``exit(137)`` reads 137; one killed by SIGKILL reads -9."""
    timed_out: bool
    """The wall-clock timeout expired and the sandbox was killed from the host."""
    killed_by_limit: bool
    """A resource limit ended the program (CPU time, memory, file size, processes)."""
    wall_time: float
    """Seconds from start to the end of the program (or its kill)."""
    truncated: bool = False
    """Output was longer than ``Limits.output_bytes`` and was cut."""

    @property
    def ok(self) -> bool:
        """Exited 0 within its limits."""
        return self.exit_code == 0 and not self.timed_out and not self.killed_by_limit


class SandboxUnavailable(RuntimeError):
    """The requested backend cannot run here; the message says how to install or start it."""


class Session(abc.ABC):
    """A persistent interpreter inside one sandbox: variables, imports and files in /tmp survive between calls.

    Every backend keeps :attr:`restarts` and :attr:`last_restart_cause` up to date: a caller that
    replays state (the code envs) compares ``restarts`` before and after a call to learn that the
    state is gone, whatever the reason (a timeout, a crash, a limit, a garbled reply).
    """

    restarts: int = 0
    """How many times the interpreter was replaced by a fresh one (each time its state was lost)."""
    last_restart_cause: str | None = None
    """Why the last restart happened, in words (``"timed out after 2s"``, ``"the interpreter was killed
    by a signal (SIGKILL)"``, ``"the interpreter exited with status 137"``...); ``None`` before the first."""

    @abc.abstractmethod
    def run(self, code: str, timeout: float = 10.0) -> ExecResult:
        """Execute ``code`` in the session. After a timeout or a crash the session restarts clean
        (its state is lost), counts it in :attr:`restarts`, and says so in ``stderr``."""

    @abc.abstractmethod
    def close(self) -> None:
        """Kill the interpreter and remove everything the session made. Idempotent."""

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Sandbox(abc.ABC):
    """One backend with its limits."""

    name: str

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    @abc.abstractmethod
    def run(
        self, code: str, timeout: float = 10.0, *, stdin: str = "", files: dict[str, str] | None = None
    ) -> ExecResult:
        """Run ``code`` as a fresh Python program; ``files`` are written into its /tmp first (name -> text)."""

    @abc.abstractmethod
    def session(self) -> Session:
        """A new persistent session (close it, or use it as a context manager)."""

    def close(self) -> None:  # noqa: B027  (backends that hold nothing need not override it)
        """Release what the backend holds (a docker client, say). Idempotent."""

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


BACKENDS: dict[str, Callable[..., Sandbox]] = {}
"""Backend name -> factory(limits=Limits, **options)."""


def register_backend(name: str, factory: Callable[..., Sandbox]) -> None:
    BACKENDS[name] = factory


def make_sandbox(backend: str = "bwrap", limits: Limits | None = None, **options: Any) -> Sandbox:
    """The sandbox ``backend`` (``bwrap``, ``docker`` or ``local``) with ``limits``.

    Raises:
        ValueError: for an unknown backend name (the message lists the valid ones).
        SandboxUnavailable: when the backend cannot run on this machine (how to install it).
    """
    import gym_reason.sandboxes  # noqa: F401  (registers the built-in backends)

    factory = BACKENDS.get(backend)
    if factory is None:
        raise ValueError(f"unknown sandbox backend {backend!r}; valid: {sorted(BACKENDS)}")
    return factory(limits=limits, **options)
