"""A battery of hostile programs that every sandbox backend must contain.

Each :class:`Hostile` is a program an untrusted model might write, with a check that
the sandbox contained it. The check reads two things: the program's own report (it
prints ``CONTAINED <label> ...`` when an attack failed, ``READ``/``LISTED``/``WROTE``
with hashes when something succeeded, ``ESCAPED`` when it knows it got out) and the
host's state (files, processes, sockets the test set up in a :class:`HostContext`).
A check insists on seeing the ``CONTAINED`` lines it expects, so a program that died
of a typo never passes as "contained".

After every program :func:`run_hostile` also checks that the host is unaffected
(:func:`check_host_unaffected`) and that the next program in the same sandbox object
starts clean (:func:`check_next_run_clean`).

Use it from a backend's tests, one test id per program and mode::

    @pytest.mark.parametrize("hostile", BATTERY, ids=lambda h: h.name)
    def test_contained(hostile, sandbox, host_ctx):
        run_hostile(hostile, sandbox, host_ctx, mode="run")

or all at once: ``failures = run_battery(lambda limits: make_sandbox("docker", limits))``.
Programs run under :data:`BATTERY_LIMITS`, small enough that the limits are hit quickly.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import itertools
import os
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from gym_reason.sandboxes.base import ExecResult, Limits, Sandbox

BATTERY_LIMITS = Limits(
    cpu_seconds=2, memory_mb=256, processes=32, file_size_mb=4, open_files=64, output_bytes=10_000, tmp_mb=16
)
"""Limits the battery runs under: small, so that each limit is reached within a second or two."""

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Prepended to every program: small probes that print what they could do, never the data itself
# (hashes only), so the host-side check can tell "read the host's file" from "read a file of the same name".
PRELUDE = """
import hashlib as _hashlib, os as _os, sys as _sys

def _sha(data):
    return _hashlib.sha256(data).hexdigest()

def probe_read(label, path):
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except OSError as e:
        print("CONTAINED", label, type(e).__name__, flush=True)
        return
    print("READ", label, _sha(data), flush=True)

def probe_list(label, path):
    try:
        names = sorted(_os.listdir(path))
    except OSError as e:
        print("CONTAINED", label, type(e).__name__, flush=True)
        return
    print("LISTED", label, _sha("\\n".join(names).encode()), flush=True)

# A raw syscall: CONTAINED only when refused with EPERM or ENOSYS (the filter's answers); REACHED when
# the kernel itself answered with another error, ESCAPED when it succeeded.
def probe_syscall(label, nr, *args, child_exits=False):
    import ctypes, errno
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    ctypes.set_errno(0)
    ret = libc.syscall(ctypes.c_long(nr), *args)
    err = ctypes.get_errno()
    if ret == 0 and child_exits:  # a raw clone() that went through: this is the child
        _os._exit(0)
    if ret == -1 and err in (errno.EPERM, errno.ENOSYS):
        print("CONTAINED", label, errno.errorcode[err], flush=True)
    elif ret == -1:
        print("REACHED", label, errno.errorcode.get(err, err), flush=True)
    else:
        print("ESCAPED", label, ret, flush=True)
    return ret

def probe_write(label, path):
    try:
        with open(path, "w") as f:
            f.write("pwned")
    except OSError as e:
        print("CONTAINED", label, type(e).__name__, flush=True)
        return
    print("WROTE", label, flush=True)
"""


@dataclasses.dataclass
class HostContext:
    """What the test set up on the host for the hostile programs to attack.

    Use :func:`host_context` to make one; it starts and stops everything.
    """

    token: str
    """Unique to this context; programs put it in file names and argv so the host can find their traces."""
    limits: Limits
    marker_dir: Path
    """A host directory (outside any sandbox) holding ``secret.txt``; nothing may read or create files in it."""
    secret: str
    """Content of the secret files and value of the secret environment variable."""
    secret_env_name: str
    home_marker: Path
    """A file with the secret in the host user's home directory."""
    project_file: Path
    """A file of the project tree (this file)."""
    port: int
    """A TCP listener on the host (0.0.0.0, so every host address); it must accept nothing."""
    abstract_name: str
    """An abstract unix socket listening on the host; it must accept nothing."""
    host_pid: int
    """A host process (its argv holds ``host-sleeper-<token>``); it must survive and stay hidden."""
    host_ips: list[str]
    hostname: str
    connections: list[str] = dataclasses.field(default_factory=list)
    """Filled by the listeners: every connection a sandbox managed to make."""

    @property
    def watch_dirs(self) -> list[Path]:
        """Host directories where a ``pwned-<token>`` file would prove a write escaped."""
        return [self.marker_dir, Path.cwd(), Path.home(), PROJECT_ROOT, Path("/"), Path("/usr"), Path("/etc")]

    def render(self, code: str) -> str:
        """``code`` with ``$token``, ``$port``, ... replaced, after :data:`PRELUDE`."""
        values = {
            "token": self.token,
            "port": self.port,
            "abstract_name": self.abstract_name,
            "host_pid": self.host_pid,
            "marker_dir": self.marker_dir,
            "home": Path.home(),
            "home_marker": self.home_marker,
            "project_file": self.project_file,
            "project_root": PROJECT_ROOT,
            "host_cwd": Path.cwd(),
            "host_ips": repr(self.host_ips),
            "processes": self.limits.processes,
            **{f"nr_{name}": number for name, number in _syscall_numbers().items()},
        }
        return PRELUDE + string.Template(code).substitute(values)


@functools.cache
def _syscall_numbers() -> dict[str, int]:
    """This machine's number of every syscall the probes call, from libseccomp (never written by hand)."""
    from gym_reason.sandboxes.seccomp import syscall_number

    numbers = {probe.syscall: syscall_number(probe.syscall) for probe in SYSCALL_PROBES}
    missing = [name for name, number in numbers.items() if number < 0]
    assert not missing, f"libseccomp knows no number for {missing} on this machine"
    return numbers


def _host_ips() -> list[str]:
    """Addresses of this host's own interfaces (from the kernel's routing trie), loopback excluded."""
    ips: set[str] = set()
    with contextlib.suppress(OSError):
        lines = Path("/proc/net/fib_trie").read_text().splitlines()
        for previous, line in itertools.pairwise(lines):
            if "/32 host LOCAL" in line:
                ip = previous.split()[-1]
                if not ip.startswith("127."):
                    ips.add(ip)
    return sorted(ips)


def _accept_forever(server: socket.socket, sink: list[str], label: str) -> None:
    while True:
        try:
            conn, _ = server.accept()
        except OSError:  # closed by host_context on exit
            return
        sink.append(label)
        conn.close()


