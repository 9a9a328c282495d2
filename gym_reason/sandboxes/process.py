"""Host-side plumbing shared by the process-based backends (bwrap, local): rlimits, bounded
output capture under a wall-clock deadline, killing, and reading an exit status.

Nothing here isolates anything; the backends decide what the process can see.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from gym_reason.sandboxes.base import ExecResult, Limits

SESSION_CPU_CALLS = 100
"""In a session ``Limits.cpu_seconds`` applies per call; the whole session may use this many calls' worth."""

_LIMIT_SIGNALS = {signal.SIGXCPU, signal.SIGXFSZ}
_LIMIT_ERROR_LINES = (
    "MemoryError",
    "BlockingIOError: [Errno 11]",  # fork/clone past RLIMIT_NPROC
    "RuntimeError: can't start new thread",
    "OSError: [Errno 24]",  # too many open files
    "OSError: [Errno 27]",  # file too large
    "OSError: [Errno 28]",  # no space left on /tmp
)


_spawner = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-spawner")


def popen_from_lasting_thread(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(*args, **kwargs)``, started from one thread that lives as long as the process.

    The kernel's parent-death signal (``bwrap --die-with-parent``) fires when the *thread* that
    forked the child exits, not the process: a sandbox started from a short-lived thread (a pool's
    rebuild thread, a worker of a rollout) would be killed under its users' feet.
    """
    return _spawner.submit(subprocess.Popen, *args, **kwargs).result()


def prlimit_args(prlimit: str, limits: Limits, *, session: bool = False) -> list[str]:
    """``prlimit`` options that set every rlimit of :class:`Limits` (soft = hard) and disable core dumps.

    Core dumps are off because a host ``core_pattern`` that pipes to a program would run that
    program on the host for a crash inside the sandbox. ``cpu_seconds`` gets one second of grace
    before ``SIGKILL`` (``SIGXCPU`` comes first); in a session the hard limit is the session's budget.
    """
    mib = 1 << 20
    cpu_hard = limits.cpu_seconds * SESSION_CPU_CALLS if session else limits.cpu_seconds + 1
    return [
        prlimit,
        f"--cpu={limits.cpu_seconds}:{cpu_hard}",
        f"--as={limits.memory_mb * mib}:{limits.memory_mb * mib}",
        f"--nproc={limits.processes}:{limits.processes}",
        f"--fsize={limits.file_size_mb * mib}:{limits.file_size_mb * mib}",
        f"--nofile={limits.open_files}:{limits.open_files}",
        "--core=0:0",
        "--",
    ]


def check_files(files: dict[str, str] | None) -> list[tuple[PurePosixPath, bytes]]:
    """``files`` as (relative path, bytes).

    Raises:
        ValueError: for a name that would leave the sandbox's /tmp (absolute, ``..``, empty).
    """
    checked = []
    for name, text in (files or {}).items():
        path = PurePosixPath(name)
        if not name or "\0" in name or path.is_absolute() or ".." in path.parts or str(path) == ".":
            raise ValueError(
                f"bad file name {name!r}: names in `files` are relative paths inside /tmp, "
                "without '..' (e.g. 'data/input.txt')"
            )
        checked.append((path, text.encode() if isinstance(text, str) else bytes(text)))
    return checked


def memfd(name: str, data: bytes) -> int:
    """An anonymous in-memory file holding ``data``, positioned at 0 (to pass as stdin or to ``bwrap --file``)."""
    fd = os.memfd_create(name, 0)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def close_fds(fds: Iterable[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process group ``proc`` leads (it was started with ``start_new_session=True``) and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    proc.wait()


class _Bounded:
    """Keeps the first ``limit`` bytes written to it, counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        self.dropped += max(0, len(chunk) - max(room, 0))


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (one of another user's counts: signal 0 is refused, not unanswered)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def collect_output(proc: subprocess.Popen[bytes], deadline: float, limit: int) -> tuple[bytes, bytes, bool, bool]:
    """Read ``proc``'s stdout and stderr until both close or ``deadline`` (``time.monotonic``) passes.

    Keeps at most ``limit`` bytes of each and reads and drops the rest, so a flood neither blocks the
    program nor grows host memory. Stops early when the process has exited and the pipes are quiet
    (a background child that inherited them must not make the host wait). Returns
    ``(stdout, stderr, truncated, timed_out)``; on a timeout the caller kills the process.
    """
    assert proc.stdout is not None and proc.stderr is not None
    captured = {proc.stdout.fileno(): _Bounded(limit), proc.stderr.fileno(): _Bounded(limit)}
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    timed_out = False
    with selectors.DefaultSelector() as selector:
        for fd in captured:
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            ready = selector.select(min(remaining, 0.1))
            if not ready and proc.poll() is not None:
                break  # exited, pipes quiet: whatever still holds them is not the program
            for key, _ in ready:
                chunk = os.read(key.fd, 65536)
                if chunk:
                    captured[key.fd].add(chunk)
                else:
                    selector.unregister(key.fd)
    out, err = captured[out_fd], captured[err_fd]
    return bytes(out.data), bytes(err.data), bool(out.dropped or err.dropped), timed_out


def wait_until(proc: subprocess.Popen[bytes], deadline: float) -> bool:
    """Wait for ``proc`` to exit until ``deadline``; False if it is still running."""
    try:
        proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return False
    return True


def exit_status(returncode: int | None, *, shell_style: bool) -> int | None:
    """The program's status as :mod:`subprocess` reports it (negative for a signal).

    ``shell_style``: the status came through a supervisor that reports a signal as ``128 + signo``
    (bwrap and docker's init do); such codes are read as signals, so a program that itself exits with 137 reads
    as -9. Backends use this only when the exact status (:func:`read_reported_status`) is missing.
    """
    if returncode is None or not shell_style:
        return returncode
    if returncode > 128 and (returncode - 128) in set(signal.Signals):
        return -(returncode - 128)
    return returncode


def read_reported_status(fd: int) -> int | None:
    """The status the in-sandbox supervisor (:mod:`gym_reason.sandboxes.supervisor`) wrote to the pipe
    ``fd`` (negative for a signal, as :mod:`subprocess` reports it), or ``None`` if it wrote none."""
    os.set_blocking(fd, False)
    try:
        words = os.read(fd, 64).decode("ascii", errors="replace").split()
    except OSError:  # EAGAIN: nothing written (the supervisor was killed, or the program still runs)
        return None
    if len(words) == 2 and words[0] in ("exit", "signal") and words[1].isdigit():
        return int(words[1]) if words[0] == "exit" else -int(words[1])
    return None


def limit_reached(exit_code: int | None, stderr: str, *, killed_by_host: bool) -> bool:
    """Whether a resource limit ended the program: a limit signal (SIGXCPU, SIGXFSZ, or SIGKILL that
    the host did not send, i.e. the hard CPU limit), or a last traceback line that names a limit error."""
    if exit_code is not None and exit_code < 0:
        sig = -exit_code
        if sig in _LIMIT_SIGNALS or (sig == signal.SIGKILL and not killed_by_host):
            return True
    if exit_code == 1:
        lines = stderr.rstrip().splitlines()
        return bool(lines) and lines[-1].startswith(_LIMIT_ERROR_LINES)
    return False


def process_result(
    out: bytes,
    err: bytes,
    exit_code: int | None,
    *,
    timed_out: bool,
    wall_time: float,
    truncated: bool,
    oom_killed: bool = False,
) -> ExecResult:
    """The :class:`ExecResult` of a one-shot program from its captured output and decoded exit status.

    ``oom_killed``: the sandbox's memory cgroup OOM-killed a process of it (docker, bwrap), which counts
    as a limit like an rlimit signal.
    """
    stderr = err.decode(errors="replace")
    return ExecResult(
        stdout=out.decode(errors="replace"),
        stderr=stderr,
        exit_code=exit_code,
        timed_out=timed_out,
        killed_by_limit=not timed_out and (oom_killed or limit_reached(exit_code, stderr, killed_by_host=False)),
        wall_time=wall_time,
        truncated=truncated,
    )


def signal_note(exit_code: int | None) -> str:
    """``" (SIGXCPU)"`` for a signal exit, else ``""``."""
    if exit_code is not None and exit_code < 0:
        with contextlib.suppress(ValueError):
            return f" ({signal.Signals(-exit_code).name})"
    return ""
