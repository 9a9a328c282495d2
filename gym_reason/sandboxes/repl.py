"""Persistent sessions: the host side of the REPL driver (:mod:`gym_reason.sandboxes.repl_driver`).

A backend makes a session by giving :class:`ReplSession` a ``spawn`` function that starts
:func:`driver_command` inside its sandbox with the driver's stdin and stdout as pipes
(``subprocess.Popen(..., stdin=PIPE, stdout=PIPE, stderr=PIPE)``), and a ``kill``
function that destroys that sandbox. Everything else is here: framing, the per-call
wall-clock deadline, bounded reads, and a clean restart after a timeout or a crash.

The docker backend reuses it as is: ``spawn`` runs ``docker exec -i <container>`` with
:func:`driver_command`, ``kill`` removes the container.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import selectors
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gym_reason.sandboxes.base import ExecResult, Limits, Session
from gym_reason.sandboxes.process import exit_status, kill_group, limit_reached, signal_note

STARTUP_TIMEOUT = 30.0
"""Seconds a new session's interpreter may take to say it is ready."""

_MAX_HEADER = 4096


@functools.cache
def driver_source() -> str:
    """The text of the driver script (read once)."""
    return (Path(__file__).parent / "repl_driver.py").read_text()


def driver_config(limits: Limits) -> str:
    """The driver's one argument: the limits it applies itself (output per call, CPU seconds per call)."""
    return json.dumps({"output_bytes": limits.output_bytes, "cpu_seconds": limits.cpu_seconds})


def driver_command(interpreter: str, limits: Limits) -> list[str]:
    """argv that runs the driver with ``interpreter`` (a Python 3.8+ inside the sandbox), its source inline.

    A backend that can put a file into the sandbox may run ``[interpreter, path, driver_config(limits)]``
    with :func:`driver_source` at ``path`` instead, which keeps ``/proc/*/cmdline`` short.
    """
    return [interpreter, "-c", driver_source(), driver_config(limits)]


class _ProtocolError(Exception):
    """The driver's reply was missing, late, or malformed."""


