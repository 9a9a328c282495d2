"""The ``docker`` sandbox backend: each :meth:`DockerSandbox.run` in a fresh container, a session in one container.

The image is built locally by ``bash scripts/build_sandbox_image.sh`` (a debootstrapped Debian
with ``python3``; no image registry needed). Each container is locked down by Docker and the
kernel, never by code running inside it:

* ``network_mode="none"``: no network interface but loopback.
* a read-only root filesystem; ``/tmp`` is a tmpfs of ``Limits.tmp_mb`` with ``nosuid,nodev,noexec``
  (as is ``/dev/shm``, in a private IPC namespace).
  ``noexec`` still lets ``python3 /tmp/main.py`` run (Python *reads* the file), but nothing written
  there can be executed or mapped executable.
* user ``65534:65534`` (nobody), ``cap_drop=["ALL"]``, ``no-new-privileges``, Docker's default
  seccomp profile (it refuses ``unshare``, ``mount``, ``bpf``, ``keyctl`` and more to such a
  container) and on top of it the sandboxes' own filter (:mod:`gym_reason.sandboxes.seccomp`,
  loaded by the in-container bootstrap before the program or the session's driver starts: Docker's
  profile differs between versions; 20.10, Debian 12's, allows io_uring), no mounts from the host,
  no devices, no host environment variables.
* the memory cgroup: ``mem_limit == memswap_limit == Limits.memory_mb`` (tmpfs pages count too);
  going over gets the container OOM-killed (``ExecResult.killed_by_limit``).
* ``pids_limit = Limits.processes`` (processes and threads), ``nano_cpus`` (``cpus`` cores at
  most), rlimits ``cpu``, ``fsize``, ``nofile`` from :class:`Limits`, and ``core=0``.
* the bootstrap's supervisor is PID 1 (not Docker's tini): the program is its child, so the
  kernel's rlimit signals (``SIGXCPU``) reach the program as they would on the host, and
  ``kill(-1)`` inside cannot reach the supervisor. It reaps orphans, reports the program's exact
  status (exit 137 and SIGKILL told apart) and exits when the program ends; the kernel then kills
  everything left in the container.
* the ``none`` log driver: output reaches this process through the attach stream only, never the
  host's disk; at most ``Limits.output_bytes`` per stream is kept, the rest is read and dropped.
* the wall-clock timeout is enforced from the host (kill, then remove the container); an alarm of
  the supervisor inside the container is a backstop should this process die mid-run.

:meth:`DockerSandbox.run` uses a new container each time. Starting one costs about 150 ms, so the
next run's container is started in the background when a run ends (the *spare*): it waits, with
nothing of the caller's inside, until its program arrives on stdin. A run that follows another
after a pause of a few hundred milliseconds starts in about 80 ms instead of about 230 ms.

Sessions run the shared REPL driver (:mod:`gym_reason.sandboxes.repl_driver`) through the shared
host side (:class:`gym_reason.sandboxes.repl.ReplSession`); :class:`_ContainerProcess` makes a
container look like the subprocess both expect.

Containers carry the label ``gym-reason.sandbox`` and their owner's pid; they are removed in
``finally`` blocks, when a forgotten session is garbage-collected, at interpreter exit
(``atexit``), and by :func:`remove_leftover_containers`.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import threading
import time
import weakref
from typing import IO, Any, cast

from gym_reason.sandboxes import seccomp
from gym_reason.sandboxes.base import ExecResult, Limits, Sandbox, SandboxUnavailable, Session, register_backend
from gym_reason.sandboxes.process import (
    SESSION_CPU_CALLS,
    collect_output,
    exit_status,
    pid_alive,
    process_result,
    wait_until,
)
from gym_reason.sandboxes.repl import ReplSession, driver_command

DEFAULT_IMAGE = "gym-reason-sandbox:bookworm"
IMAGE_ENV = "GYM_REASON_SANDBOX_IMAGE"
"""Environment variable naming the image (the build script reads it too)."""
LABEL = "gym-reason.sandbox"
OWNER_LABEL = "gym-reason.owner-pid"
SANDBOX_USER = "65534:65534"
PROGRAM = "/tmp/main.py"
"""Where :meth:`DockerSandbox.run` writes the program; /tmp is also the working directory."""
START_DAEMON_HINT = "dockerd --iptables=false --ip-forward=false --bridge=none &"

_BACKSTOP_SECONDS = 5
"""Grace past the host's timeout before the supervisor inside the container kills the program."""
_ENVIRONMENT = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/tmp",
    "PYTHONDONTWRITEBYTECODE": "1",
}
_FRAME = struct.Struct(">BxxxL")  # Docker's multiplexed attach stream: stream id, 3 zero bytes, size
_STDERR = 2

