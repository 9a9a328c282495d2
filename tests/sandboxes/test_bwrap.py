"""The bwrap backend: the hostile battery (each program as a fresh run and in a session), the
contract (output, exit codes, files, stdin, sessions, timeouts, limits) and the session pool."""

from __future__ import annotations

import gc
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gym_reason.sandboxes import Limits, SandboxPool, SandboxUnavailable, make_sandbox, seccomp
from gym_reason.sandboxes.bwrap import BwrapSandbox
from tests.sandboxes.battery import (
    BATTERY,
    BATTERY_LIMITS,
    SYSCALL_PROBES,
    HostContext,
    Hostile,
    host_context,
    kill_everything_spares_the_supervisor,
    run_hostile,
)

pytestmark = pytest.mark.sandbox("bwrap")  # skips with the install command, or fails where CI requires bwrap

# Programs whose session variant adds only seconds of waiting for a limit already shown by the fresh run.
SLOW_IN_SESSION = {"cpu_spin", "fork_bomb", "output_flood_forever", "close_pipes_and_hang"}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[BwrapSandbox]:
    with BwrapSandbox(BATTERY_LIMITS) as box:
        yield box


@pytest.fixture(scope="module")
def host_ctx() -> Iterator[HostContext]:
    with host_context(BATTERY_LIMITS) as ctx:
        yield ctx


def _battery_params() -> list:
    params = []
    for hostile in BATTERY:
        params.append(pytest.param(hostile, "run", id=f"run-{hostile.name}"))
        marks = [pytest.mark.slow] if hostile.name in SLOW_IN_SESSION else []
        params.append(pytest.param(hostile, "session", id=f"session-{hostile.name}", marks=marks))
    return params


@pytest.mark.parametrize(("hostile", "mode"), _battery_params())
def test_battery_is_contained(hostile: Hostile, mode: str, sandbox: BwrapSandbox, host_ctx: HostContext) -> None:
    if hostile.name == "memory_bomb_forked" and sandbox.memory.version is None:
        pytest.skip(f"no memory cgroup here, so memory is bounded {sandbox.memory.describe()}")
    run_hostile(hostile, sandbox, host_ctx, mode)


# -- the seccomp filter


def test_syscall_probes_fail_without_the_filter(host_ctx: HostContext) -> None:
    # The probes can fail: without the filter every probe not already stopped by a missing capability
    # reaches the kernel (or succeeds), and its check says so.
    by_name = {hostile.name: hostile for hostile in BATTERY}
    reached = []
    with BwrapSandbox(BATTERY_LIMITS, _without_seccomp_filter=True) as unfiltered:
        for probe in SYSCALL_PROBES:
            hostile = by_name[f"syscall_{probe.label}"]
            result = unfiltered.run(host_ctx.render(hostile.code), hostile.timeout)
            if probe.capability_bound:
                continue
            with pytest.raises(AssertionError):
                hostile.check(result, host_ctx)
            reached.append(probe.label)
    assert len(reached) >= 12, reached


def test_no_binding_means_no_bwrap_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    seccomp.filter_program.cache_clear()
    monkeypatch.setitem(sys.modules, "pyseccomp", None)  # import pyseccomp raises ImportError
    try:
        with pytest.raises(SandboxUnavailable, match=r"pip install .*pyseccomp.*apt-get install libseccomp2"):
            make_sandbox("bwrap")
    finally:
        monkeypatch.undo()
        seccomp.filter_program.cache_clear()


def test_python_works_under_the_filter(sandbox: BwrapSandbox) -> None:
    # threads (clone3 -> ENOSYS -> clone), subprocesses, multiprocessing, sockets over loopback, netlink
    code = (
        "import threading, subprocess, multiprocessing, socket\n"
        "t = threading.Thread(target=print, args=('thread',)); t.start(); t.join()\n"
        "print(subprocess.run(['echo', 'child'], capture_output=True, text=True).stdout.strip())\n"
        "with multiprocessing.Pool(2) as pool:\n"
        "    print(sum(pool.map(abs, [-1, -2, 3])))\n"
        "a, b = socket.socketpair(); a.sendall(b'pair'); print(b.recv(4).decode())\n"
        "print([name for _, name in socket.if_nameindex()])\n"
    )
    result = sandbox.run(code, timeout=20)
    assert result.ok, result
    assert result.stdout.split() == ["thread", "child", "6", "pair", "['lo']"], result


# -- memory as a whole


def _cgroup_or_skip(sandbox: BwrapSandbox) -> None:
    if sandbox.memory.version is None:
        pytest.skip(f"no memory cgroup on this machine: {sandbox.memory.reason}")


