"""The ``local`` backend: rlimits and a private working directory, and **no isolation at all**.

The program runs as the calling user, with the host's filesystem, network and processes
in reach. It exists for machines where no isolating backend can run and for trusted code;
it is used only when asked for by name, and warns every time it is made.

What it does: rlimits (CPU seconds, address space, processes, file size, open files, no
core dumps; ``RLIMIT_NPROC`` does not bind root), a fresh working directory per program
or session that holds ``files`` and is removed afterwards (it is the cwd, ``HOME``,
``TMPDIR`` and on ``PYTHONPATH``: read ``files`` by relative name and the same code runs
in every backend), an environment of ``PATH``/``HOME``/``TMPDIR``/``LANG`` only, bounded
output capture, and a wall-clock timeout that kills the program's process group
(a child that calls ``setsid`` leaves the group and survives it).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from gym_reason.sandboxes.base import ExecResult, Limits, Sandbox, SandboxUnavailable, Session, register_backend
from gym_reason.sandboxes.process import (
    check_files,
    close_fds,
    collect_output,
    kill_group,
    memfd,
    prlimit_args,
    process_result,
    wait_until,
)
from gym_reason.sandboxes.repl import ReplSession, driver_command

WARNING = (
    "the 'local' sandbox backend does not isolate anything: code runs as your user with your files, "
    "network and processes in reach (only rlimits apply); use backend 'bwrap' or 'docker' for untrusted code"
)


class LocalSandbox(Sandbox):
    """Runs Python as a plain child process under rlimits (see the module docstring: no isolation)."""

    name = "local"

    def __init__(self, limits: Limits | None = None, *, interpreter: str = sys.executable, prlimit: str = "prlimit"):
        """``interpreter``: the Python to run (default: the one running this code).

        Raises:
            SandboxUnavailable: prlimit (util-linux, Linux only) or the interpreter is missing.
        """
        super().__init__(limits)
        warnings.warn(WARNING, UserWarning, stacklevel=2)
        found = shutil.which(prlimit)
        if found is None:
            raise SandboxUnavailable(
                f"prlimit not found at {prlimit!r}: install util-linux (apt-get install util-linux)"
            )
        if shutil.which(interpreter) is None:
            raise SandboxUnavailable(f"interpreter {interpreter!r} not found")
        self.prlimit = found
        self.interpreter = interpreter

    def _env(self, work: Path) -> dict[str, str]:
        return {
            "PATH": "/usr/bin:/bin",
            "HOME": str(work),
            "TMPDIR": str(work),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(work),
            "PYTHONUNBUFFERED": "1",
        }

    def run(
        self, code: str, timeout: float = 10.0, *, stdin: str = "", files: dict[str, str] | None = None
    ) -> ExecResult:
        checked = check_files(files)
        root = Path(tempfile.mkdtemp(prefix="gym-reason-local-"))
        try:
            work = root / "work"
            work.mkdir()
            for path, data in checked:
                (work / path).parent.mkdir(parents=True, exist_ok=True)
                (work / path).write_bytes(data)
            (root / "main.py").write_text(code)
            command = [*prlimit_args(self.prlimit, self.limits), self.interpreter, str(root / "main.py")]
            stdin_fd = memfd("sandbox-stdin", stdin.encode())
            start = time.monotonic()
            try:
                proc = subprocess.Popen(
                    command,
                    stdin=stdin_fd,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    cwd=work,
                    env=self._env(work),
                    start_new_session=True,
                )
            finally:
                close_fds([stdin_fd])
            deadline = start + timeout
            try:
                out, err, truncated, timed_out = collect_output(proc, deadline, self.limits.output_bytes)
                if not timed_out and not wait_until(proc, deadline):
                    timed_out = True
            finally:
                kill_group(proc)  # also the program's lingering children in its group
                for pipe in (proc.stdout, proc.stderr):
                    if pipe is not None:
                        pipe.close()
            wall_time = time.monotonic() - start
        finally:
            shutil.rmtree(root, ignore_errors=True)
        exit_code = -9 if timed_out else proc.returncode
        return process_result(out, err, exit_code, timed_out=timed_out, wall_time=wall_time, truncated=truncated)

    def session(self) -> Session:
        root = Path(tempfile.mkdtemp(prefix="gym-reason-local-"))
        work = root / "work"

        def spawn() -> subprocess.Popen[bytes]:
            shutil.rmtree(work, ignore_errors=True)  # a restarted session starts from an empty directory
            work.mkdir()
            command = [*prlimit_args(self.prlimit, self.limits, session=True)]
            command += driver_command(self.interpreter, self.limits)
            return subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=work,
                env=self._env(work),
                start_new_session=True,
            )

        return ReplSession(spawn, self.limits, kill=kill_group, on_close=lambda: shutil.rmtree(root, True))


register_backend("local", LocalSandbox)