_READ_EXACTLY = r"""
import os, struct, sys
def read_exactly(n, what):
    data = b""
    while len(data) < n:
        chunk = os.read(0, n - len(data))
        if not chunk:
            sys.exit(f"gym-reason: the {what} was cut short")
        data += chunk
    return data
"""
"""Shared head of the in-container scripts below: read a framed message from stdin."""

_SUPERVISE = r"""
def supervise(pid, marker, backstop=None):
    # The container's init (pid 1: kill(-1) inside cannot reach it): wait for the program, then write
    # its exact status to stderr, framed by `marker` (a plain status reports signal N as 128 + N, so
    # "exit(137)" and "killed by SIGKILL" would look alike from outside), and exit, which ends the
    # container and everything left in it.
    import _signal as signal  # the C module: `signal` imports enum
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)
    if backstop:  # should the host die mid-run, the program still ends `backstop` seconds in
        signal.signal(signal.SIGALRM, lambda *_: os.kill(pid, signal.SIGKILL))
        signal.alarm(backstop)
    while True:  # as the container's init, reap orphans too
        try:
            died, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        if died == pid:
            break
    if os.WIFSIGNALED(status):
        report, code = "signal %d" % os.WTERMSIG(status), 128 + os.WTERMSIG(status)
    else:
        code = os.waitstatus_to_exitcode(status)
        report = "exit %d" % code
    os.write(2, marker + report.encode() + b"\0")
    os._exit(code)
"""
"""Shared tail of the in-container scripts: the parent half of a fork that reports the child's exact status."""

# Waits for "<8-byte length><JSON {code, files, backstop, seccomp, marker}>" on stdin, writes the files
# under /tmp, loads the seccomp filter (base64 of the BPF program), then forks: the child becomes
# `python3 /tmp/main.py`, whose stdin is what follows the request: the caller's `stdin`; the parent
# reports its status and kills it after `backstop` seconds (see _SUPERVISE). Nothing of the caller's
# runs before the request, so a container started ahead of time and left waiting here (the spare) is
# as fresh as a new one.
_RUN_BOOTSTRAP = (
    _READ_EXACTLY
    + seccomp.LOADER
    + _SUPERVISE
    + r"""
import base64, json
request = json.loads(read_exactly(struct.unpack(">Q", read_exactly(8, "request"))[0], "request"))
for name, text in request["files"].items():
    path = os.path.join("/tmp", name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write(request["code"])
_load_seccomp(base64.b64decode(request["seccomp"]))
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, sys.argv[1]])
supervise(pid, base64.b64decode(request["marker"]), request["backstop"])
"""
)
_RUN_COMMAND = ["python3", "-c", _RUN_BOOTSTRAP, PROGRAM]

# Reads "<4-byte length><the seccomp filter's BPF program><4-byte length><status marker><4-byte
# length><the REPL driver's source>" from stdin, loads the filter and forks: the child runs the driver
# as __main__, the parent reports its status (see _SUPERVISE). The driver arrives through stdin rather
# than argv, so /proc/*/cmdline inside the session stays short.
_DRIVER_LOADER = (
    _READ_EXACTLY
    + seccomp.LOADER
    + _SUPERVISE
    + r"""
def read_framed(what):
    return read_exactly(struct.unpack(">I", read_exactly(4, what))[0], what)
_load_seccomp(read_framed("filter"))
marker = read_framed("marker")
source = read_framed("driver").decode()
pid = os.fork()
if pid != 0:
    supervise(pid, marker)
del read_exactly, read_framed, _load_seccomp, supervise, marker, pid
exec(compile(source, "<repl_driver>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
"""
)

