"""Memory bounded as a whole: a memory cgroup per sandboxed program or session (the bwrap backend).

Rlimits bound each process (``RLIMIT_AS``), so without a cgroup ``Limits.processes`` forks could
hold ``processes × memory_mb`` between them. A cgroup charges every page of the sandbox (its
processes and what they write into its tmpfs ``/tmp`` and ``/dev/shm``) to one account capped at
``Limits.memory_mb``; going over gets a process of the sandbox killed by the kernel's OOM killer,
which the result reports (``killed_by_limit``).

Where: a child of this process's own cgroup, so the sandbox also stays inside whatever bounds the
caller itself. cgroup v2 is used where the machine has it with the memory controller available to
this process's cgroup (enabled in its ``cgroup.subtree_control``, or enabled now); else the cgroup v1
memory hierarchy (hybrid and legacy systems). Making cgroups needs write access to them: root, or a
delegated subtree (``systemd-run --user --scope -p Delegate=yes``).

Cost: moving a process into a cgroup waits for an RCU grace period in the kernel (``cgroup.procs``
writes take a per-cpu rwsem for writing) unless the hierarchy is mounted with ``favordynmods``: about
8-15 ms of each bwrap cold start on the machine this was measured on, once per session start.

Where neither is available (no permission, no memory controller) there is no cgroup, and the bound
is per process only: :func:`detect` says why, and the bwrap backend warns when it is made and
reports it in ``BwrapSandbox.info`` (it never pretends).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import os
import signal
import time
from pathlib import Path

from gym_reason.sandboxes.process import pid_alive

_PREFIX = "gym-reason-"
_counter = itertools.count()


@dataclasses.dataclass(frozen=True)
class MemoryBound:
    """How sandboxes bound memory here: ``version`` 2 or 1 (a cgroup per sandbox under ``parent``), or
    ``None`` (no cgroup: per-process rlimits only; ``reason`` says why)."""

    version: int | None
    parent: Path | None
    reason: str

    def describe(self) -> str:
        if self.version is None:
            return f"per process only (RLIMIT_AS; no memory cgroup: {self.reason})"
        return f"as a whole, by a cgroup v{self.version} per sandbox under {self.parent}"


def _mounts() -> list[tuple[str, str, str, str]]:
    """(root, mount point, fs type, super options) of every cgroup mount."""
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            dash = fields.index("-")
            fstype, options = fields[dash + 1], fields[dash + 3] if len(fields) > dash + 3 else ""
            if fstype in ("cgroup", "cgroup2"):
                found.append((fields[3], fields[4].replace("\\040", " "), fstype, options))
    return found


def _own_paths() -> dict[str, str]:
    """Controller list ("" for v2) -> this process's cgroup path in that hierarchy."""
    paths = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            paths[controllers] = path
    return paths


def _join(mount_root: str, mount_point: str, path: str) -> Path | None:
    root = mount_root.rstrip("/")
    if root and not (path == root or path.startswith(root + "/")):
        return None  # our cgroup is not below this mount's root
    return Path(mount_point + path[len(root) :])


def _v2_parent() -> tuple[Path | None, str]:
    own = _own_paths().get("")
    mounts = [m for m in _mounts() if m[2] == "cgroup2"]
    if own is None or not mounts:
        return None, "no cgroup v2 hierarchy"
    parent = _join(mounts[0][0], mounts[0][1], own)
    if parent is None:
        return None, "this process's cgroup v2 is outside the mounted hierarchy"
    controllers = (parent / "cgroup.controllers").read_text().split() if parent.exists() else []
    if "memory" not in controllers:
        return None, f"the cgroup v2 memory controller is not available in {parent}"
    subtree = parent / "cgroup.subtree_control"
    if "memory" not in subtree.read_text().split():
        try:
            subtree.write_text("+memory")
        except OSError as error:  # EBUSY: processes live in our cgroup (no-internal-processes rule); EACCES
            return None, f"cannot enable the memory controller for children of {parent} ({error.strerror})"
    return parent, ""


def _v1_parent() -> tuple[Path | None, str]:
    own = next((path for ctrl, path in _own_paths().items() if "memory" in ctrl.split(",")), None)
    mount = next((m for m in _mounts() if m[2] == "cgroup" and "memory" in m[3].split(",")), None)
    if own is None or mount is None:
        return None, "no cgroup v1 memory hierarchy"
    parent = _join(mount[0], mount[1], own)
    if parent is None:
        return None, "this process's memory cgroup is outside the mounted hierarchy"
    return parent, ""