_FORKED_BOMB = next(h for h in BATTERY if h.name == "memory_bomb_forked")


def test_forked_memory_is_bounded_by_one_cgroup(sandbox: BwrapSandbox, host_ctx: HostContext) -> None:
    _cgroup_or_skip(sandbox)
    assert "cgroup" in sandbox.info["memory"]
    result = sandbox.run(host_ctx.render(_FORKED_BOMB.code), timeout=15)
    held = [int(line.split()[2]) for line in result.stdout.splitlines() if line.startswith("CONTAINED memory-total")]
    assert held and held[0] <= BATTERY_LIMITS.memory_mb, result
    assert result.killed_by_limit, result  # the OOM killer stepped in, and the result says so


def test_without_a_cgroup_the_weaker_bound_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from gym_reason.sandboxes import cgroup

    monkeypatch.setattr(cgroup, "detect", lambda: cgroup.MemoryBound(None, None, "not writable (test)"))
    with pytest.warns(UserWarning, match="per process only"), BwrapSandbox() as box:
        assert box.info["memory"] == "per process only (RLIMIT_AS; no memory cgroup: not writable (test))"
        assert box.run("print(1)").stdout == "1\n"


def test_cgroups_are_removed_after_runs_and_sessions(sandbox: BwrapSandbox) -> None:
    _cgroup_or_skip(sandbox)
    parent = sandbox.memory.parent
    assert parent is not None

    def ours() -> list[str]:
        return [p.name for p in parent.iterdir() if p.name.startswith(f"gym-reason-{os.getpid()}-")]

    before = ours()
    sandbox.run("import os\nif os.fork() == 0:\n    import time; time.sleep(30)")
    with sandbox.session() as session:
        session.run("x = 1")
        assert len(ours()) == len(before) + 1
        session.run("import time\ntime.sleep(5)", timeout=0.3)  # restart: a new cgroup, the old one gone
        assert len(ours()) == len(before) + 1
    assert ours() == before


# -- exit statuses and restarts


def test_exit_status_137_is_not_sigkill(sandbox: BwrapSandbox) -> None:
    assert sandbox.run("import os\nos._exit(137)").exit_code == 137
    assert sandbox.run("import sys\nsys.exit(200)").exit_code == 200
    killed = sandbox.run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    assert killed.exit_code == -9 and killed.killed_by_limit is True  # SIGKILL not sent by the host
    assert sandbox.run("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)").exit_code == -15


def test_session_counts_restarts_and_says_why(sandbox: BwrapSandbox) -> None:
    with sandbox.session() as session:
        assert (session.restarts, session.last_restart_cause) == (0, None)
        assert session.run("import sys\nsys.exit(137)").exit_code == 137  # SystemExit: no restart
        assert session.restarts == 0
        exited = session.run("import os\nos._exit(137)")
        assert exited.exit_code == 137 and not exited.killed_by_limit, exited
        assert (session.restarts, session.last_restart_cause) == (1, "the interpreter exited with status 137")
        killed = session.run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
        assert killed.exit_code == -9, killed
        assert session.restarts == 2
        assert session.last_restart_cause == "the interpreter was killed by a signal (SIGKILL)"
        timed = session.run("import time\ntime.sleep(5)", timeout=0.3)
        assert timed.timed_out and session.restarts == 3 and session.last_restart_cause == "timed out after 0.3s"


# -- the contract: fresh runs


def test_run_reports_stdout_stderr_and_exit_code(sandbox: BwrapSandbox) -> None:
    result = sandbox.run("import sys\nprint('to out')\nprint('to err', file=sys.stderr)\nsys.exit(3)")
    assert (result.stdout, result.stderr, result.exit_code) == ("to out\n", "to err\n", 3)
    assert not result.ok and not result.timed_out and not result.killed_by_limit


def test_run_exception_gives_exit_1_and_traceback(sandbox: BwrapSandbox) -> None:
    result = sandbox.run("def f():\n    return 1 / 0\nf()")
    assert result.exit_code == 1 and not result.killed_by_limit
    assert "Traceback" in result.stderr and "ZeroDivisionError" in result.stderr and "return 1 / 0" in result.stderr


def test_run_gets_files_and_stdin(sandbox: BwrapSandbox) -> None:
    code = (
        "import helper\nprint(helper.twice(int(input())), open('data/in.txt').read(), open('/tmp/data/in.txt').read())"
    )
    files = {"helper.py": "def twice(x):\n    return 2 * x\n", "data/in.txt": "payload"}
    result = sandbox.run(code, stdin="21\n", files=files)
    assert result.ok, result
    assert result.stdout == "42 payload payload\n"