# -- leak safety net --------------------------------------------------------------------------------

_live_containers: dict[str, Any] = {}
"""Container id -> the docker API client that made it: what the ``atexit`` hook removes."""
_live_lock = threading.Lock()


def _forget_and_remove(api: Any, container_id: str) -> None:
    with _live_lock:
        _live_containers.pop(container_id, None)
    with contextlib.suppress(Exception):
        api.remove_container(container_id, force=True)


@atexit.register
def _remove_live_containers() -> None:
    with _live_lock:
        leftovers = list(_live_containers.items())
    for container_id, api in leftovers:
        _forget_and_remove(api, container_id)


def remove_leftover_containers(everyone: bool = False) -> list[str]:
    """Remove sandbox containers left behind by processes that died without cleaning up (``kill -9``).

    Only containers whose owner pid is no longer alive on this machine are removed, unless
    ``everyone`` (then every container labelled ``gym-reason.sandbox``, also those in use). Returns their ids.
    """
    api = _docker_client().api
    removed = []
    for container in api.containers(all=True, filters={"label": LABEL}):
        owner = (container.get("Labels") or {}).get(OWNER_LABEL, "")
        if not everyone and owner.isdigit() and pid_alive(int(owner)):
            continue
        with contextlib.suppress(Exception):
            api.remove_container(container["Id"], force=True)
            removed.append(container["Id"])
    return removed


# -- the daemon -------------------------------------------------------------------------------------


def _docker_client() -> Any:
    """A client of the daemon the environment names (``DOCKER_HOST``, else the local socket), or SandboxUnavailable."""
    try:
        import docker
    except ImportError as e:
        raise SandboxUnavailable(
            'the docker backend needs the Docker SDK for Python: pip install "gym-reason[docker]"'
        ) from e
    try:
        client = docker.from_env()
        client.ping()
    except Exception as e:
        raise SandboxUnavailable(
            f"no reachable Docker daemon: {e}. Install Docker (Debian: apt-get install docker.io) and start "
            f"the daemon as root: {START_DAEMON_HINT} (no bridge, no iptables rules: sandboxes use "
            f"network_mode=none), or point DOCKER_HOST at a running one"
        ) from e
    return client


def _check_files(files: dict[str, str] | None) -> dict[str, str]:
    files = dict(files or {})
    for name, text in files.items():
        parts = name.split("/")
        if not name or name.startswith("/") or any(part in ("", ".", "..") for part in parts):
            raise ValueError(f"bad file name {name!r}: use a relative path under /tmp without '.', '..' or empty parts")
        if not isinstance(text, str):
            raise TypeError(f"file {name!r}: content must be str, not {type(text).__name__}")
        if "/tmp/" + name == PROGRAM:
            raise ValueError(f"file name {name!r} is taken by the program itself ({PROGRAM}); choose another")
    return files


# -- a container as a subprocess --------------------------------------------------------------------


class _StatusFilter:
    """Takes the supervisor's status report (``marker + b"exit N" or b"signal N" + NUL``) out of a stream
    and keeps the status; a NUL near the end is held back until it is clear that no report starts there."""

    def __init__(self) -> None:
        self.marker: bytes | None = None
        self.status: int | None = None
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        if self.marker is None:
            return data
        data = self._held + data
        self._held = b""
        at = data.find(self.marker)
        if at >= 0:
            end = data.find(b"\0", at + len(self.marker))
            if end < 0:
                self._held = data[at:]
                return data[:at]
            words = data[at + len(self.marker) : end].decode("ascii", errors="replace").split()
            if len(words) == 2 and words[0] in ("exit", "signal") and words[1].isdigit():
                self.status = int(words[1]) if words[0] == "exit" else -int(words[1])
            return data[:at] + self.feed(data[end + 1 :])
        start = data.rfind(b"\0", max(0, len(data) - len(self.marker) - 16))
        if start >= 0 and self.marker.startswith(data[start : start + len(self.marker)]):
            self._held = data[start:]
            return data[:start]
        return data

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return held


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
    view.release()


