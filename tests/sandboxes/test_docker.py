"""The docker backend: its contract, its limits, its clean-up, and the shared hostile battery.

Marked ``docker``: run with ``pytest -m docker``. They need a reachable Docker daemon and the image
from ``bash scripts/build_sandbox_image.sh`` (CI starts the one and builds the other); without
them every test here is skipped with the reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from gym_reason.sandboxes import Limits, SandboxUnavailable, make_sandbox
from gym_reason.sandboxes.docker_backend import LABEL, OWNER_LABEL, DockerSandbox, remove_leftover_containers
from tests.sandbox_guard import sandbox_missing
from tests.sandboxes.battery import (
    BATTERY,
    BATTERY_LIMITS,
    SYSCALL_PROBES,
    HostContext,
    host_context,
    kill_everything_spares_the_supervisor,
    run_hostile,
)

pytestmark = pytest.mark.docker


def _docker_or_skip(limits: Limits | None = None) -> DockerSandbox:
    try:
        return DockerSandbox(limits)
    except SandboxUnavailable as e:
        sandbox_missing("docker", str(e))


def _wait_for_spare(sandbox: DockerSandbox) -> None:
    """Until the spare that ``sandbox`` is starting in the background is up."""
    with sandbox._spare_cond:
        while sandbox._spare_pending:
            sandbox._spare_cond.wait()


def _our_containers(sandbox: DockerSandbox | None = None, expect: int = 0, settle: float = 10.0) -> list[str]:
    """Sandbox containers this test process owns, leaving out ``sandbox``'s spare (the container
    started ahead of its next run). Used containers are removed in the background, so this asks
    again until there are ``expect`` of them, or ``settle`` seconds have passed."""
    import docker

    client = docker.from_env()
    deadline = time.monotonic() + settle
    try:
        while True:
            spare = None
            if sandbox is not None:
                _wait_for_spare(sandbox)
                spare = sandbox._spare.container_id if sandbox._spare is not None else None
            found = client.api.containers(all=True, filters={"label": [LABEL, f"{OWNER_LABEL}={os.getpid()}"]})
            ids = [c["Id"][:12] for c in found if c["Id"] != spare]
            if len(ids) == expect or time.monotonic() > deadline:
                return ids
            time.sleep(0.1)
    finally:
        client.close()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[DockerSandbox]:
    with _docker_or_skip() as sandbox:
        yield sandbox
    assert not _our_containers(), "containers left behind by the docker tests"


@pytest.fixture
def no_leftovers(sandbox: DockerSandbox) -> Iterator[None]:
    """The test removes every container it made (but the sandbox's spare)."""
    yield
    assert not _our_containers(sandbox), "the test left containers behind"


# --------------------------------------------------------------------------- run()


def test_registered_by_name(sandbox: DockerSandbox) -> None:
    with make_sandbox("docker", Limits(cpu_seconds=3)) as made:
        assert isinstance(made, DockerSandbox)
        assert made.limits.cpu_seconds == 3


def test_stdout_stderr_exit_code(sandbox: DockerSandbox, no_leftovers: None) -> None:
    result = sandbox.run("import sys\nprint('out')\nprint('err', file=sys.stderr)\nsys.exit(3)")
    assert (result.stdout, result.stderr, result.exit_code) == ("out\n", "err\n", 3)
    assert not result.ok and not result.timed_out and not result.killed_by_limit


def test_ok_and_traceback(sandbox: DockerSandbox) -> None:
    assert sandbox.run("print(6 * 7)").ok
    failed = sandbox.run("1 / 0")
    assert failed.exit_code == 1 and "ZeroDivisionError" in failed.stderr


def test_stdin_and_files(sandbox: DockerSandbox) -> None:
    code = "import sys, helper\nprint(helper.twice(sys.stdin.read()), open('data/in.txt').read())"
    result = sandbox.run(code, stdin="ab", files={"helper.py": "def twice(s):\n    return s * 2\n", "data/in.txt": "x"})
    assert result.stdout == "abab x\n", result


def test_bad_file_names_are_refused(sandbox: DockerSandbox) -> None:
    for name in ["../escape.txt", "/etc/passwd", "a/../../b", "", "main.py"]:
        with pytest.raises(ValueError, match="file name"):
            sandbox.run("pass", files={name: "x"})


def test_runs_isolated_and_unprivileged(sandbox: DockerSandbox) -> None:
    code = (
        "import os, socket\n"
        "print(os.getuid(), os.getgid(), sorted(os.listdir('/sys/class/net')))\n"
        "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
        "for path in ['/usr/x', '/etc/x', '/x']:\n"
        "    try:\n"
        "        open(path, 'w')\n"
        "    except OSError as e:\n"
        "        print(type(e).__name__)\n"
    )
    result = sandbox.run(code)
    assert result.stdout.splitlines() == ["65534 65534 ['lo']", "0000000000000000", *["OSError"] * 3], result


def test_no_host_environment(sandbox: DockerSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GYM_REASON_TEST_SECRET", "do-not-leak")
    result = sandbox.run("import os\nprint(sorted(os.environ))")
    assert "GYM_REASON_TEST_SECRET" not in result.stdout
    assert result.stdout.strip() == str(sorted(["HOME", "HOSTNAME", "LANG", "PATH", "PYTHONDONTWRITEBYTECODE"])), result


def test_tmp_is_writable_but_not_executable(sandbox: DockerSandbox) -> None:
    code = (
        "import os, shutil, subprocess\n"
        "shutil.copy('/bin/true', '/tmp/mytrue')\n"
        "os.chmod('/tmp/mytrue', 0o755)\n"
        "try:\n"
        "    subprocess.run(['/tmp/mytrue'])\n"
        "except PermissionError:\n"
        "    print('noexec')\n"
    )
    assert sandbox.run(code).stdout == "noexec\n"


def test_timeout_kills_from_the_host(sandbox: DockerSandbox, no_leftovers: None) -> None:
    result = sandbox.run("import time\nprint('started', flush=True)\ntime.sleep(60)", timeout=1.0)
    assert result.timed_out and not result.ok and not result.killed_by_limit
    assert result.stdout == "started\n"
    assert 1.0 <= result.wall_time < 3.0


def test_cpu_limit() -> None:
    with _docker_or_skip(Limits(cpu_seconds=1)) as sandbox:
        result = sandbox.run("while True:\n    pass", timeout=10)
    assert result.killed_by_limit and not result.timed_out, result
    assert result.exit_code == -24  # SIGXCPU


def test_memory_limit_oom_kills() -> None:
    with _docker_or_skip(Limits(memory_mb=128)) as sandbox:
        result = sandbox.run("x = bytearray(512 << 20)\nprint('allocated')", timeout=20)
    assert result.killed_by_limit and "allocated" not in result.stdout, result


def test_output_is_bounded(sandbox: DockerSandbox) -> None:
    result = sandbox.run("import sys\nsys.stdout.write('x' * 10**6)\nsys.stderr.write('y' * 10**6)")
    assert result.truncated and result.ok
    assert len(result.stdout) == len(result.stderr) == sandbox.limits.output_bytes


def test_runs_start_clean(sandbox: DockerSandbox) -> None:
    sandbox.run("open('/tmp/left.txt', 'w').write('x')")
    assert sandbox.run("import os\nprint(os.listdir('/tmp'))").stdout == "['main.py']\n"


# --------------------------------------------------------------------------- sessions


def test_session_keeps_state(sandbox: DockerSandbox, no_leftovers: None) -> None:
    with sandbox.session() as session:
        assert session.run("import math\nx = 20\nopen('/tmp/f', 'w').write('kept')").ok
        result = session.run("print(math.floor(x + 1.5), open('/tmp/f').read())")
        assert result.stdout == "21 kept\n", result
        shell = session.run("import os\nos.system('echo from-a-subprocess; echo e >&2')")
        assert (shell.stdout, shell.stderr) == ("from-a-subprocess\n", "e\n")


def test_session_errors_keep_the_session(sandbox: DockerSandbox) -> None:
    with sandbox.session() as session:
        session.run("x = 1")
        failed = session.run("raise KeyError('boom')")
        assert failed.exit_code == 1 and "KeyError: 'boom'" in failed.stderr and "<string>" not in failed.stderr
        assert session.run("import sys\nsys.exit(4)").exit_code == 4
        assert session.run("print(x)").stdout == "1\n"


def test_session_timeout_restarts_clean(sandbox: DockerSandbox, no_leftovers: None) -> None:
    with sandbox.session() as session:
        session.run("x = 1")
        result = session.run("import time\ntime.sleep(60)", timeout=1.0)
        assert result.timed_out and "state" in result.stderr and result.wall_time < 3.0
        after = session.run("print('x' in dir())")
        assert after.stdout == "False\n" and after.ok


def test_session_crash_restarts_clean(sandbox: DockerSandbox) -> None:
    with sandbox.session() as session:
        session.run("x = 1")
        crashed = session.run("import os\nos._exit(7)")
        assert crashed.exit_code == 7 and "state" in crashed.stderr
        assert session.run("print('x' in dir())").stdout == "False\n"


def test_exit_status_137_is_not_sigkill(sandbox: DockerSandbox) -> None:
    assert sandbox.run("import os\nos._exit(137)").exit_code == 137
    assert sandbox.run("import sys\nsys.exit(200)").exit_code == 200
    assert sandbox.run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)").exit_code == -9
    noisy = sandbox.run("import os\nos.write(2, b'before' + bytes(1) + b'after')\nos._exit(137)")
    assert (noisy.exit_code, noisy.stderr) == (137, "before\0after"), noisy  # the report leaves stderr as written


def test_session_counts_restarts_and_says_why(sandbox: DockerSandbox) -> None:
    with sandbox.session() as session:
        assert (session.restarts, session.last_restart_cause) == (0, None)
        exited = session.run("import os\nos._exit(137)")
        assert exited.exit_code == 137 and not exited.killed_by_limit, exited
        assert (session.restarts, session.last_restart_cause) == (1, "the interpreter exited with status 137")
        killed = session.run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
        assert killed.exit_code == -9 and session.restarts == 2, killed
        assert session.last_restart_cause == "the interpreter was killed by a signal (SIGKILL)"


def test_session_memory_limit() -> None:
    with _docker_or_skip(Limits(memory_mb=128)) as sandbox, sandbox.session() as session:
        result = session.run("x = bytearray(512 << 20)", timeout=20)
        assert result.killed_by_limit, result
        assert session.run("print('back')").stdout == "back\n"


def test_session_output_is_bounded(sandbox: DockerSandbox) -> None:
    with sandbox.session() as session:
        result = session.run("print('x' * 10**6)")
        assert result.truncated and len(result.stdout) == sandbox.limits.output_bytes


def test_session_survives_protocol_sabotage(sandbox: DockerSandbox) -> None:
    with sandbox.session() as session:
        result = session.run(
            "import os\nfor fd in range(3, 10):\n    try:\n        os.write(fd, b'garbage' * 10)\n    except OSError:\n        pass"
        )
        assert session.run("print('still here')").stdout == "still here\n", result


def test_closed_session_removes_its_container(sandbox: DockerSandbox) -> None:
    session = sandbox.session()
    session.run("x = 1")
    assert len(_our_containers(sandbox, expect=1)) == 1
    session.close()
    session.close()  # idempotent
    assert not _our_containers(sandbox)
    with pytest.raises(RuntimeError, match="closed"):
        session.run("x")


def test_forgotten_session_is_removed_when_collected(sandbox: DockerSandbox) -> None:
    import gc

    sandbox.session().run("x = 1")
    gc.collect()
    assert not _our_containers(sandbox)


def test_spare_container_is_fresh_and_removed_on_close() -> None:
    with _docker_or_skip() as sandbox:
        sandbox.run("open('/tmp/mine', 'w').write('x')")
        assert sandbox.run("import os\nprint(os.listdir('/tmp'))").stdout == "['main.py']\n"
        _wait_for_spare(sandbox)
        assert sandbox._spare is not None
        spare = sandbox._spare.container_id
        paused = sandbox.run("print('from the spare')")
        assert paused.stdout == "from the spare\n" and paused.wall_time < 5.0
        _wait_for_spare(sandbox)
        assert sandbox._spare is not None and sandbox._spare.container_id != spare
        last_spare = sandbox._spare.container_id[:12]
    assert last_spare not in _our_containers(settle=0)
    with pytest.raises(RuntimeError, match="closed"):
        sandbox.run("pass")


def test_leftovers_of_dead_processes_are_removed(sandbox: DockerSandbox) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    orphan = sandbox._api.create_container(
        sandbox.image, command=["true"], labels={LABEL: "1", OWNER_LABEL: dead.stdout.strip()}
    )["Id"]
    with sandbox.session() as session:  # a live owner's container stays
        removed = remove_leftover_containers()
        assert orphan in removed
        assert session.run("print('alive')").stdout == "alive\n"


# --------------------------------------------------------------------------- the hostile battery


@pytest.fixture(scope="module")
def battery_sandbox() -> Iterator[DockerSandbox]:
    with _docker_or_skip(BATTERY_LIMITS) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def battery_host() -> Iterator[HostContext]:
    with host_context() as ctx:
        yield ctx


@pytest.mark.parametrize("mode", ["run", "session"])
@pytest.mark.parametrize("hostile", BATTERY, ids=lambda hostile: hostile.name)
def test_battery(hostile, mode: str, battery_sandbox: DockerSandbox, battery_host: HostContext) -> None:
    run_hostile(hostile, battery_sandbox, battery_host, mode=mode)


def test_kill_everything_spares_the_supervisor_and_the_session(sandbox: DockerSandbox) -> None:
    # The bootstrap's supervisor is the container's pid 1: kill(-1, SIGKILL) inside reaches neither it nor the caller.
    kill_everything_spares_the_supervisor(sandbox)


def test_backstop_ends_the_program_without_the_host(sandbox: DockerSandbox) -> None:
    # Should this process die mid-run, the supervisor inside still kills the program `backstop` seconds in.
    import base64
    import json
    import struct

    from gym_reason.sandboxes.docker_backend import _RUN_COMMAND

    proc = sandbox._start(_RUN_COMMAND, session=False)
    try:
        request = {
            "code": "import time\nprint('started', flush=True)\ntime.sleep(60)",
            "files": {},
            "backstop": 1,
            "seccomp": base64.b64encode(sandbox._seccomp).decode(),
            "marker": base64.b64encode(proc.expect_status()).decode(),
        }
        payload = json.dumps(request).encode()
        proc.write_stdin_and_close(struct.pack(">Q", len(payload)) + payload)
        start = time.monotonic()
        proc.wait(20)  # nobody kills it from here
        assert time.monotonic() - start < 10
        assert proc.reported_status() == -9
    finally:
        proc.remove()
        proc.stdout.close()
        proc.stderr.close()


def test_syscall_probes_can_fail_on_docker(battery_host: HostContext) -> None:
    # With Docker's default profile alone (our filter left out), the probes of syscalls that profile
    # allows fail: ptrace (allowed since Docker 19.03 on kernels >= 4.8) and adjtimex (a read of the
    # clock) in every recent version; io_uring before Docker 25. The battery passing shows our filter.
    try:
        unfiltered = DockerSandbox(BATTERY_LIMITS, _without_seccomp_filter=True)
    except SandboxUnavailable as e:
        sandbox_missing("docker", str(e))
    by_name = {hostile.name: hostile for hostile in BATTERY}
    failed = []
    with unfiltered:
        for probe in SYSCALL_PROBES:
            hostile = by_name[f"syscall_{probe.label}"]
            result = unfiltered.run(battery_host.render(hostile.code), hostile.timeout)
            try:
                hostile.check(result, battery_host)
            except AssertionError:
                failed.append(probe.label)
    assert {"ptrace", "adjtimex"} <= set(failed), failed