@contextlib.contextmanager
def host_context(limits: Limits = BATTERY_LIMITS) -> Iterator[HostContext]:
    """Set up the host-side targets (listeners, a sleeper process, secret files and env var) and tear them down."""
    token = uuid.uuid4().hex[:12]
    secret = f"gym-reason-secret-{uuid.uuid4().hex}"
    secret_env_name = f"GYM_REASON_BATTERY_SECRET_{token.upper()}"
    home_marker = Path.home() / f".gym-reason-battery-{token}"
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("0.0.0.0", 0))
    tcp.listen(16)
    abstract_name = f"gym-reason-battery-{token}"
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind("\0" + abstract_name)
    unix.listen(16)
    sleeper = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)", f"host-sleeper-{token}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with tempfile.TemporaryDirectory(prefix="gym-reason-battery-") as marker:
        marker_dir = Path(marker)
        (marker_dir / "secret.txt").write_text(secret)
        home_marker.write_text(secret)
        os.environ[secret_env_name] = secret
        ctx = HostContext(
            token=token,
            limits=limits,
            marker_dir=marker_dir,
            secret=secret,
            secret_env_name=secret_env_name,
            home_marker=home_marker,
            project_file=Path(__file__).resolve(),
            port=tcp.getsockname()[1],
            abstract_name=abstract_name,
            host_pid=sleeper.pid,
            host_ips=_host_ips(),
            hostname=socket.gethostname(),
        )
        for server, label in ((tcp, "tcp"), (unix, "unix")):
            threading.Thread(target=_accept_forever, args=(server, ctx.connections, label), daemon=True).start()
        try:
            yield ctx
        finally:
            os.environ.pop(secret_env_name, None)
            home_marker.unlink(missing_ok=True)
            sleeper.kill()
            sleeper.wait()
            for server in (tcp, unix):
                with contextlib.suppress(OSError):
                    server.shutdown(socket.SHUT_RDWR)
                server.close()


# --------------------------------------------------------------------------- checks


def _text(result: ExecResult) -> str:
    return result.stdout + "\n" + result.stderr


def _lines(result: ExecResult, kind: str) -> list[list[str]]:
    return [line.split() for line in result.stdout.splitlines() if line.startswith(kind + " ")]


def expect_contained(result: ExecResult, *labels: str) -> None:
    """Each label printed a ``CONTAINED`` line, and nothing printed ``ESCAPED``."""
    assert "ESCAPED" not in result.stdout, f"the program got out:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    contained = {words[1] for words in _lines(result, "CONTAINED") if len(words) > 1}
    missing = [label for label in labels if label not in contained]
    assert not missing, (
        f"no CONTAINED line for {missing} (the attempt did not run, or it succeeded):\n"
        f"stdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-2000:]}"
    )


def _host_sha(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()[: 1 << 20]).hexdigest()
    except OSError:
        return None


def _host_listing_sha(path: Path) -> str | None:
    try:
        return hashlib.sha256("\n".join(sorted(os.listdir(path))).encode()).hexdigest()
    except OSError:
        return None


def expect_not_host_data(result: ExecResult, reads: dict[str, Path], listings: dict[str, Path]) -> None:
    """Whatever the program read or listed under a label is not the host's file or directory of that path."""
    for words in _lines(result, "READ"):
        label, digest = words[1], words[2]
        if label in reads:
            assert digest != _host_sha(reads[label]), f"the sandbox read the host's {reads[label]}"
    for words in _lines(result, "LISTED"):
        label, digest = words[1], words[2]
        if label in listings:
            assert digest != _host_listing_sha(listings[label]), f"the sandbox listed the host's {listings[label]}"