def test_run_rejects_file_names_outside_tmp(sandbox: BwrapSandbox) -> None:
    for name in ["../x", "/etc/passwd", "a/../../x", ""]:
        with pytest.raises(ValueError, match="bad file name"):
            sandbox.run("pass", files={name: "x"})


def test_cpu_limit_kills_with_sigxcpu() -> None:
    with BwrapSandbox(Limits(cpu_seconds=1)) as box:
        result = box.run("while True:\n    pass", timeout=20)
    assert result.killed_by_limit and not result.timed_out, result
    assert result.exit_code in (-24, -9)  # SIGXCPU, or SIGKILL at the hard limit one second later


def test_memory_limit_is_a_limit_error(sandbox: BwrapSandbox) -> None:
    result = sandbox.run("x = bytearray(10 ** 9)")
    assert result.killed_by_limit and result.exit_code == 1 and "MemoryError" in result.stderr


def test_timeout_kills_close_to_the_deadline(sandbox: BwrapSandbox) -> None:
    result = sandbox.run("import time\nprint('started', flush=True)\ntime.sleep(30)", timeout=0.5)
    assert result.timed_out and result.exit_code == -9 and not result.killed_by_limit
    assert result.stdout == "started\n"  # what it printed before the kill is kept
    assert 0.5 <= result.wall_time < 2.0


def test_output_is_cut_at_the_limit() -> None:
    with BwrapSandbox(Limits(output_bytes=100)) as box:
        result = box.run("print('x' * 1000)")
    assert result.ok and result.truncated and result.stdout == "x" * 100


def test_interpreter_outside_usr_is_refused() -> None:
    with pytest.raises(SandboxUnavailable, match="under /usr"):
        BwrapSandbox(interpreter="/opt/python/bin/python3")


def test_make_sandbox_bwrap() -> None:
    with make_sandbox("bwrap", Limits(cpu_seconds=3)) as box:
        assert isinstance(box, BwrapSandbox) and box.limits.cpu_seconds == 3
        assert box.run("print(1 + 1)").stdout == "2\n"


# -- sessions


def test_session_keeps_state_and_files(sandbox: BwrapSandbox) -> None:
    with sandbox.session() as session:
        assert session.run("import math\nx = 20\nopen('/tmp/f', 'w').write('kept')").ok
        result = session.run("print(x + math.floor(2.5), open('f').read())")
        assert result.stdout == "22 kept\n", result
        result = session.run("import os, sys\nprint('out')\nos.write(2, b'raw err')\nos.system('echo from a child')")
        assert result.stdout == "out\nfrom a child\n" and result.stderr == "raw err", result


def test_a_session_dropped_without_close_stops_its_sandbox(sandbox: BwrapSandbox) -> None:
    session = sandbox.session()
    assert session.run("print('up')").stdout == "up\n"
    pid = session._proc.pid
    del session
    gc.collect()
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left running (nor a zombie)
        os.kill(pid, 0)


def test_session_exceptions_and_exit_codes(sandbox: BwrapSandbox) -> None:
    with sandbox.session() as session:
        result = session.run("y = 1\nraise KeyError('nope')")
        assert result.exit_code == 1 and "KeyError: 'nope'" in result.stderr and "<cell 1>" in result.stderr
        assert session.run("import sys\nsys.exit(4)").exit_code == 4
        assert session.run("print(y)").stdout == "1\n"  # neither an exception nor sys.exit ends the session


def test_session_timeout_restarts_clean(sandbox: BwrapSandbox) -> None:
    with sandbox.session() as session:
        session.run("x = 1\nopen('/tmp/state', 'w').write('old')")
        result = session.run("import time\nprint('before', flush=True)\ntime.sleep(30)", timeout=0.5)
        assert result.timed_out and not result.ok
        assert result.stdout == "before\n"
        assert "restarted" in result.stderr and "state is lost" in result.stderr
        assert 0.5 <= result.wall_time < 2.0
        result = session.run("import os\nprint('x' in globals(), os.listdir('/tmp'))")
        assert result.stdout == "False []\n", result


def test_session_crash_by_limit_restarts() -> None:
    with BwrapSandbox(Limits(cpu_seconds=1)) as box, box.session() as session:
        result = session.run("while True:\n    pass", timeout=20)
        assert result.killed_by_limit and not result.timed_out and "SIGXCPU" in result.stderr, result
        assert session.run("print('alive')").stdout == "alive\n"
        # cpu_seconds applies per call: many short calls add up to more than one second without a kill
        assert all(session.run("sum(range(10 ** 5))").ok for _ in range(5))


