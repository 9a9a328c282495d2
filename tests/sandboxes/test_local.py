"""The local backend (rlimits only, with a warning) and make_sandbox's errors.

No hostile program runs here: the local backend isolates nothing, so the battery would hit
this machine itself (the battery refuses it).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gym_reason.sandboxes import BACKENDS, Limits, SandboxUnavailable, make_sandbox
from gym_reason.sandboxes.local import LocalSandbox
from tests.sandboxes.battery import BATTERY, refuse_unisolated


@pytest.fixture(scope="module")
def local() -> Iterator[LocalSandbox]:
    with pytest.warns(UserWarning, match="does not isolate"):
        box = LocalSandbox(Limits(cpu_seconds=1))
    with box:
        yield box


def test_local_warns_that_it_does_not_isolate() -> None:
    with pytest.warns(UserWarning, match="does not isolate anything"):
        make_sandbox("local").close()


def test_the_battery_refuses_the_local_backend(local: LocalSandbox) -> None:
    with pytest.raises(RuntimeError, match="isolates nothing"):
        refuse_unisolated(local)
    assert BATTERY  # (the battery itself is exercised against isolating backends only)


def test_local_run_output_files_stdin_and_exit_code(local: LocalSandbox) -> None:
    result = local.run(
        "import sys, helper\nprint(helper.VALUE, open('d/in.txt').read(), input())\nsys.exit(2)",
        stdin="from stdin\n",
        files={"helper.py": "VALUE = 7\n", "d/in.txt": "file"},
    )
    assert (result.stdout, result.exit_code) == ("7 file from stdin\n", 2)
    assert local.run("raise ValueError('bad')").stderr.rstrip().endswith("ValueError: bad")


def test_local_environment_is_minimal(local: LocalSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GYM_REASON_TEST_SECRET", "hunter2")
    result = local.run("import os\nprint(sorted(os.environ))")
    assert "GYM_REASON_TEST_SECRET" not in result.stdout and "hunter2" not in result.stdout


def test_local_cpu_limit(local: LocalSandbox) -> None:
    result = local.run("while True:\n    pass", timeout=30)
    assert result.killed_by_limit and not result.timed_out and result.exit_code in (-24, -9), result


def test_local_memory_limit() -> None:
    with pytest.warns(UserWarning), LocalSandbox(Limits(memory_mb=200)) as box:
        result = box.run("x = bytearray(400 * 2 ** 20)")
    assert result.killed_by_limit and "MemoryError" in result.stderr


def test_local_file_size_and_open_files_limits() -> None:
    with pytest.warns(UserWarning), LocalSandbox(Limits(file_size_mb=1, open_files=16)) as box:
        too_big = box.run("open('big', 'wb').write(b'x' * (2 << 20))")
        assert too_big.killed_by_limit and too_big.exit_code in (-25, 1), too_big  # SIGXFSZ, or EFBIG if ignored
        too_many = box.run("handles = [open('/dev/null') for _ in range(100)]")
        assert too_many.killed_by_limit and "Errno 24" in too_many.stderr, too_many


@pytest.mark.skipif(os.geteuid() == 0, reason="RLIMIT_NPROC does not bind root")
def test_local_process_limit() -> None:
    with pytest.warns(UserWarning), LocalSandbox(Limits(processes=1)) as box:
        result = box.run("import os\nos.fork()")
    assert result.killed_by_limit, result


def test_local_timeout_and_output_cut() -> None:
    with pytest.warns(UserWarning), LocalSandbox(Limits(output_bytes=50)) as box:
        slow = box.run("import time\nprint('a' * 80, flush=True)\ntime.sleep(20)", timeout=0.5)
    assert slow.timed_out and slow.truncated and slow.stdout == "a" * 50
    assert slow.wall_time < 3


def _local_dirs() -> set[str]:
    return {name for name in os.listdir(tempfile.gettempdir()) if name.startswith("gym-reason-local-")}


def test_local_session_keeps_state_restarts_and_cleans_up(local: LocalSandbox) -> None:
    before = _local_dirs()
    with local.session() as session:
        assert session.run("x = 3\nopen('f.txt', 'w').write('kept')").ok
        assert session.run("print(x, open('f.txt').read())").stdout == "3 kept\n"
        timed_out = session.run("import time\ntime.sleep(20)", timeout=0.3)
        assert timed_out.timed_out and "state is lost" in timed_out.stderr
        assert session.run("import os\nprint('x' in globals(), os.listdir('.'))").stdout == "False []\n"
        assert _local_dirs() != before
    assert _local_dirs() == before
    local.run("print(1)")
    assert _local_dirs() == before


def test_unknown_backend_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown sandbox backend 'bwrapp'") as error:
        make_sandbox("bwrapp")
    assert "'bwrap'" in str(error.value) and "'local'" in str(error.value)


def test_missing_bwrap_says_how_to_install_it() -> None:
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        make_sandbox("bwrap", bwrap="/nonexistent/bwrap")


def test_missing_prlimit_says_how_to_install_it() -> None:
    with pytest.warns(UserWarning), pytest.raises(SandboxUnavailable, match="util-linux"):
        make_sandbox("local", prlimit="/nonexistent/prlimit")


def test_importing_the_package_starts_nothing() -> None:
    code = (
        "import os, threading, gym_reason.sandboxes as s\n"
        "assert {'bwrap', 'local'} <= set(s.BACKENDS), s.BACKENDS\n"
        "children = [p for p in os.listdir('/proc') if p.isdigit() and "
        "open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[1] == str(os.getpid())]\n"
        "print(threading.active_count(), len(children))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path.cwd())
    assert done.stdout.split() == ["1", "0"], done
    assert {"bwrap", "local"} <= set(BACKENDS)


def test_local_exit_status_137_is_not_sigkill_and_sessions_count_restarts(local: LocalSandbox) -> None:
    assert local.run("import os\nos._exit(137)").exit_code == 137
    assert local.run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)").exit_code == -9
    with local.session() as session:
        assert (session.restarts, session.last_restart_cause) == (0, None)
        assert session.run("import os\nos._exit(137)").exit_code == 137
        assert (session.restarts, session.last_restart_cause) == (1, "the interpreter exited with status 137")
        assert session.run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)").exit_code == -9
        assert (session.restarts, session.last_restart_cause) == (2, "the interpreter was killed by a signal (SIGKILL)")