def _escapees(token: str) -> list[str]:
    """Host processes whose argv carries ``escapee-<token>``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if f"escapee-{token}".encode() in cmdline:
            found.append(entry + ": " + cmdline.replace(b"\0", b" ").decode(errors="replace"))
    return found


def _host_pid_state(pid: int) -> str | None:
    """The state letter of host process ``pid`` (``None`` if gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def check_host_unaffected(ctx: HostContext) -> None:
    """The host is as the test left it: sleeper alive and running, no escaped process, no planted file,
    no connection accepted, secrets intact, hostname unchanged, and it can still start processes."""
    state = _host_pid_state(ctx.host_pid)
    assert state is not None and state not in "TtZX", f"the host process {ctx.host_pid} was hurt (state {state})"
    deadline = time.monotonic() + 5.0
    while (escaped := _escapees(ctx.token)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not escaped, f"processes outlived the sandbox: {escaped}"
    for folder in ctx.watch_dirs:
        with contextlib.suppress(OSError):
            planted = [name for name in os.listdir(folder) if ctx.token in name and "battery" not in name]
            assert not planted, f"the sandbox wrote {planted} into the host's {folder}"
    assert (ctx.marker_dir / "secret.txt").read_text() == ctx.secret
    assert sorted(os.listdir(ctx.marker_dir)) == ["secret.txt"], os.listdir(ctx.marker_dir)
    assert ctx.home_marker.read_text() == ctx.secret
    assert not ctx.connections, f"the sandbox connected to the host's listeners: {ctx.connections}"
    assert socket.gethostname() == ctx.hostname
    for _ in range(5):
        subprocess.run(["true"], check=True, timeout=10)


def check_next_run_clean(sandbox: Sandbox, ctx: HostContext) -> None:
    """A fresh program in the same sandbox object runs normally and sees no trace of the previous one."""
    result = sandbox.run(
        "import os\nprint(sorted(os.listdir('/tmp')))\nprint(os.getuid() != 0 and 'CLEAN')", timeout=20
    )
    assert result.ok, f"the sandbox is broken after the attack: {result}"
    assert "CLEAN" in result.stdout, result
    assert ctx.token not in result.stdout, f"traces of the previous program in /tmp: {result.stdout}"


# --------------------------------------------------------------------------- the battery


@dataclasses.dataclass(frozen=True)
class Hostile:
    """One hostile program and how to judge its containment."""

    name: str
    proves: str
    """What passing this entry shows about the sandbox."""
    code: str
    """The program (a template: ``$token``, ``$port``, ... see :meth:`HostContext.render`)."""
    check: Callable[[ExecResult, HostContext], None]
    timeout: float = 5.0
    runner: Callable[[Sandbox, HostContext, str], ExecResult] | None = None
    """A custom way to run it (``(sandbox, ctx, mode) -> result``), for attacks that need two programs."""


UNISOLATED_BACKENDS = {"local"}
"""Backends the battery refuses: their "hostile" programs would really run on the host (``kill(-1, SIGKILL)``
as root ends every process of the machine)."""


def refuse_unisolated(sandbox: Sandbox) -> None:
    """Raise before running a hostile program in a backend that isolates nothing."""
    if getattr(sandbox, "name", None) in UNISOLATED_BACKENDS:
        raise RuntimeError(
            f"refusing to run the hostile battery in the {sandbox.name!r} backend: it isolates nothing, so the "
            "programs (fork bombs, kill(-1, SIGKILL)) would hit the host itself"
        )


def run_once(sandbox: Sandbox, code: str, timeout: float, mode: str, **kwargs: object) -> ExecResult:
    """Run ``code`` as a fresh program (``mode="run"``) or in a new session that is closed afterwards."""
    if mode == "run":
        return sandbox.run(code, timeout, **kwargs)  # type: ignore[arg-type]
    with sandbox.session() as session:
        return session.run(code, timeout)


def run_hostile(hostile: Hostile, sandbox: Sandbox, ctx: HostContext, mode: str = "run") -> ExecResult:
    """Run one hostile program in ``sandbox`` (``mode`` ``run`` or ``session``) and assert that it was contained,
    that the host is unaffected and that the sandbox's next program starts clean."""
    refuse_unisolated(sandbox)
    if hostile.runner is not None:
        result = hostile.runner(sandbox, ctx, mode)
    else:
        result = run_once(sandbox, ctx.render(hostile.code), hostile.timeout, mode)
    assert result.wall_time < hostile.timeout + 10, f"the sandbox overran its timeout: {result}"
    hostile.check(result, ctx)
    check_host_unaffected(ctx)
    check_next_run_clean(sandbox, ctx)
    return result


def run_battery(
    sandbox_factory: Callable[[Limits], Sandbox], modes: tuple[str, ...] = ("run", "session")
) -> dict[str, str]:
    """Run every program of :data:`BATTERY` in every mode; returns ``{"name/mode": failure}`` (empty: all contained)."""
    failures: dict[str, str] = {}
    with host_context() as ctx, sandbox_factory(BATTERY_LIMITS) as sandbox:
        refuse_unisolated(sandbox)
        for hostile in BATTERY:
            for mode in modes:
                try:
                    run_hostile(hostile, sandbox, ctx, mode)
                except AssertionError as error:
                    failures[f"{hostile.name}/{mode}"] = str(error)
    return failures


# Checks of single entries ------------------------------------------------------------


def _check_connect(result: ExecResult, ctx: HostContext) -> None:
    expect_contained(result, "tcp-loopback")
    time.sleep(0.05)  # let the accept thread record a connection that did get through


def _check_outside(result: ExecResult, ctx: HostContext) -> None:
    expect_contained(result, "tcp-outside-1.1.1.1", "tcp-outside-8.8.8.8", *(f"tcp-host-{ip}" for ip in ctx.host_ips))


def _check_interfaces(result: ExecResult, ctx: HostContext) -> None:
    names = [words[1] for words in _lines(result, "IFACE")]
    assert names, result
    assert set(names) <= {"lo"}, f"network interfaces besides loopback: {names}"


def _check_reads(**paths: Callable[[HostContext], Path]) -> Callable[[ExecResult, HostContext], None]:
    def check(result: ExecResult, ctx: HostContext) -> None:
        resolved = {label: get(ctx) for label, get in paths.items()}
        assert _lines(result, "READ") or _lines(result, "CONTAINED"), result
        expect_not_host_data(result, resolved, resolved)
        assert ctx.secret not in _text(result)

    return check


def _check_shadow(result: ExecResult, ctx: HostContext) -> None:
    _check_reads(shadow=lambda _: Path("/etc/shadow"), gshadow=lambda _: Path("/etc/gshadow"))(result, ctx)
    # Even a container's own /etc/shadow must be unreadable by the non-root sandbox user.
    expect_contained(result, "shadow")


def _check_write(result: ExecResult, ctx: HostContext) -> None:
    expect_contained(result, "usr", "etc", "stdlib")


def _check_fork_bomb(result: ExecResult, ctx: HostContext) -> None:
    assert "BOMB" in result.stdout or result.timed_out or result.killed_by_limit, result


def _check_process_limit(result: ExecResult, ctx: HostContext) -> None:
    counts = [int(words[2]) for words in _lines(result, "CONTAINED") if words[1] == "processes"]
    assert counts, result
    assert counts[0] < ctx.limits.processes, f"started {counts[0]} processes, limit {ctx.limits.processes}"


def _check_thread_limit(result: ExecResult, ctx: HostContext) -> None:
    counts = [int(words[2]) for words in _lines(result, "CONTAINED") if words[1] == "threads"]
    assert counts or result.killed_by_limit, result
    if counts:
        assert counts[0] < ctx.limits.processes, f"started {counts[0]} threads, limit {ctx.limits.processes}"


def _check_memory(result: ExecResult, ctx: HostContext) -> None:
    megabytes = [int(words[2]) for words in _lines(result, "CONTAINED") if words[1] == "memory"]
    assert megabytes or result.killed_by_limit, result
    if megabytes:
        assert megabytes[0] <= ctx.limits.memory_mb, f"allocated {megabytes[0]} MB, limit {ctx.limits.memory_mb}"


def _check_memory_total(result: ExecResult, ctx: HostContext) -> None:
    totals = [int(words[2]) for words in _lines(result, "CONTAINED") if words[1] == "memory-total"]
    assert totals or result.killed_by_limit, result
    if totals:
        assert totals[0] <= ctx.limits.memory_mb, (
            f"forked processes held {totals[0]} MB between them, limit {ctx.limits.memory_mb} MB: memory is "
            "bounded per process only"
        )


def _check_cpu(result: ExecResult, ctx: HostContext) -> None:
    assert result.killed_by_limit or result.timed_out, result
    assert not result.ok


def _check_sleep(result: ExecResult, ctx: HostContext) -> None:
    assert result.timed_out and not result.ok, result
    assert 0.9 <= result.wall_time <= 1.0 + 2.0, f"wall time {result.wall_time:.2f}s for a 1 s timeout"


def _check_flood(result: ExecResult, ctx: HostContext) -> None:
    assert result.truncated, result.stdout[:200]
    assert len(result.stdout.encode()) <= ctx.limits.output_bytes
    assert len(result.stderr.encode()) <= ctx.limits.output_bytes


def _check_flood_forever(result: ExecResult, ctx: HostContext) -> None:
    _check_flood(result, ctx)
    # Stopped by the host's timeout, or first by the CPU limit (draining a flood costs CPU too).
    assert result.timed_out or result.killed_by_limit, result.stderr[-500:]


def _check_file_size(result: ExecResult, ctx: HostContext) -> None:
    written = [int(words[2]) for words in _lines(result, "CONTAINED") if words[1] == "file"]
    assert written or result.killed_by_limit, result
    if written:
        assert written[0] <= ctx.limits.file_size_mb << 20


def _check_fill_tmp(result: ExecResult, ctx: HostContext) -> None:
    written = [int(words[2]) for words in _lines(result, "CONTAINED") if words[1] == "tmp"]
    assert written or result.killed_by_limit, result
    if written:
        assert written[0] <= ctx.limits.tmp_mb << 20, f"wrote {written[0] >> 20} MB into /tmp"


def _check_open_files(result: ExecResult, ctx: HostContext) -> None:
    opened = [int(words[2]) for words in _lines(result, "CONTAINED") if words[1] == "files"]
    assert opened, result
    assert opened[0] <= ctx.limits.open_files


def _check_attempted(result: ExecResult, ctx: HostContext) -> None:
    assert "ATTEMPTED" in result.stdout, result


def _check_env(result: ExecResult, ctx: HostContext) -> None:
    assert "ENVIRON" in result.stdout, result
    assert ctx.secret not in _text(result), "the host's environment leaked into the sandbox"
    assert ctx.secret_env_name not in _text(result)


def _check_proc(result: ExecResult, ctx: HostContext) -> None:
    pids = [int(words[1]) for words in _lines(result, "PIDS")]
    assert pids, result
    assert pids[0] <= 10, f"the sandbox sees {pids[0]} processes"
    assert f"host-sleeper-{ctx.token}" not in _text(result), "the sandbox saw a host process"
    expect_contained(result, "host-pid-environ")


def _check_ptrace(result: ExecResult, ctx: HostContext) -> None:
    expect_contained(result, "ptrace", "proc-mem")


def _check_symlinks(result: ExecResult, ctx: HostContext) -> None:
    expect_contained(result, "link-usr", "link-host", "hardlink")
    reads = {"link-shadow": Path("/etc/shadow"), "link-secret": ctx.marker_dir / "secret.txt"}
    expect_not_host_data(result, reads, {"link-project": PROJECT_ROOT})
    assert ctx.secret not in _text(result)


def _check_identity(result: ExecResult, ctx: HostContext) -> None:
    expect_contained(result, "setuid", "setgid")
    ids = _lines(result, "IDS")
    assert ids and ids[0][1] != "0", f"runs as root inside: {ids}"
    assert ids[0][2] == "0000000000000000", f"has capabilities: {ids}"


def _check_kernel_knobs(result: ExecResult, ctx: HostContext) -> None:
    expect_contained(result, "sysrq", "core_pattern", "hostname")


def _check_devices(result: ExecResult, ctx: HostContext) -> None:
    expect_contained(result, "mem", "kmsg", "disk")


def _check_quick_exit(result: ExecResult, ctx: HostContext) -> None:
    assert "MAIN DONE" in result.stdout, result
    assert result.wall_time < 4.0, f"waited {result.wall_time:.1f}s for a background process that held the pipes"


def _check_userns(result: ExecResult, ctx: HostContext) -> None:
    expect_contained(result, "unshare-user")


# Custom runners -----------------------------------------------------------------------


def _synthetic(stdout: str, stderr: str = "") -> ExecResult:
    return ExecResult(stdout=stdout, stderr=stderr, exit_code=0, timed_out=False, killed_by_limit=False, wall_time=0.0)


def _run_other_sandbox_files(sandbox: Sandbox, ctx: HostContext, mode: str) -> ExecResult:
    """One program/session writes /tmp/secret-<token>; a concurrent session and a later run look for it."""
    write = f"open('/tmp/secret-{ctx.token}', 'w').write({ctx.secret!r})\nprint('WRITTEN')"
    look = ctx.render(
        "import os\n"
        "names = os.listdir('/tmp')\n"
        "print('TMP', names)\n"
        "probe_read('other-secret', '/tmp/secret-$token')\n"
        "hits = [n for n in os.listdir('/proc') if n.isdigit()]\n"
        "print('PROCS', len(hits))\n"
    )
    if mode == "session":
        with sandbox.session() as writer, sandbox.session() as reader:
            first = writer.run(write, 10)
            assert "WRITTEN" in first.stdout, first
            seen = reader.run(look, 10)
            again = writer.run(f"print(open('/tmp/secret-{ctx.token}').read() == {ctx.secret!r})", 10)
            assert "True" in again.stdout, f"a session lost its own /tmp between calls: {again}"
            return seen
    first = sandbox.run(write, 10)
    assert "WRITTEN" in first.stdout, first
    return sandbox.run(look, 10)


def _check_other_sandbox_files(result: ExecResult, ctx: HostContext) -> None:
    expect_contained(result, "other-secret")
    assert ctx.secret not in _text(result)


def _run_kill_everything(sandbox: Sandbox, ctx: HostContext, mode: str) -> ExecResult:
    """``kill(-1, SIGKILL)`` in one sandbox while another session of the same backend is alive."""
    with sandbox.session() as bystander:
        before = bystander.run("x = 41\nprint('ALIVE')", 10)
        assert "ALIVE" in before.stdout, before
        result = run_once(sandbox, ctx.render(_KILL_EVERYTHING), 5.0, mode)
        after = bystander.run("print('ALIVE', x + 1)", 10)
        assert "ALIVE 42" in after.stdout, f"another sandbox was killed (or restarted): {after}"
    return result


_KILL_EVERYTHING = """
import os, signal
print("ATTEMPTED", flush=True)
try:
    os.kill(-1, signal.SIGKILL)
except OSError as e:
    print("CONTAINED kill-all", type(e).__name__, flush=True)
print("SURVIVED", flush=True)
"""


def _run_files_traversal(sandbox: Sandbox, ctx: HostContext, mode: str) -> ExecResult:
    """``files`` whose names climb out of /tmp: rejected, or written inside the sandbox only."""
    names = [f"../../../{ctx.marker_dir}/pwned-{ctx.token}", f"{ctx.marker_dir}/pwned-{ctx.token}-abs"]
    outcomes = []
    for name in names:
        try:
            result = sandbox.run("print('RAN')", 10, files={name: "pwned"})
            outcomes.append(f"RAN {result.ok}")
        except ValueError as error:  # the backend refused the name: the right answer
            outcomes.append(f"REJECTED {error}")
    return _synthetic("\n".join(outcomes))


def _check_files_traversal(result: ExecResult, ctx: HostContext) -> None:
    assert result.stdout.count("\n") == 1, result
    assert list(ctx.marker_dir.iterdir()) == [ctx.marker_dir / "secret.txt"]


BATTERY: list[Hostile] = [
    Hostile(
        name="net_host_loopback",
        proves="no network path to the host's loopback: a TCP listener on the host's 127.0.0.1 is unreachable",
        code="""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(2)
try:
    s.connect(("127.0.0.1", $port))
    s.sendall(b"$token")
    print("ESCAPED tcp-loopback")
except OSError as e:
    print("CONTAINED tcp-loopback", type(e).__name__)
""",
        check=_check_connect,
    ),
    Hostile(
        name="net_outside",
        proves="no route out: public addresses and the host's own interface addresses are unreachable",
        code="""
import socket
targets = [("tcp-outside-1.1.1.1", "1.1.1.1", 443), ("tcp-outside-8.8.8.8", "8.8.8.8", 53)]
targets += [("tcp-host-" + ip, ip, $port) for ip in $host_ips]
for label, ip, port in targets:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect((ip, port))
        print("ESCAPED", label)
    except OSError as e:
        print("CONTAINED", label, type(e).__name__)
    s.close()
""",
        check=_check_outside,
        timeout=10.0,
    ),
    Hostile(
        name="dns",
        proves="no name resolution (no resolver reachable, no host /etc/resolv.conf to follow)",
        code="""
import socket
for name in ["example.com", "pypi.org"]:
    try:
        print("ESCAPED dns", socket.getaddrinfo(name, 443)[0][4])
    except OSError as e:
        print("CONTAINED dns-" + name, type(e).__name__)
""",
        check=lambda result, ctx: expect_contained(result, "dns-example.com", "dns-pypi.org"),
        timeout=10.0,
    ),
    Hostile(
        name="net_interfaces",
        proves="the sandbox's network namespace has only a loopback interface",
        code="""
import socket
for index, name in socket.if_nameindex():
    print("IFACE", name)
""",
        check=_check_interfaces,
    ),
    Hostile(
        name="abstract_unix_socket",
        proves="abstract unix sockets of the host (no file, only a network-namespace name) are unreachable",
        code="""
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect("\\0$abstract_name")
    print("ESCAPED unix")
except OSError as e:
    print("CONTAINED unix", type(e).__name__)
""",
        check=lambda result, ctx: expect_contained(result, "unix"),
    ),
    Hostile(
        name="read_etc_shadow",
        proves="the host's password hashes are unreadable (and a container's own are unreadable to the sandbox user)",
        code="""
probe_read("shadow", "/etc/shadow")
probe_read("gshadow", "/etc/gshadow")
""",
        check=_check_shadow,
    ),
    Hostile(
        name="read_project_tree",
        proves="the project tree (source, configs, checkpoints) is neither readable nor listable",
        code="""
probe_read("project-file", "$project_file")
probe_list("project-root", "$project_root")
probe_list("host-cwd", "$host_cwd")
""",
        check=_check_reads(
            **{
                "project-file": lambda ctx: ctx.project_file,
                "project-root": lambda ctx: PROJECT_ROOT,
                "host-cwd": lambda ctx: Path.cwd(),
            }
        ),
    ),
    Hostile(
        name="read_home",
        proves="the host user's home directory (keys, tokens, shell history) is neither readable nor listable",
        code="""
probe_read("home-marker", "$home_marker")
probe_list("home", "$home")
probe_read("ssh-key", "$home/.ssh/id_rsa")
""",
        check=_check_reads(
            **{
                "home-marker": lambda ctx: ctx.home_marker,
                "home": lambda ctx: Path.home(),
                "ssh-key": lambda ctx: Path.home() / ".ssh/id_rsa",
            }
        ),
    ),
    Hostile(
        name="read_host_tmp",
        proves="the host's /tmp (other programs' temporary files) is neither readable nor listable",
        code="""
probe_read("marker-secret", "$marker_dir/secret.txt")
probe_list("marker-dir", "$marker_dir")
""",
        check=_check_reads(
            **{"marker-secret": lambda ctx: ctx.marker_dir / "secret.txt", "marker-dir": lambda ctx: ctx.marker_dir}
        ),
    ),
    Hostile(
        name="write_outside_tmp",
        proves="the system is read-only and host directories (cwd, home, project, host /tmp) cannot be written",
        code="""
import sysconfig
probe_write("usr", "/usr/pwned-$token")
probe_write("etc", "/etc/pwned-$token")
probe_write("stdlib", sysconfig.get_paths()["stdlib"] + "/sitecustomize.py")
probe_write("root", "/pwned-$token")
probe_write("host-cwd", "$host_cwd/pwned-$token")
probe_write("home", "$home/pwned-$token")
probe_write("project", "$project_root/pwned-$token")
probe_write("host-tmp", "$marker_dir/pwned-$token")
""",
        check=_check_write,
    ),
    Hostile(
        name="fork_bomb",
        proves="a classic fork bomb is bounded by the process limit, ends, and leaves the host able to fork",
        code="""
import os, time
first = os.getpid()
start = time.time()
while time.time() - start < 1.5:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
if os.getpid() == first:
    print("BOMB done", flush=True)
else:
    os._exit(0)
""",
        check=_check_fork_bomb,
        timeout=10.0,
    ),
    Hostile(
        name="process_limit",
        proves="the process limit holds: forking stops below Limits.processes",
        code="""
import os, time
children = 0
while children < 10 * $processes:
    try:
        pid = os.fork()
    except OSError as e:
        print("CONTAINED processes", children, type(e).__name__, flush=True)
        break
    if pid == 0:
        time.sleep(5)
        os._exit(0)
    children += 1
else:
    print("ESCAPED processes", children, flush=True)
""",
        check=_check_process_limit,
        timeout=10.0,
    ),
    Hostile(
        name="thread_limit",
        proves="threads count against the process limit too",
        code="""
import threading, time
threads = 0
while threads < 10 * $processes:
    try:
        threading.Thread(target=time.sleep, args=(5,), daemon=True).start()
    except (RuntimeError, MemoryError, OSError) as e:
        print("CONTAINED threads", threads, type(e).__name__, flush=True)
        break
    threads += 1
else:
    print("ESCAPED threads", threads, flush=True)
""",
        check=_check_thread_limit,
        timeout=10.0,
    ),
    Hostile(
        name="memory_bomb",
        proves="memory is capped: allocation fails (or the program is killed) at Limits.memory_mb",
        code="""
chunks = []
try:
    while len(chunks) < 4096:
        chunks.append(bytearray(b"x") * (16 << 20))
    print("ESCAPED memory", len(chunks) * 16)
except MemoryError:
    n = len(chunks)
    chunks.clear()
    print("CONTAINED memory", n * 16, flush=True)
""",
        check=_check_memory,
        timeout=15.0,
    ),
    Hostile(
        name="memory_bomb_forked",
        proves="memory is capped for the sandbox as a whole: 8 forked processes of 96 MB each (each under the "
        "per-process limit) cannot hold more than Limits.memory_mb between them",
        code="""
import os, select, signal, time
per, n = 96, 8
r, w = os.pipe()
for i in range(n):
    if os.fork() == 0:
        os.close(r)
        try:
            block = bytearray(b"x") * (per << 20)  # written, so really resident
            os.write(w, b"%d %d\\n" % (os.getpid(), per))
        except MemoryError:
            pass
        time.sleep(4)
        os._exit(0)
os.close(w)
reports, deadline = b"", time.time() + 2.5
while time.time() < deadline and reports.count(b"\\n") < n:
    if select.select([r], [], [], 0.1)[0]:
        chunk = os.read(r, 1024)
        if not chunk:
            break
        reports += chunk
time.sleep(0.3)  # let a late OOM kill land
held = {}
for line in reports.splitlines():
    pid, mb = map(int, line.split())
    if os.waitpid(pid, os.WNOHANG) == (0, 0):  # still alive, still holding its block
        held[pid] = mb
print("CONTAINED memory-total", sum(held.values()), len(held), "of", n, flush=True)
for pid in held:
    os.kill(pid, signal.SIGKILL)
""",
        check=_check_memory_total,
        timeout=15.0,
    ),
    Hostile(
        name="cpu_spin",
        proves="a busy loop is stopped by the CPU-time limit or the wall-clock timeout",
        code="""
while True:
    pass
""",
        check=_check_cpu,
        timeout=4.0,
    ),
    Hostile(
        name="sleep_past_timeout",
        proves="the wall-clock timeout is enforced from the host (signals ignored inside), close to the requested time",
        code="""
import signal, time
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, signal.SIG_IGN)
time.sleep(60)
""",
        check=_check_sleep,
        timeout=1.0,
    ),
    Hostile(
        name="close_pipes_and_hang",
        proves="closing stdout/stderr does not fool the host into waiting forever",
        code="""
import os, time
os.close(0); os.close(1); os.close(2)
time.sleep(60)
""",
        check=_check_sleep,
        timeout=1.0,
    ),
    Hostile(
        name="pipe_holder_after_exit",
        proves="when the program exits, a background child that still holds its stdout dies with it",
        code="""
import os, time
if os.fork() == 0:
    os.setsid()
    time.sleep(60)
    os._exit(0)
print("MAIN DONE", flush=True)
""",
        check=_check_quick_exit,
        timeout=8.0,
    ),
    Hostile(
        name="output_flood",
        proves="64 MB on stdout and 16 MB on stderr are read and dropped: capture stays bounded, nothing hangs",
        code="""
import os
chunk = b"A" * 65536
for _ in range(1024):
    os.write(1, chunk)
for _ in range(256):
    os.write(2, chunk)
""",
        check=_check_flood,
        timeout=20.0,
    ),
    Hostile(
        name="output_flood_forever",
        proves="an endless flood is cut at the timeout with bounded capture",
        code="""
import os
chunk = b"B" * 65536
while True:
    os.write(1, chunk)
    os.write(2, chunk)
""",
        check=_check_flood_forever,
        timeout=1.5,
    ),
    Hostile(
        name="huge_file",
        proves="a single file cannot grow past Limits.file_size_mb",
        code="""
import signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
written = 0
chunk = b"\\0" * (1 << 20)
try:
    with open("/tmp/big-$token", "wb", buffering=0) as f:
        while written < (1 << 30):
            written += f.write(chunk)
    print("ESCAPED file", written)
except OSError as e:
    print("CONTAINED file", written, type(e).__name__, flush=True)
""",
        check=_check_file_size,
        timeout=10.0,
    ),
    Hostile(
        name="fill_tmp",
        proves="many files each under the size limit cannot fill the host's memory or disk through /tmp",
        code="""
import signal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
written = 0
chunk = b"\\1" * (1 << 20)
try:
    for i in range(1024):
        with open(f"/tmp/fill-$token-{i}", "wb", buffering=0) as f:
            for _ in range(2):
                written += f.write(chunk)
    print("ESCAPED tmp", written)
except OSError as e:
    print("CONTAINED tmp", written, type(e).__name__, flush=True)
""",
        check=_check_fill_tmp,
        timeout=10.0,
    ),
    Hostile(
        name="open_files",
        proves="open file descriptors are capped at Limits.open_files",
        code="""
handles = []
try:
    while len(handles) < 100000:
        handles.append(open("/dev/null"))
    print("ESCAPED files", len(handles))
except OSError as e:
    n = len(handles)
    for h in handles:
        h.close()
    print("CONTAINED files", n, type(e).__name__)
""",
        check=_check_open_files,
    ),
    Hostile(
        name="outlive_sandbox",
        proves="a double-forked, setsid'd daemon dies with the sandbox (no process with its marker on the host after)",
        code="""
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", "escapee-$token"])
    os._exit(0)
time.sleep(0.3)
print("ATTEMPTED", flush=True)
""",
        check=_check_attempted,
    ),
    Hostile(
        name="kill_host_process",
        proves="a host process (pid known to the program) cannot be signalled",
        code="""
import os, signal
print("ATTEMPTED", flush=True)
for sig in (signal.SIGSTOP, signal.SIGKILL):
    try:
        os.kill($host_pid, sig)
        print("SIGNALLED a process with the host pid (inside the sandbox's own pid space)", flush=True)
    except OSError as e:
        print("CONTAINED kill", type(e).__name__, flush=True)
""",
        check=_check_attempted,
    ),
    Hostile(
        name="kill_everything",
        proves="kill(-1, SIGKILL) reaches only the sandbox's own processes: the host and other sandboxes survive",
        code=_KILL_EVERYTHING,
        check=_check_attempted,
        runner=_run_kill_everything,
    ),
    Hostile(
        name="other_sandbox_files",
        proves="a second sandbox (concurrent session, or the next fresh run) cannot see the first one's /tmp",
        code="",
        check=_check_other_sandbox_files,
        runner=_run_other_sandbox_files,
    ),
    Hostile(
        name="env_leak",
        proves="the host's environment (API keys, tokens) is absent, also from every visible /proc/*/environ",
        code="""
import os
print("ENVIRON", dict(os.environ))
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            print("PROC-ENVIRON", pid, open(f"/proc/{pid}/environ", "rb").read())
        except OSError as e:
            print("UNREADABLE", pid, type(e).__name__)
""",
        check=_check_env,
    ),
    Hostile(
        name="proc_snooping",
        proves="/proc shows only the sandbox's own processes; host processes and their environment are invisible",
        code="""
import os
pids = [p for p in os.listdir("/proc") if p.isdigit()]
print("PIDS", len(pids))
for pid in pids:
    try:
        print("CMDLINE", pid, open(f"/proc/{pid}/cmdline", "rb").read()[:300])
    except OSError:
        pass
probe_read("host-pid-environ", "/proc/$host_pid/environ")
""",
        check=_check_proc,
    ),
    Hostile(
        name="ptrace_host",
        proves="a host process cannot be traced or have its memory read",
        code="""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
PTRACE_ATTACH = 16
if libc.ptrace(PTRACE_ATTACH, $host_pid, None, None) == 0:
    print("ESCAPED ptrace")
else:
    print("CONTAINED ptrace", os.strerror(ctypes.get_errno()))
probe_read("proc-mem", "/proc/$host_pid/mem")
""",
        check=_check_ptrace,
    ),
    Hostile(
        name="symlink_escape",
        proves="symlinks and hard links from /tmp lead nowhere on the host: reads find nothing, writes fail",
        code="""
import os
os.symlink("/etc/shadow", "/tmp/link-shadow-$token")
probe_read("link-shadow", "/tmp/link-shadow-$token")
os.symlink("$marker_dir/secret.txt", "/tmp/link-secret-$token")
probe_read("link-secret", "/tmp/link-secret-$token")
os.symlink("$project_root", "/tmp/link-project-$token")
probe_list("link-project", "/tmp/link-project-$token")
os.symlink("/usr/lib/pwned-$token", "/tmp/link-usr-$token")
probe_write("link-usr", "/tmp/link-usr-$token")
os.symlink("$marker_dir/pwned-$token", "/tmp/link-host-$token")
probe_write("link-host", "/tmp/link-host-$token")
try:
    os.link("/usr/bin/env", "/tmp/hard-$token")
    print("ESCAPED hardlink")
except OSError as e:
    print("CONTAINED hardlink", type(e).__name__)
""",
        check=_check_symlinks,
    ),
    Hostile(
        name="files_path_traversal",
        proves="names in `files` cannot climb out of /tmp onto the host (rejected with ValueError, or kept inside)",
        code="",
        check=_check_files_traversal,
        runner=_run_files_traversal,
    ),
    Hostile(
        name="identity",
        proves="the program is not root and has no capabilities; it cannot become root",
        code="""
import os
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print("IDS", os.getuid(), status["CapEff"].strip())
for label, call in (("setuid", os.setuid), ("setgid", os.setgid)):
    try:
        call(0)
        print("ESCAPED", label)
    except OSError as e:
        print("CONTAINED", label, type(e).__name__)
""",
        check=_check_identity,
    ),
    Hostile(
        name="kernel_knobs",
        proves="kernel controls are out of reach: sysrq, core_pattern, hostname",
        code="""
import socket
probe_write("sysrq", "/proc/sysrq-trigger")
probe_write("core_pattern", "/proc/sys/kernel/core_pattern")
try:
    socket.sethostname("pwned-$token")
    print("SET hostname (in the sandbox's own uts namespace)")
except OSError as e:
    print("CONTAINED hostname", type(e).__name__)
""",
        check=_check_kernel_knobs,
    ),
    Hostile(
        name="raw_devices",
        proves="host devices (memory, kernel log, disks) are absent",
        code="""
import os
probe_read("mem", "/dev/mem")
probe_read("kmsg", "/dev/kmsg")
disks = [d for d in ("sda", "vda", "xvda", "nvme0n1") if os.path.exists("/dev/" + d)]
if disks:
    for d in disks:
        probe_read("disk", "/dev/" + d)
else:
    print("CONTAINED disk none")
""",
        check=_check_devices,
    ),
    Hostile(
        name="nested_user_namespace",
        proves="no new user namespaces inside (the door to most unprivileged kernel exploits)",
        code="""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER = 0x10000000
if libc.unshare(CLONE_NEWUSER) == 0:
    print("ESCAPED unshare-user")
else:
    print("CONTAINED unshare-user", os.strerror(ctypes.get_errno()))
""",
        check=_check_userns,
    ),
]


@dataclasses.dataclass(frozen=True)
class SyscallProbe:
    """A raw syscall that the seccomp filter refuses (see ``gym_reason.sandboxes.seccomp.DENIED``)."""

    label: str
    syscall: str
    args: str
    """Python source of the arguments after the syscall number (``ctypes`` and ``os`` are in scope)."""
    without_filter: str
    """What the kernel answers when no filter stands in the way (on the bwrap backend without it)."""
    errno: str = "EPERM"
    capability_bound: bool = False
    """Refused with EPERM by a missing capability even without the filter (defence in depth: the filter
    stops the call before the kernel parses it), so its probe cannot tell the filter's refusal apart."""

    @property
    def code(self) -> str:
        child = ", child_exits=True" if self.syscall == "clone" else ""
        return f"import ctypes, os\nprobe_syscall({self.label!r}, $nr_{self.syscall}, {self.args}{child})\n"


SYSCALL_PROBES: list[SyscallProbe] = [
    # The six of issue 19's table.
    SyscallProbe("io_uring_setup", "io_uring_setup", "1, ctypes.create_string_buffer(120)", "an io_uring fd"),
    SyscallProbe("keyctl", "keyctl", "0, -3, 1", "the session keyring's id (KEYCTL_GET_KEYRING_ID)"),
    SyscallProbe("add_key", "add_key", 'b"user", b"gym-reason-probe", b"x", 1, -3', "a key in the session keyring"),
    SyscallProbe("bpf", "bpf", "0xFFFF, None, 0", "EINVAL (an unknown command, parsed by the kernel)"),
    SyscallProbe(
        "perf_event_open", "perf_event_open", "ctypes.create_string_buffer(128), 0, -1, -1, 0", "EACCES or a perf fd"
    ),
    SyscallProbe(
        "userfaultfd", "userfaultfd", "0o2000000 | 1", "a userfaultfd (UFFD_USER_MODE_ONLY needs no privilege)"
    ),
    # More of the filtered families.
    SyscallProbe("io_uring_enter", "io_uring_enter", "-1, 0, 0, 0, None, 0", "EBADF"),
    SyscallProbe("io_uring_register", "io_uring_register", "-1, 0, None, 0", "EBADF"),
    SyscallProbe("request_key", "request_key", 'b"user", b"gym-reason-nonexistent", None, 0', "ENOKEY"),
    SyscallProbe("ptrace", "ptrace", "2, 999999, 0, 0", "ESRCH (PTRACE_PEEKDATA of no such process)"),
    SyscallProbe("process_vm_readv", "process_vm_readv", "os.getpid(), None, 0, None, 0, 1", "EINVAL (bad flags)"),
    SyscallProbe("pidfd_getfd", "pidfd_getfd", "-1, 0, 0", "EBADF"),
    SyscallProbe(
        "unshare_user", "unshare", "0x10000000", "ENOSPC on bwrap (--disable-userns), EPERM on docker (its profile)"
    ),
    SyscallProbe("setns", "setns", "-1, 0", "EBADF"),
    SyscallProbe("clone_newuser", "clone", "0x10000000 | 17, 0, 0, 0, 0", "ENOSPC on bwrap (--disable-userns)"),
    SyscallProbe("clone3", "clone3", "None, 0", "EINVAL", errno="ENOSYS"),
    SyscallProbe("umount2", "umount2", 'b"/tmp", 0x80000000', "EINVAL (unknown flag)"),
    SyscallProbe("open_tree", "open_tree", '-100, b"/tmp", 0', "an O_PATH fd of /tmp"),
    SyscallProbe("mount_setattr", "mount_setattr", '-1, b"", 0xFFFFFFFF, None, 0', "EINVAL"),
    SyscallProbe("personality", "personality", "0x0040000", "the old persona (ADDR_NO_RANDOMIZE set)"),
    SyscallProbe("clock_settime", "clock_settime", "0, None", "EFAULT (the new time is read after the checks)"),
    SyscallProbe("adjtimex", "adjtimex", "ctypes.create_string_buffer(256)", "the clock state (a read)"),
    SyscallProbe("socket_vsock", "socket", "40, 1, 0", "a vsock socket, or EAFNOSUPPORT without vsock"),
    # Refused by missing capabilities anyway: the filter is a second wall.
    SyscallProbe("socket_packet", "socket", "17, 3, 0", "EPERM (no CAP_NET_RAW)", capability_bound=True),
    SyscallProbe("socket_raw_inet", "socket", "2, 3, 1", "EPERM (no CAP_NET_RAW)", capability_bound=True),
    SyscallProbe(
        "mount", "mount", 'b"none", b"/tmp", b"tmpfs", 0, None', "EPERM (no CAP_SYS_ADMIN)", capability_bound=True
    ),
    SyscallProbe("fsopen", "fsopen", 'b"tmpfs", 0', "EPERM (no CAP_SYS_ADMIN)", capability_bound=True),
    SyscallProbe("settimeofday", "settimeofday", "None, None", "EPERM (no CAP_SYS_TIME)", capability_bound=True),
    SyscallProbe(
        "init_module",
        "init_module",
        'None, 0, b""',
        "EPERM (no CAP_SYS_MODULE), ENOSYS without module support",
        capability_bound=True,
    ),
    SyscallProbe(
        "kexec_load",
        "kexec_load",
        "0, 0, None, 0",
        "EPERM (no CAP_SYS_BOOT), ENOSYS without kexec support",
        capability_bound=True,
    ),
]
"""One battery entry each (``syscall_<label>``): the filtered families' syscalls, called raw through ``ctypes``."""


def _check_syscall(probe: SyscallProbe) -> Callable[[ExecResult, HostContext], None]:
    def check(result: ExecResult, ctx: HostContext) -> None:
        expect_contained(result, probe.label)
        answers = [words[2] for words in _lines(result, "CONTAINED") if words[1] == probe.label]
        assert answers == [probe.errno], f"{probe.syscall} was refused with {answers}, expected {probe.errno}"

    return check


def _check_other_abi(result: ExecResult, ctx: HostContext) -> None:
    # Killed by SIGSYS (the filter's answer to a foreign ABI), or refused by a kernel without x32.
    if result.exit_code != -31:  # SIGSYS
        expect_contained(result, "x32-keyctl")


BATTERY.append(
    Hostile(
        name="syscall_other_abi",
        proves="the filter cannot be bypassed through another ABI: x32's keyctl on x86_64 kills the process "
        "(SIGSYS) instead of reaching the kernel",
        code="""
import ctypes, os, platform
if platform.machine() != "x86_64":
    print("CONTAINED x32-keyctl not-x86_64", flush=True)
else:
    probe_syscall("x32-keyctl", 0x40000000 | $nr_keyctl, 0, -3, 1)
""",
        check=_check_other_abi,
    )
)
BATTERY += [
    Hostile(
        name=f"syscall_{probe.label}",
        proves=f"the seccomp filter refuses {probe.syscall} with {probe.errno} (without it: {probe.without_filter})",
        code=probe.code,
        check=_check_syscall(probe),
    )
    for probe in SYSCALL_PROBES
]

assert len({h.name for h in BATTERY}) == len(BATTERY), "battery names must be unique"

__all__ = [
    "BATTERY",
    "BATTERY_LIMITS",
    "SYSCALL_PROBES",
    "HostContext",
    "Hostile",
    "SyscallProbe",
    "check_host_unaffected",
    "check_next_run_clean",
    "expect_contained",
    "host_context",
    "run_battery",
    "run_hostile",
]


def kill_everything_spares_the_supervisor(sandbox: Sandbox) -> None:
    """``kill(-1, SIGKILL)`` inside reaches neither the sandbox's pid-1 supervisor nor the caller: a session keeps
    its state without a restart, and a one-shot program still gets its own exact status (137, not -9)."""
    kill_all = (
        "import os, signal, subprocess\nchild = subprocess.Popen(['sleep', '30'])\n"
        "os.kill(-1, signal.SIGKILL)\nprint('SURVIVED', child.wait(), flush=True)\n"
    )
    with sandbox.session() as session:
        session.run("x = 41")
        result = session.run(kill_all)
        assert result.stdout == "SURVIVED -9\n" and session.restarts == 0, result
        assert session.run("print(x + 1)").stdout == "42\n"
    result = sandbox.run(kill_all + "os._exit(137)")
    assert (result.stdout, result.exit_code) == ("SURVIVED -9\n", 137), result