def test_session_outlives_the_thread_that_opened_it(sandbox: BwrapSandbox) -> None:
    # bwrap --die-with-parent follows the *thread* that started it; sessions must not die with a worker thread.
    opened = []
    thread = threading.Thread(target=lambda: opened.append(sandbox.session()))
    thread.start()
    thread.join()
    with opened[0] as session:
        assert session.run("print('alive')").stdout == "alive\n"


def test_two_sessions_are_isolated(sandbox: BwrapSandbox) -> None:
    with sandbox.session() as first, sandbox.session() as second:
        first.run("secret = 'one'\nopen('/tmp/mine', 'w').write('one')")
        result = second.run("import os\nprint('secret' in globals(), os.listdir('/tmp'))")
        assert result.stdout == "False []\n"


def _children() -> list[str]:
    """Processes whose parent is this test process (live sandboxes are bwrap children of it)."""
    mine = str(os.getpid())
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[1] == mine:
                found.append(entry)
    return found


def test_context_managers_leave_nothing_behind() -> None:
    fds_before = set(os.listdir("/proc/self/fd"))
    children_before = _children()
    with BwrapSandbox() as box:
        box.run("print(1)", files={"a.txt": "x"}, stdin="y")
        box.run("import time\ntime.sleep(10)", timeout=0.2)
        with box.session() as session:
            session.run("import subprocess\nsubprocess.Popen(['sleep', '60'])")
            assert len(_children()) > len(children_before)
        session.close()  # idempotent
        with pytest.raises(RuntimeError, match="closed"):
            session.run("1")
    assert _children() == children_before
    assert set(os.listdir("/proc/self/fd")) <= fds_before


# -- pool


def test_pool_serves_32_concurrent_sessions() -> None:
    errors: list[BaseException] = []
    results: dict[int, str] = {}

    def worker(i: int) -> None:
        try:
            with pool.session(timeout=120) as session:
                session.run(f"mine = {i}")
                barrier.wait(timeout=120)  # all 32 sessions alive at once
                results[i] = session.run("print(mine * 2)", timeout=60).stdout
        except BaseException as error:
            errors.append(error)

    barrier = threading.Barrier(32)
    with SandboxPool("bwrap", size=32, limits=Limits(cpu_seconds=5)) as pool:
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors, errors
    assert results == {i: f"{2 * i}\n" for i in range(32)}


def test_pool_reuses_resets_and_closes(sandbox: BwrapSandbox) -> None:
    pool = SandboxPool(sandbox, size=1)
    with pool.session() as session:
        session.run("x = 1")
    with pool.session(reset=False) as session:  # a fresh one: the last was reset
        assert session.run("print('x' in globals())").stdout == "False\n"
        session.run("x = 2")
    with pool.session() as again:  # the same one, state kept
        assert again is session and again.run("print(x)").stdout == "2\n"
        with pytest.raises(TimeoutError):
            pool.acquire(timeout=0.1)
    with pytest.raises(ValueError, match="not in use"):
        pool.release(session)
    pool.close()
    pool.close()
    with pytest.raises(RuntimeError, match="closed"):
        pool.acquire()
    assert sandbox.run("print('still usable')").ok  # the pool did not own the sandbox


def test_kill_everything_spares_the_supervisor_and_the_session(sandbox: BwrapSandbox) -> None:
    # The supervisor is the namespace's init: kill(-1, SIGKILL) inside reaches neither it nor the caller.
    kill_everything_spares_the_supervisor(sandbox)


def test_prlimit_found_through_a_link_outside_usr_still_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A PATH entry outside /usr (a ~/bin of links) used to hand bwrap the link's own path, which does not
    # exist inside the sandbox: every program failed with "execvp .../prlimit: No such file or directory".
    links = tmp_path / "bin"
    links.mkdir()
    (links / "prlimit").symlink_to("/usr/bin/prlimit")
    monkeypatch.setenv("PATH", f"{links}:{os.environ['PATH']}")
    box = BwrapSandbox(Limits(cpu_seconds=5, memory_mb=256))
    try:
        result = box.run("print(6 * 7)", timeout=10)
        assert (result.exit_code, result.stdout.strip()) == (0, "42"), result.stderr
        assert box.prlimit == os.path.realpath("/usr/bin/prlimit")
    finally:
        box.close()