class _Reader:
    """Reads whole frames from a pipe under a deadline (bytes beyond a frame wait in the buffer)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()
        self.selector = selectors.DefaultSelector()
        self.selector.register(fd, selectors.EVENT_READ)

    def read_exact(self, n: int, deadline: float) -> bytes:
        while len(self.buffer) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.selector.select(remaining):
                raise TimeoutError
            chunk = os.read(self.fd, max(65536, n - len(self.buffer)))
            if not chunk:
                raise _ProtocolError("the interpreter closed its output")
            self.buffer += chunk
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def read_header(self, deadline: float) -> dict[str, Any]:
        (size,) = struct.unpack(">I", self.read_exact(4, deadline))
        if size > _MAX_HEADER:
            raise _ProtocolError(f"header of {size} bytes")
        try:
            header = json.loads(self.read_exact(size, deadline))
        except ValueError as error:
            raise _ProtocolError(f"bad header: {error}") from None
        if not isinstance(header, dict):
            raise _ProtocolError("bad header")
        return header

    def close(self) -> None:
        self.selector.close()


class ReplSession(Session):
    """A persistent interpreter in a sandbox that ``spawn`` starts and ``kill`` destroys.

    Thread-safe (one call at a time). After a timeout, a crash of the interpreter or a
    garbled reply, the sandbox is killed and a fresh one started; the result says so in
    ``stderr`` and the session's state (variables, imports, files in /tmp) is gone.
    """

    def __init__(
        self,
        spawn: Callable[[], subprocess.Popen[bytes]],
        limits: Limits,
        *,
        kill: Callable[[subprocess.Popen[bytes]], None] = kill_group,
        shell_style_status: bool = False,
        reported_status: Callable[[subprocess.Popen[bytes]], int | None] | None = None,
        oom_kills: Callable[[subprocess.Popen[bytes]], int] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        """``shell_style_status``: the process reports a signal as ``128 + signo`` (bwrap, docker).
        ``reported_status``: the exact status of a crashed interpreter (negative for a signal), when the
        sandbox knows it (bwrap's supervisor); ``None`` falls back to the process's own status.
        ``oom_kills``: how many processes the sandbox's memory cgroup has OOM-killed so far; read once after
        each call, and a call after which it has grown reports ``killed_by_limit`` (a kill of a background
        process between two calls is reported with the second).
        ``on_close``: called once after the last sandbox is killed (to remove a work directory, say)."""
        self._spawn = spawn
        self._kill = kill
        self._limits = limits
        self._shell_style = shell_style_status
        self._reported_status = reported_status
        self._oom_kills = oom_kills
        self._on_close = on_close
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: _Reader | None = None
        self._closed = False
        self._ooms_seen = 0
        self.restarts = 0
        self.last_restart_cause = None
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    # -- lifecycle

    def _start(self) -> None:
        proc = self._spawn()
        assert proc.stdin is not None and proc.stdout is not None
        self._proc, self._reader, self._ooms_seen = proc, _Reader(proc.stdout.fileno()), 0
        try:
            ready = self._reader.read_header(time.monotonic() + STARTUP_TIMEOUT)
        except (TimeoutError, _ProtocolError, struct.error) as error:
            why = self._stop()
            raise RuntimeError(f"the session's interpreter did not start ({error!r}): {why}") from None
        if not ready.get("ready"):
            why = self._stop()
            raise RuntimeError(f"the session's interpreter did not start: {ready!r} {why}")

    def _stop(self) -> str:
        """Kill the sandbox; returns what it said on its own stderr (for error messages)."""
        proc, reader = self._proc, self._reader
        self._proc, self._reader = None, None
        if reader is not None:
            reader.close()
        if proc is None:
            return ""
        self._kill(proc)
        said = b""
        if proc.stderr is not None:  # the driver's own complaints (it exits 70 after printing them)
            os.set_blocking(proc.stderr.fileno(), False)
            with contextlib.suppress(OSError, TypeError):
                said = proc.stderr.read(8192) or b""
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        return said.decode(errors="replace").strip()

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stop()
            if self._on_close is not None:
                self._on_close()

    def __del__(self) -> None:
        # A session dropped without close() (an env nobody closed, say) must not leave its sandbox
        # running until the process exits: a long training run would pile up interpreters.
        if getattr(self, "_closed", True) is False:
            with contextlib.suppress(Exception):
                self.close()

    # -- calls

    def run(self, code: str, timeout: float = 10.0) -> ExecResult:
        with self._lock:
            if self._closed:
                raise RuntimeError("this session is closed; open a new one with sandbox.session()")
            if self._proc is None:  # an earlier restart failed; try again
                self._start()
            assert self._proc is not None and self._reader is not None and self._proc.stdin is not None
            start = time.monotonic()
            deadline = start + timeout
            output = {"stdout": bytearray(), "stderr": bytearray()}
            request = json.dumps({"code": code}).encode()
            try:
                self._proc.stdin.write(struct.pack(">I", len(request)) + request)
                self._proc.stdin.flush()
                while not (header := self._reader.read_header(deadline)).get("done"):
                    stream, size = header.get("stream"), header.get("len")
                    if stream not in output or not isinstance(size, int) or not 0 <= size <= self._limits.output_bytes:
                        raise _ProtocolError(f"unexpected frame {header!r}")
                    chunk = self._reader.read_exact(size, deadline)
                    kept = output[stream]
                    kept += chunk[: max(0, self._limits.output_bytes - len(kept))]
            except TimeoutError:
                return self._restart(start, output, timed_out=True, why=f"timed out after {timeout:g}s")
            except (_ProtocolError, BrokenPipeError, struct.error) as error:
                return self._restart(start, output, timed_out=False, why=f"the interpreter stopped ({error})")
            exit_code = header.get("exit_code")
            return ExecResult(
                stdout=output["stdout"].decode(errors="replace"),
                stderr=output["stderr"].decode(errors="replace"),
                exit_code=exit_code if isinstance(exit_code, int) else 1,
                timed_out=False,
                killed_by_limit=self._oom_killed() or bool(header.get("limit")),
                wall_time=time.monotonic() - start,
                truncated=bool(header.get("truncated")),
            )

    def _oom_killed(self) -> bool:
        """Whether the sandbox's memory cgroup OOM-killed a process since the last look (one read per call)."""
        if self._oom_kills is None or self._proc is None:
            return False
        seen, self._ooms_seen = self._ooms_seen, self._oom_kills(self._proc)
        return self._ooms_seen > seen

    def _restart(self, start: float, output: dict[str, bytearray], *, timed_out: bool, why: str) -> ExecResult:
        """Kill the sandbox after a failed call, start a fresh one, and report the call with what it printed."""
        proc = self._proc
        assert proc is not None
        # A crash is the interpreter's own doing: read its status before we kill anything.
        died_alone = not timed_out and _wait_briefly(proc)
        exit_code: int | None = -9
        if died_alone:
            reported = self._reported_status(proc) if self._reported_status is not None else None
            exit_code = (
                reported if reported is not None else exit_status(proc.returncode, shell_style=self._shell_style)
            )
        oom_killed = self._oom_killed()
        self._stop()
        if died_alone and exit_code is not None and exit_code < 0:
            why = f"the interpreter was killed by a signal{signal_note(exit_code)}"
        elif died_alone and exit_code is not None:
            why = f"the interpreter exited with status {exit_code}"
        if oom_killed:
            why += " at the memory limit"
        wall_time = time.monotonic() - start
        notice = f"[sandbox] {why}; the session was restarted and its state is lost"
        self.restarts += 1
        self.last_restart_cause = why
        try:
            self._start()
        except Exception as error:  # the next call tries again and raises if it still cannot start
            notice += f" (restart failed: {error})"
            self._proc, self._reader = None, None
        notice_bytes = (notice + "\n").encode()
        # A full buffer means output was (probably) dropped; the notice must fit in stderr's budget too.
        truncated = any(len(kept) >= self._limits.output_bytes for kept in output.values())
        room = max(0, self._limits.output_bytes - len(notice_bytes) - 1)
        err = bytes(output["stderr"][:room])
        if err and not err.endswith(b"\n"):
            err += b"\n"
        return ExecResult(
            stdout=output["stdout"].decode(errors="replace"),
            stderr=(err + notice_bytes).decode(errors="replace"),
            exit_code=exit_code,
            timed_out=timed_out,
            killed_by_limit=oom_killed or limit_reached(exit_code, "", killed_by_host=timed_out or not died_alone),
            wall_time=wall_time,
            truncated=truncated,
        )


def _wait_briefly(proc: subprocess.Popen[bytes]) -> bool:
    try:
        proc.wait(1.0)
    except subprocess.TimeoutExpired:
        return False
    return True
