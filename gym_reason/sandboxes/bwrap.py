"""The ``bwrap`` backend: bubblewrap namespaces plus rlimits, the default on Linux.

What the program inside sees and may do:

* **no network**: new network namespace with only ``lo`` (``--unshare-all``); no host
  sockets, abstract unix sockets included; no DNS (no resolver, no resolv.conf);
* **read-only system**: ``/usr`` bound read-only (with the ``/bin``, ``/lib``, ``/lib64``,
  ``/sbin`` links), a read-only root, ``/sandbox/main.py`` (the program; a session's
  driver is ``/sandbox/repl_driver.py``), and a
  synthesized ``/etc`` of three files (passwd and group naming only the sandbox user,
  hosts for ``localhost``); nothing else of the host: no /etc/shadow, no home, no project;
* **private, sized tmpfs** ``/tmp`` (``Limits.tmp_mb``, also the cwd and on ``PYTHONPATH``)
  and ``/dev/shm``; a new ``/proc`` (own pid namespace: only its own processes) and a
  minimal ``/dev`` (null, zero, random, urandom, tty, pts);
* **empty environment** except ``PATH``, ``HOME=/tmp``, ``LANG``, ``PYTHONPATH``,
  ``PYTHONUNBUFFERED`` (bwrap itself is also started with an empty environment);
* **no privileges**: a non-root uid on the host (65534 when the host process is root, the
  caller's own uid otherwise; ``RLIMIT_NPROC`` does not bind root), all capabilities
  dropped, no new user namespaces (``--disable-userns``), a new session (no terminal
  injection), killed with its parent (``--die-with-parent``);
* **a seccomp filter** (:mod:`gym_reason.sandboxes.seccomp`, loaded by bwrap with ``--seccomp``
  just before the program starts): io_uring, keyrings, bpf, perf, userfaultfd, ptrace, kernel
  code loading, mounts and namespaces, personality flags, clock setting, raw and VM sockets and
  more are refused with ``EPERM``; without libseccomp and its binding no sandbox is made;
* **rlimits** (set by ``prlimit`` just before the interpreter starts, so that
  ``RLIMIT_NPROC`` counts this sandbox's processes only): CPU seconds, address space,
  processes, file size, open files, no core dumps;
* **memory as a whole**: each program and each session runs in a memory cgroup of its own
  (:mod:`gym_reason.sandboxes.cgroup`; bwrap joins it between fork and exec, so everything in
  the sandbox is charged to it), capped at ``Limits.memory_mb``; where no cgroup can be made
  the sandbox warns and :attr:`BwrapSandbox.info` says memory is bounded per process only;
* **exact exit status**: the sandbox's pid 1 is a supervisor (:mod:`gym_reason.sandboxes.supervisor`)
  that starts the program and reports how it ended on a pipe, so that ``exit(137)`` and death
  by SIGKILL (both ``137`` from bwrap) are told apart; as the namespace's init it cannot be
  killed from inside (``kill(-1, SIGKILL)`` spares it, and so a session survives it);
* **wall-clock timeout** from the host: SIGKILL to bwrap, whose pid 1 (the supervisor, which
  also reaps orphans) dies with it, and with pid 1 the kernel kills every process of the pid
  namespace, daemons included; likewise when the program ends and the supervisor exits.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import time
import warnings
from pathlib import Path, PurePosixPath
from typing import Any

from gym_reason.sandboxes import cgroup, seccomp
from gym_reason.sandboxes.base import ExecResult, Limits, Sandbox, SandboxUnavailable, Session, register_backend
from gym_reason.sandboxes.process import (
    check_files,
    close_fds,
    collect_output,
    exit_status,
    kill_group,
    memfd,
    popen_from_lasting_thread,
    prlimit_args,
    process_result,
    read_reported_status,
    wait_until,
)
from gym_reason.sandboxes.repl import ReplSession, driver_config, driver_source

SANDBOX_UID = 65534
"""The host uid sandboxes run as when the host process is root ("nobody")."""

INSTALL_HINT = "install bubblewrap: apt-get install bubblewrap (Debian/Ubuntu) or dnf install bubblewrap (Fedora)"
USERNS_HINT = (
    "bwrap needs unprivileged user namespaces: check `sysctl kernel.unprivileged_userns_clone` (must be 1), "
    "`sysctl user.max_user_namespaces` (must be > 0), and on Ubuntu 23.10+ "
    "`sysctl kernel.apparmor_restrict_unprivileged_userns` (0, or an AppArmor profile that allows bwrap); "
    "inside a container, run it with --security-opt seccomp=unconfined or use the docker backend"
)

_SYSTEM_LINKS = ("bin", "lib", "lib64", "sbin")
_DRIVER_PATH = "/sandbox/repl_driver.py"
_SUPERVISOR_PATH = "/sandbox/supervisor.py"
_PROGRAM_PATH = "/sandbox/main.py"


@functools.cache
def _supervisor_source() -> bytes:
    return (Path(__file__).parent / "supervisor.py").read_bytes()


def _resolve_tool(path: str, what: str, hint: str) -> str:
    found = shutil.which(path)
    if found is None:
        raise SandboxUnavailable(f"{what} not found at {path!r}: {hint}")
    return found


class BwrapSandbox(Sandbox):
    """Runs Python in a bubblewrap sandbox (see the module docstring for what it enforces)."""

    name = "bwrap"

    def __init__(
        self,
        limits: Limits | None = None,
        *,
        interpreter: str = "/usr/bin/python3",
        bwrap: str = "bwrap",
        prlimit: str = "prlimit",
        _without_seccomp_filter: bool = False,
    ) -> None:
        """``interpreter``: the Python that runs inside; it must live under /usr (the only host tree the
        sandbox sees), which rules out a pyenv or venv Python in a home directory.
        ``_without_seccomp_filter``: for the battery's own test only (it shows that the syscall probes
        fail without the filter); never use it for untrusted code.

        Raises:
            SandboxUnavailable: bwrap or prlimit is missing, the interpreter is not usable inside,
                libseccomp or its binding (``pyseccomp``) is missing, or this machine does not allow
                the user namespaces bwrap needs.
        """
        super().__init__(limits)
        self._seccomp: bytes | None = None if _without_seccomp_filter else seccomp.filter_program()
        self.bwrap = _resolve_tool(bwrap, "bubblewrap (bwrap)", INSTALL_HINT)
        # The real path: a link to prlimit from outside /usr (a ~/bin on PATH) does not exist inside the sandbox.
        self.prlimit = os.path.realpath(
            _resolve_tool(prlimit, "prlimit", "install util-linux: apt-get install util-linux")
        )
        if not self.prlimit.startswith("/usr/"):
            raise SandboxUnavailable(f"prlimit at {self.prlimit} is not under /usr, so the sandbox cannot run it")
        real = os.path.realpath(shutil.which(interpreter) or interpreter)
        if not (real.startswith("/usr/") and os.access(real, os.X_OK)):
            raise SandboxUnavailable(
                f"interpreter {interpreter!r} (-> {real}) is not an executable under /usr, the only host tree the "
                "sandbox sees; install Debian's python3 (apt-get install python3) and use /usr/bin/python3"
            )
        self.interpreter = interpreter
        self.uid = SANDBOX_UID if os.geteuid() == 0 else None
        _probe(tuple(self._argv([], ["/usr/bin/true"])), self.uid)
        self.memory = cgroup.detect()
        """How memory is bounded here: by a cgroup per program or session, or (``version`` None) per process only."""
        if self.memory.version is None:
            warnings.warn(
                f"bwrap sandbox: memory is bounded {self.memory.describe()}; forked processes can each use "
                f"Limits.memory_mb. Run as root, or in a delegated cgroup, for a per-sandbox memory cgroup",
                UserWarning,
                stacklevel=2,
            )

    @property
    def info(self) -> dict[str, str]:
        """What isolates programs here, in words: the seccomp filter and how memory is bounded."""
        filt = (
            "off (test build)"
            if self._seccomp is None
            else f"on ({seccomp.native_arch()}, EPERM for {len(seccomp.DENIED)} families)"
        )
        return {"seccomp": filt, "memory": self.memory.describe()}

    # -- the command line

    def _argv(self, ops: list[str], command: list[str], seccomp_fd: int | None = None) -> list[str]:
        tmp_bytes = str(self.limits.tmp_mb << 20)
        argv = [
            self.bwrap,
            "--unshare-all",
            "--unshare-user",
            "--disable-userns",
            "--die-with-parent",
            "--new-session",
            "--as-pid-1",  # the supervisor is the pid namespace's init: kill(-1) inside cannot reach it
            "--cap-drop",
            "ALL",
            "--ro-bind",
            "/usr",
            "/usr",
        ]
        for name in _SYSTEM_LINKS:
            path = "/" + name
            if os.path.islink(path):
                argv += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):  # a system without merged /usr
                argv += ["--ro-bind", path, path]
        argv += ["--proc", "/proc", "--dev", "/dev", "--size", tmp_bytes, "--tmpfs", "/dev/shm"]
        argv += ["--size", tmp_bytes, "--tmpfs", "/tmp", "--dir", "/sandbox", *ops]
        argv += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/tmp", "--clearenv"]
        if seccomp_fd is not None:
            argv += ["--seccomp", str(seccomp_fd)]
        for key, value in (
            ("PATH", "/usr/bin:/bin"),
            ("HOME", "/tmp"),
            ("LANG", "C.UTF-8"),
            ("PYTHONPATH", "/tmp"),
            ("PYTHONUNBUFFERED", "1"),
        ):
            argv += ["--setenv", key, value]
        return [*argv, "--", *command]

    def _etc(self) -> list[tuple[str, bytes]]:
        uid = os.getuid() if self.uid is None else self.uid
        gid = os.getgid() if self.uid is None else self.uid
        return [
            ("/etc/passwd", f"sandbox:x:{uid}:{gid}:sandbox:/tmp:/usr/sbin/nologin\n".encode()),
            ("/etc/group", f"sandbox:x:{gid}:\n".encode()),
            ("/etc/hosts", b"127.0.0.1 localhost\n::1 localhost\n"),
        ]

    def _popen(
        self, argv: list[str], fds: list[int], stdin: int, group: cgroup.MemoryCgroup | None
    ) -> subprocess.Popen[bytes]:
        """Start bwrap; with ``group``, bwrap (and so everything in the sandbox) runs in that memory cgroup
        from before its first instruction (the child joins it between fork and exec)."""
        privileges: dict[str, Any] = {}
        if self.uid is not None:
            privileges = {"user": self.uid, "group": self.uid, "extra_groups": []}
        return popen_from_lasting_thread(
            argv,
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=fds,
            env={"PATH": "/usr/bin:/bin"},  # nothing of the host's environment reaches bwrap
            cwd="/",
            start_new_session=True,
            # One os.write on an fd opened here: no lock, no allocation outside the GIL, so it is safe in
            # the forked child even with other threads running (and user= already rules out vfork).
            preexec_fn=None if group is None else group.join,
            **privileges,
        )

    def _cgroup(self) -> cgroup.MemoryCgroup | None:
        if self.memory.version is None:
            return None
        return cgroup.MemoryCgroup(self.memory, self.limits.memory_mb << 20)

    def _supervised(self, fds: list[int], script: str, *args: str) -> tuple[list[str], int]:
        """The command that runs ``script`` under the supervisor (with the rlimits), and the read end of the
        pipe the supervisor reports the exact exit status on (its write end goes to ``fds``)."""
        status_read, status_write = os.pipe()
        fds.append(status_write)
        command = [*prlimit_args(self.prlimit, self.limits, session=script == _DRIVER_PATH), self.interpreter]
        return [*command, _SUPERVISOR_PATH, str(status_write), script, *args], status_read

    def _seccomp_fd(self, fds: list[int]) -> int | None:
        """A memfd holding the seccomp filter for ``bwrap --seccomp`` (appended to ``fds``; bwrap reads and closes it)."""
        if self._seccomp is None:
            return None
        fd = memfd("sandbox-seccomp", self._seccomp)
        fds.append(fd)
        return fd

    def _file_ops(self, entries: list[tuple[str, bytes]], fds: list[int]) -> list[str]:
        """bwrap ``--file`` options that copy each (path, data) into the sandbox; opened fds go to ``fds``."""
        ops: list[str] = []
        made: set[str] = set()
        for path, data in entries:
            for parent in reversed(PurePosixPath(path).parents):
                if str(parent) not in ("/", "/tmp", "/sandbox") and str(parent) not in made:
                    made.add(str(parent))
                    ops += ["--dir", str(parent)]
            fd = memfd("sandbox-file", data)
            fds.append(fd)
            ops += ["--file", str(fd), path]
        return ops

    # -- the contract

    def run(
        self, code: str, timeout: float = 10.0, *, stdin: str = "", files: dict[str, str] | None = None
    ) -> ExecResult:
        entries = [(f"/tmp/{path}", data) for path, data in check_files(files)]
        entries += [*self._etc(), (_SUPERVISOR_PATH, _supervisor_source()), (_PROGRAM_PATH, code.encode())]
        fds: list[int] = []
        status_read = -1
        stdin_fd = memfd("sandbox-stdin", stdin.encode())
        group = self._cgroup()
        try:
            try:
                ops = self._file_ops(entries, fds)
                command, status_read = self._supervised(fds, _PROGRAM_PATH)
                start = time.monotonic()
                proc = self._popen(self._argv(ops, command, self._seccomp_fd(fds)), fds, stdin_fd, group)
            finally:
                close_fds([*fds, stdin_fd])
            deadline = start + timeout
            try:
                out, err, truncated, timed_out = collect_output(proc, deadline, self.limits.output_bytes)
                if not timed_out and not wait_until(proc, deadline):
                    timed_out = True
            finally:
                if proc.poll() is None:
                    kill_group(proc)
                for pipe in (proc.stdout, proc.stderr):
                    if pipe is not None:
                        pipe.close()
            wall_time = time.monotonic() - start
            exit_code: int | None = -signal.SIGKILL
            if not timed_out:
                exit_code = read_reported_status(status_read)
                if exit_code is None:  # the supervisor was killed too: bwrap's status, 128 + N read as a signal
                    exit_code = exit_status(proc.returncode, shell_style=True)
            oom_killed = group is not None and group.oom_kills() > 0
        finally:
            close_fds([status_read] if status_read >= 0 else [])
            if group is not None:
                group.close()
        return process_result(
            out, err, exit_code, timed_out=timed_out, wall_time=wall_time, truncated=truncated, oom_killed=oom_killed
        )

    def session(self) -> Session:
        return ReplSession(
            self._spawn_driver,
            self.limits,
            kill=_kill_session,
            shell_style_status=True,
            reported_status=lambda proc: read_reported_status(proc.gym_status_fd),  # type: ignore[attr-defined]
            oom_kills=lambda proc: proc.gym_cgroup.oom_kills() if proc.gym_cgroup is not None else 0,  # type: ignore[attr-defined]
        )

    def _spawn_driver(self) -> subprocess.Popen[bytes]:
        fds: list[int] = []
        status_read = -1
        group = self._cgroup()
        try:
            files = [*self._etc(), (_SUPERVISOR_PATH, _supervisor_source()), (_DRIVER_PATH, driver_source().encode())]
            ops = self._file_ops(files, fds)
            command, status_read = self._supervised(fds, _DRIVER_PATH, driver_config(self.limits))
            proc = self._popen(self._argv(ops, command, self._seccomp_fd(fds)), fds, subprocess.PIPE, group)
        except BaseException:
            close_fds([status_read] if status_read >= 0 else [])
            if group is not None:
                group.close()
            raise
        finally:
            close_fds(fds)
        proc.gym_status_fd, proc.gym_cgroup = status_read, group  # type: ignore[attr-defined]
        return proc


def _kill_session(proc: subprocess.Popen[bytes]) -> None:
    """ReplSession's ``kill``: the sandbox, then its cgroup (and whatever is left in it) and its status pipe."""
    kill_group(proc)
    group, proc.gym_cgroup = proc.gym_cgroup, None  # type: ignore[attr-defined]
    if group is not None:
        group.close()
    close_fds([proc.gym_status_fd])  # type: ignore[attr-defined]
    proc.gym_status_fd = -1  # type: ignore[attr-defined]


@functools.cache
def _probe(argv: tuple[str, ...], uid: int | None) -> None:
    """Start one empty sandbox (once per command line and uid) to learn whether namespaces are allowed here."""
    privileges: dict[str, Any] = {} if uid is None else {"user": uid, "group": uid, "extra_groups": []}
    try:
        done = subprocess.run(argv, capture_output=True, timeout=30, env={}, cwd="/", check=False, **privileges)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SandboxUnavailable(f"bwrap could not start ({error}); {USERNS_HINT}") from None
    if done.returncode != 0:
        said = done.stderr.decode(errors="replace").strip()
        raise SandboxUnavailable(f"bwrap cannot create its namespaces here ({said}); {USERNS_HINT}")


register_backend("bwrap", BwrapSandbox)