def _pump(sock: socket.socket, out_fd: int, err_fd: int, done: threading.Event, status: _StatusFilter) -> None:
    """Copy Docker's multiplexed attach stream into two pipes until the container's output ends, taking
    the supervisor's status report out of stderr (into ``status``)."""
    pending = bytearray()
    try:
        while chunk := sock.recv(1 << 16):
            pending += chunk
            while len(pending) >= _FRAME.size:
                stream, size = _FRAME.unpack_from(pending)
                if len(pending) < _FRAME.size + size:
                    break
                payload = bytes(pending[_FRAME.size : _FRAME.size + size])
                if stream == _STDERR:
                    _write_all(err_fd, status.feed(payload))
                else:
                    _write_all(out_fd, payload)
                del pending[: _FRAME.size + size]
        _write_all(err_fd, status.flush())
    except OSError:  # the socket was closed under us (kill), or the reader went away (EPIPE)
        pass
    finally:
        done.set()
        for fd in (out_fd, err_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


class _ContainerProcess:
    """A started container that quacks like :class:`subprocess.Popen` with three pipes.

    ``stdin`` writes to the container's stdin, ``stdout``/``stderr`` are pipes fed by a thread that
    demultiplexes the attach stream, ``poll``/``wait``/``returncode`` report the container's exit
    status (``128 + N`` for a signal, as the supervisor exits with). So code written for subprocesses
    (:func:`~gym_reason.sandboxes.process.collect_output`, :class:`ReplSession`) drives containers as is.
    """

    def __init__(self, api: Any, container_id: str) -> None:
        self.api = api
        self.container_id = container_id
        self.returncode: int | None = None
        self.made_for: object = None
        """What the container was made for (the sandbox's settings), to tell a stale spare."""
        self._oom_killed: bool | None = None
        # Attach before start, so that no output is missed; removed with the container if it is forgotten.
        self._finalizer = weakref.finalize(self, _forget_and_remove, api, container_id)
        self._response = api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
        self._sock: socket.socket = getattr(self._response, "_sock", self._response)
        self._sock.settimeout(None)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        self.stdin: IO[bytes] = self._sock.makefile("wb")
        self.stdout: IO[bytes] = os.fdopen(out_r, "rb", buffering=0)
        self.stderr: IO[bytes] = os.fdopen(err_r, "rb", buffering=0)
        self._output_done = threading.Event()
        self._status = _StatusFilter()
        threading.Thread(
            target=_pump,
            args=(self._sock, out_w, err_w, self._output_done, self._status),
            daemon=True,
            name="gym-reason-docker",
        ).start()
        api.start(container_id)

    def write_stdin_and_close(self, data: bytes) -> None:
        """Send ``data`` and then EOF, from a thread so that a program that never reads cannot block us."""

        def write() -> None:
            with contextlib.suppress(OSError, ValueError):
                self.stdin.write(data)
                self.stdin.flush()
                self._sock.shutdown(socket.SHUT_WR)

        threading.Thread(target=write, daemon=True, name="gym-reason-docker-stdin").start()

    def expect_status(self) -> bytes:
        """A fresh marker for the in-container supervisor's status report (send it with the program)."""
        self._status.marker = b"\0gym-reason-status " + os.urandom(8).hex().encode() + b" "
        return self._status.marker

    def reported_status(self) -> int | None:
        """The program's exact status as the supervisor reported it (negative for a signal), or ``None``
        (it was killed before it could report). Call once the container has stopped."""
        self._output_done.wait(2.0)
        return self._status.status

    def ended(self) -> bool:
        """Whether the container's output has ended (it has exited, or is exiting)."""
        return self._output_done.is_set()

    def poll(self) -> int | None:
        if self.returncode is None and self._output_done.is_set():
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.wait(1.0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            try:
                # requests refuses a zero timeout; a stopped container answers at once anyway
                status = self.api.wait(self.container_id, timeout=None if timeout is None else max(timeout, 0.01))
            except Exception as e:  # requests' read timeout, or the container is gone
                running = _container_running(self.api, self.container_id)
                if running:
                    raise subprocess.TimeoutExpired(f"container {self.container_id[:12]}", timeout or 0) from e
                try:  # stopped: it answers at once; removed before we read its status: we killed it
                    status = self.api.wait(self.container_id, timeout=10)
                except Exception:
                    status = {"StatusCode": 128 + signal.SIGKILL}
            self.returncode = int(status["StatusCode"])
        return self.returncode

    def oom_killed(self) -> bool:
        """Whether the memory cgroup killed the container (ask once it has stopped)."""
        if self._oom_killed is None:
            try:
                state = self.api.inspect_container(self.container_id)["State"]
                self._oom_killed = bool(state.get("OOMKilled"))
            except Exception:
                self._oom_killed = False
        return self._oom_killed

    def kill(self) -> None:
        """SIGKILL everything in the container (it stays, to be inspected, until :meth:`remove`)."""
        self._detach()
        with contextlib.suppress(Exception):
            self.api.kill(self.container_id)

    def remove(self) -> None:
        """Kill and remove the container and close our ends of its streams. Idempotent."""
        self._detach()
        self._finalizer()
        if self.returncode is None:
            self.returncode = 128 + signal.SIGKILL

    def _detach(self) -> None:
        # First, so that the daemon is not stuck writing a flood we no longer read (a kill would wait on it).
        with contextlib.suppress(Exception):
            self._sock.shutdown(socket.SHUT_RDWR)
        for closable in (self.stdin, self._sock, self._response):
            with contextlib.suppress(Exception):
                closable.close()


def _container_running(api: Any, container_id: str) -> bool | None:
    try:
        return bool(api.inspect_container(container_id)["State"]["Running"])
    except Exception:
        return None


def _discard(proc: _ContainerProcess) -> None:
    proc.remove()
    for pipe in (proc.stdout, proc.stderr):
        pipe.close()


def _remove_process(proc: subprocess.Popen[bytes]) -> None:
    """ReplSession's ``kill``: remove the session's container."""
    cast(_ContainerProcess, proc).remove()


# -- the backend ------------------------------------------------------------------------------------


class DockerSandbox(Sandbox):
    """Runs code in locked-down containers of a locally built image (see the module docstring).

    Args:
        limits: resource limits applied to every container.
        image: the image to run; default ``$GYM_REASON_SANDBOX_IMAGE`` or ``gym-reason-sandbox:bookworm``.
        cpus: CPU cores one container may use at most (``nano_cpus``).
        _without_seccomp_filter: for the battery's own test only (Docker's profile alone, to show which
            probes it lets through); never use it for untrusted code.

    Raises:
        SandboxUnavailable: the Docker SDK is missing, no daemon is reachable, the image is absent, or
            libseccomp or its binding is missing (for the filter loaded in every container)
            (each message says how to fix it).
    """

    name = "docker"

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        image: str | None = None,
        cpus: float = 1.0,
        _without_seccomp_filter: bool = False,
    ) -> None:
        super().__init__(limits)
        if cpus <= 0:
            raise ValueError(f"cpus must be a positive number of cores, got {cpus!r}")
        self.image = image or os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE
        self.cpus = cpus
        # Containers run on this machine's kernel, so its arch. Without it (the battery's own test only: it
        # shows which probes Docker's profile alone lets through), containers get Docker's profile only.
        self._seccomp = b"" if _without_seccomp_filter else seccomp.filter_program()
        self._closed = False
        self._spare: _ContainerProcess | None = None
        self._spare_pending = False
        self._spare_cond = threading.Condition()
        self._client = _docker_client()
        self._api = self._client.api
        import docker.errors

        try:
            self._api.inspect_image(self.image)
        except docker.errors.ImageNotFound as e:
            self.close()
            raise SandboxUnavailable(
                f"the sandbox image {self.image!r} is not in the local Docker daemon; build it (about a minute, "
                f"as root, no registry needed): GYM_REASON_SANDBOX_IMAGE={self.image} bash scripts/build_sandbox_image.sh"
            ) from e

    def _start(self, command: list[str], *, session: bool) -> _ContainerProcess:
        """Create and start a container running ``command`` under every protection of the module docstring."""
        import docker.types

        lim = self.limits
        mib = 1 << 20
        cpu_hard = lim.cpu_seconds * SESSION_CPU_CALLS if session else lim.cpu_seconds + 1
        ulimits = [
            docker.types.Ulimit(name="cpu", soft=lim.cpu_seconds, hard=cpu_hard),  # SIGXCPU, then SIGKILL
            docker.types.Ulimit(name="fsize", soft=lim.file_size_mb * mib, hard=lim.file_size_mb * mib),
            docker.types.Ulimit(name="nofile", soft=lim.open_files, hard=lim.open_files),
            docker.types.Ulimit(name="core", soft=0, hard=0),  # a host core_pattern pipe would run on the host
        ]
        host_config = self._api.create_host_config(
            network_mode="none",
            read_only=True,
            tmpfs={"/tmp": f"rw,noexec,nosuid,nodev,size={lim.tmp_mb}m,mode=1777"},
            shm_size=f"{lim.tmp_mb}m",  # /dev/shm, the other writable place, no larger than /tmp
            ipc_mode="private",
            mem_limit=f"{lim.memory_mb}m",
            memswap_limit=f"{lim.memory_mb}m",
            pids_limit=lim.processes,
            nano_cpus=int(self.cpus * 1e9),
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            ulimits=ulimits,
            init=False,  # the bootstrap's supervisor is pid 1 (see _SUPERVISE)
            log_config=docker.types.LogConfig(type="none"),
            oom_score_adj=1000,  # if the host itself runs out of memory, sandboxes die first
        )
        container_id: str = self._api.create_container(
            self.image,
            command=command,
            user=SANDBOX_USER,
            working_dir="/tmp",
            environment=dict(_ENVIRONMENT),
            hostname="sandbox",
            stdin_open=True,
            detach=False,  # with stdin_open: StdinOnce, so closing our stdin gives the program EOF
            network_disabled=True,
            labels={LABEL: "1", OWNER_LABEL: str(os.getpid())},
            host_config=host_config,
        )["Id"]
        with _live_lock:
            _live_containers[container_id] = self._api
        try:
            proc = _ContainerProcess(self._api, container_id)
        except BaseException:
            _forget_and_remove(self._api, container_id)
            raise
        proc.made_for = self._settings()
        return proc

    def _settings(self) -> tuple[object, ...]:
        return (self.limits, self.image, self.cpus)

    # -- the spare: run()'s next container, started ahead of time ---------------------------------

    def _run_container(self) -> _ContainerProcess:
        """A started container waiting for its program: the spare if it is ready or being started (it
        will be ready sooner than a new one), else a new one."""
        with self._spare_cond:
            while self._spare_pending:
                self._spare_cond.wait()
            proc, self._spare = self._spare, None
        if proc is not None and (proc.ended() or proc.made_for != self._settings()):
            _discard(proc)
            proc = None
        return proc if proc is not None else self._start(_RUN_COMMAND, session=False)

    def _after_run(self, used: _ContainerProcess) -> None:
        """Remove the used container and start the next spare, in the background once the run is over
        (so that neither competes with the program for CPU), and the next run finds its container up."""
        with self._spare_cond:
            start_spare = not self._closed and self._spare is None and not self._spare_pending
            self._spare_pending |= start_spare
        threading.Thread(
            target=self._replace, args=(used, start_spare), daemon=True, name="gym-reason-docker-spare"
        ).start()

    def _replace(self, used: _ContainerProcess, start_spare: bool) -> None:
        try:
            if start_spare:  # first: a run may be waiting for it
                self._start_spare()
        finally:
            _discard(used)

    def _start_spare(self) -> None:
        proc = None
        try:
            proc = self._start(_RUN_COMMAND, session=False)
        except Exception:  # the next run() starts its own container and reports what is wrong
            pass
        finally:
            with self._spare_cond:
                self._spare_pending = False
                if proc is not None and not self._closed:
                    self._spare, proc = proc, None
                self._spare_cond.notify_all()
            if proc is not None:
                _discard(proc)

    def run(
        self, code: str, timeout: float = 10.0, *, stdin: str = "", files: dict[str, str] | None = None
    ) -> ExecResult:
        """Run ``code`` as ``python3 /tmp/main.py`` in a fresh container; ``files`` are written under /tmp first.

        ``exit_code`` is negative for a signal: the bootstrap waits for the program and reports its exact
        status (exit 137 reads 137, SIGKILL reads -9); without a report (the container was killed) the
        container's ``128 + N`` reads as a signal. ``killed_by_limit``: the memory cgroup OOM-killed it,
        an rlimit signal ended it, or its last traceback line names a limit error (``MemoryError``...).
        """
        if timeout <= 0:
            raise ValueError(f"timeout must be positive seconds, got {timeout!r}")
        if self._closed:
            raise RuntimeError("this sandbox is closed; make a new one with make_sandbox('docker')")
        request = {
            "code": code,
            "files": _check_files(files),
            "backstop": int(timeout) + 1 + _BACKSTOP_SECONDS,
            "seccomp": base64.b64encode(self._seccomp).decode(),
        }
        proc = self._run_container()
        request["marker"] = base64.b64encode(proc.expect_status()).decode()
        payload = json.dumps(request).encode()
        try:
            start = time.monotonic()
            deadline = start + timeout
            proc.write_stdin_and_close(struct.pack(">Q", len(payload)) + payload + stdin.encode())
            out, err, truncated, timed_out = collect_output(
                cast(subprocess.Popen[bytes], proc), deadline, self.limits.output_bytes
            )
            if not timed_out:
                timed_out = not wait_until(cast(subprocess.Popen[bytes], proc), deadline)
            if timed_out:
                proc.kill()
            wall_time = time.monotonic() - start
            exit_code: int | None = -signal.SIGKILL
            if not timed_out:
                status = proc.wait(10.0)
                exit_code = proc.reported_status()
                if exit_code is None:  # no report (the container was killed): 128 + N read as a signal
                    exit_code = exit_status(status, shell_style=True)
            return process_result(
                out,
                err,
                exit_code,
                timed_out=timed_out,
                wall_time=wall_time,
                truncated=truncated,
                oom_killed=not timed_out and proc.oom_killed(),  # asks the daemon only when it matters
            )
        finally:
            self._after_run(proc)

    def session(self) -> Session:
        """A persistent interpreter (the shared REPL driver) in its own container, started now.

        ``Limits.cpu_seconds`` applies per call; the container's hard CPU limit allows
        ``SESSION_CPU_CALLS`` calls' worth. Memory, processes and /tmp are the container's, shared
        by all calls. A timeout or crash replaces the container; the result's ``stderr`` says the
        state is lost.
        """
        command = driver_command("python3", self.limits)
        at = command.index("-c") + 1
        driver = command[at].encode()
        command[at] = _DRIVER_LOADER

        def spawn() -> subprocess.Popen[bytes]:
            proc = self._start(command, session=True)
            frames = (self._seccomp, proc.expect_status(), driver)
            proc.stdin.write(b"".join(struct.pack(">I", len(frame)) + frame for frame in frames))
            proc.stdin.flush()
            return cast(subprocess.Popen[bytes], proc)

        return ReplSession(
            spawn,
            self.limits,
            kill=_remove_process,
            shell_style_status=True,
            reported_status=lambda proc: cast(_ContainerProcess, proc).reported_status(),
        )

    def close(self) -> None:
        """Remove the spare container and close the connection to the daemon. Idempotent.

        Sessions already open keep working until they are closed."""
        if hasattr(self, "_spare_cond"):
            with self._spare_cond:
                self._closed = True
                while self._spare_pending:
                    self._spare_cond.wait()
                spare, self._spare = self._spare, None
            if spare is not None:
                _discard(spare)
        client, self._client = getattr(self, "_client", None), None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()


register_backend("docker", DockerSandbox)