@functools.cache
def detect() -> MemoryBound:
    """Which cgroup sandboxes get here (checked once, by making and removing a cgroup)."""
    reasons = []
    for version, find in ((2, _v2_parent), (1, _v1_parent)):
        try:
            parent, why = find()
        except OSError as error:
            parent, why = None, f"cgroup v{version}: {error}"
        if parent is None:
            reasons.append(why)
            continue
        _remove_stale(parent)
        try:
            probe = MemoryCgroup(MemoryBound(version, parent, ""), 64 << 20)
        except OSError as error:
            reasons.append(f"cannot make a cgroup v{version} under {parent} ({error.strerror or error})")
            continue
        probe.close()
        return MemoryBound(version, parent, "")
    return MemoryBound(None, None, "; ".join(reasons))


def _remove_stale(parent: Path) -> None:
    """Remove cgroups that processes killed before their clean-up left (their owner pid is gone)."""
    with contextlib.suppress(OSError):
        for child in parent.iterdir():
            owner = child.name[len(_PREFIX) :].split("-")[0]
            if child.name.startswith(_PREFIX) and owner.isdigit() and not pid_alive(int(owner)):
                with contextlib.suppress(OSError):
                    child.rmdir()


class MemoryCgroup:
    """One cgroup capped at ``limit_bytes`` (no swap). Processes join it by writing to :attr:`procs_fd`
    (see :meth:`join`); :meth:`close` kills what is left in it and removes it."""

    def __init__(self, bound: MemoryBound, limit_bytes: int) -> None:
        assert bound.version is not None and bound.parent is not None
        self.version = bound.version
        self.path = bound.parent / f"{_PREFIX}{os.getpid()}-{next(_counter)}"
        self.path.mkdir()
        self.procs_fd = self._events_fd = -1
        try:
            if self.version == 2:
                (self.path / "memory.max").write_text(str(limit_bytes))
                with contextlib.suppress(FileNotFoundError):  # no swap accounting: no swap to bound
                    (self.path / "memory.swap.max").write_text("0")
            else:
                (self.path / "memory.limit_in_bytes").write_text(str(limit_bytes))
                with contextlib.suppress(FileNotFoundError):
                    (self.path / "memory.memsw.limit_in_bytes").write_text(str(limit_bytes))
            # Opened here, by this process: the kernel checks the opener's credentials, so a child that
            # has already dropped to the sandbox uid can still move itself in through this fd.
            self.procs_fd = os.open(self.path / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC)
            events = "memory.events" if self.version == 2 else "memory.oom_control"
            self._events_fd = os.open(self.path / events, os.O_RDONLY | os.O_CLOEXEC)  # read after every call
        except BaseException:
            self.close()
            raise

    def join(self) -> None:
        """Move the calling process into the cgroup (a ``preexec_fn``: it runs in the child before exec)."""
        os.write(self.procs_fd, b"0")

    def oom_kills(self) -> int:
        """How many processes the OOM killer killed in this cgroup so far (0 once it is closed)."""
        with contextlib.suppress(OSError, ValueError):
            for line in os.pread(self._events_fd, 4096, 0).splitlines():
                key, _, value = line.partition(b" ")
                if key == b"oom_kill":
                    return int(value)
        return 0

    def close(self) -> None:
        """Kill every process left in the cgroup and remove it. Idempotent; a cgroup that cannot be
        removed now is left for :func:`detect` of a later process to remove."""
        for fd in (self.procs_fd, self._events_fd):
            if fd >= 0:
                os.close(fd)
        self.procs_fd = self._events_fd = -1
        if not self.path.exists():
            return
        deadline = time.monotonic() + 2.0
        while True:
            self._kill_all()
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:  # EBUSY: killed processes are still exiting
                if time.monotonic() > deadline:
                    return
                time.sleep(0.005)

    def _kill_all(self) -> None:
        if self.version == 2:
            with contextlib.suppress(OSError):
                (self.path / "cgroup.kill").write_text("1")
                return
        with contextlib.suppress(OSError):
            for pid in (self.path / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)
