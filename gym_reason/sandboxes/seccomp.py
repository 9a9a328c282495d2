"""The seccomp filter of the sandboxes: the kernel interfaces that untrusted code never needs, refused.

One filter, :data:`DENIED`, modelled on Docker's default profile. It is a deny-list on top of
an allow-all default, built with libseccomp (through the ``pyseccomp`` ctypes binding, over the
system's ``libseccomp.so.2``) for the machine's architecture (x86_64 or aarch64; syscall numbers
come from libseccomp, never from this file), and exported as the raw BPF program that both
``bwrap --seccomp FD`` and ``seccomp(SECCOMP_SET_MODE_FILTER)`` take:

* the **bwrap** backend hands it to bubblewrap, which loads it just before it starts the program;
* the **docker** backend sends it with each program, and the in-container bootstrap loads it on top
  of Docker's own default profile (seccomp filters stack: the stricter answer wins), because
  Docker's profile varies by version (io_uring, for one, is allowed before Docker 25).

A refused call returns ``EPERM`` (``ENOSYS`` for ``clone3``, as in Docker: the C library then falls
back to ``clone``, whose flags the filter can inspect). A syscall of another ABI (32-bit ``int 0x80``
on x86_64, x32) kills the process (``SIGSYS``): nothing in the sandbox uses them.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import io
import os
import platform
from typing import Any

from gym_reason.sandboxes.base import SandboxUnavailable

INSTALL_HINT = (
    'the sandboxes\' seccomp filter needs libseccomp and its binding: pip install "pyseccomp>=0.1.2" '
    "(a dependency of gym-reason) and apt-get install libseccomp2 (Debian/Ubuntu; dnf install libseccomp on Fedora)"
)

ARCHES = ("x86_64", "aarch64")
"""Architectures the filter is built and tested for."""

_MACHINE_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}

# clone(2) namespace flags (arg 0 on x86_64 and aarch64). CLONE_NEWTIME shares its bit with the exit
# signal in clone(2) and exists only in clone3/unshare, both refused outright.
_CLONE_NAMESPACES = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
# personality(2): the values Docker allows are PER_LINUX (0), PER_LINUX32 (8), UNAME26 (0x20000) and
# their combination; every other bit (ADDR_NO_RANDOMIZE turns off ASLR, READ_IMPLIES_EXEC makes data
# executable, MMAP_PAGE_ZERO maps page 0, other execution domains) is refused, one rule per bit.
_PERSONALITY_ALLOWED_BITS = 0x00000008 | 0x00020000
_AF_INET, _AF_INET6, _AF_PACKET, _AF_VSOCK = 2, 10, 17, 40
_SOCK_TYPE_MASK, _SOCK_RAW, _SOCK_PACKET = 0xF, 3, 10


@dataclasses.dataclass(frozen=True)
class Denied:
    """One family of refused syscalls and why."""

    family: str
    syscalls: tuple[str, ...]
    reason: str
    condition: str = ""
    """Empty: refused whatever the arguments; else which calls of these syscalls are refused."""
    errno: int = errno.EPERM


DENIED: tuple[Denied, ...] = (
    Denied(
        "io_uring",
        ("io_uring_setup", "io_uring_enter", "io_uring_register"),
        "a large, fast-moving asynchronous interface with a long record of kernel privilege escalations; "
        "Google turned it off on ChromeOS, Android and its servers, Docker refuses it since 25.0",
    ),
    Denied(
        "keyrings",
        ("keyctl", "add_key", "request_key"),
        "the kernel keyrings are not namespaced (a sandbox could fill or read the session keyring of its uid) "
        "and their code gave privilege escalations (CVE-2016-0728)",
    ),
    Denied(
        "bpf",
        ("bpf",),
        "eBPF verifier bugs are a standard route from user code to kernel code execution",
    ),
    Denied(
        "perf",
        ("perf_event_open",),
        "performance counters leak kernel addresses and timing, and have had many privilege escalations; "
        "without the filter only the host's perf_event_paranoid setting stands in the way",
    ),
    Denied(
        "userfaultfd",
        ("userfaultfd",),
        "lets a program pause the kernel in the middle of a copy from user memory: the usual tool to win "
        "kernel race conditions",
    ),
    Denied(
        "tracing",
        ("ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd"),
        "reading, writing and comparing other processes' memory and files; nothing in a Python exercise "
        "needs it, and ptrace has a long record of kernel bugs",
    ),
    Denied(
        "kernel code",
        (
            "kexec_load",
            "kexec_file_load",
            "init_module",
            "finit_module",
            "delete_module",
            "create_module",
            "query_module",
            "get_kernel_syms",
        ),
        "loading or replacing kernel code (capabilities the sandbox never has; refused before the kernel "
        "looks at the arguments)",
    ),
    Denied(
        "mounts and namespaces",
        (
            "mount",
            "umount",
            "umount2",
            "pivot_root",
            "chroot",
            "unshare",
            "setns",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "open_tree",
            "move_mount",
            "mount_setattr",
        ),
        "new namespaces and mounts open kernel code written for root (user namespaces are the door to most "
        "unprivileged kernel exploits); the sandbox's namespaces are made by bwrap before the filter is loaded",
    ),
    Denied(
        "namespaces through clone",
        ("clone",),
        "the same, through clone(2)'s flags; threads and fork (no namespace flag) are allowed",
        condition="with any of " + ", ".join(_CLONE_NAMESPACES),
    ),
    Denied(
        "clone3",
        ("clone3",),
        "its flags live in memory the filter cannot read; ENOSYS (as in Docker) makes the C library use "
        "clone(2), whose flags the filter checks",
        errno=errno.ENOSYS,
    ),
    Denied(
        "personality",
        ("personality",),
        "ADDR_NO_RANDOMIZE turns off address-space randomisation, READ_IMPLIES_EXEC makes data executable, "
        "MMAP_PAGE_ZERO maps page 0 (the classic null-dereference exploit aid)",
        condition="with any bit besides PER_LINUX32 (8) and UNAME26 (0x20000); Docker allows exactly those "
        "values and the query 0xffffffff, which is refused here too",
    ),
    Denied(
        "clock",
        ("clock_settime", "clock_adjtime", "settimeofday", "adjtimex", "stime"),
        "the host's clock is shared by everything on the machine (setting it needs CAP_SYS_TIME; the read-only "
        "forms of adjtimex/clock_adjtime are refused as well)",
    ),
    Denied(
        "raw and VM sockets",
        ("socket",),
        "raw packets reach the kernel's packet parsers directly; vsock is the channel to a hypervisor",
        condition="AF_PACKET, AF_VSOCK, and SOCK_RAW or SOCK_PACKET of AF_INET/AF_INET6 (netlink stays: the "
        "C library's getaddrinfo and if_nameindex use it)",
    ),
    Denied(
        "system administration",
        (
            "reboot",
            "swapon",
            "swapoff",
            "acct",
            "quotactl",
            "quotactl_fd",
            "syslog",
            "vhangup",
            "iopl",
            "ioperm",
            "lookup_dcookie",
            "nfsservctl",
            "uselib",
            "ustat",
            "sysfs",
            "_sysctl",
            "vm86",
            "vm86old",
            "open_by_handle_at",
            "fanotify_init",
        ),
        "calls that need capabilities the sandbox never has, or obsolete interfaces; Docker refuses them too",
    ),
    Denied(
        "memory placement",
        ("mbind", "set_mempolicy", "set_mempolicy_home_node", "migrate_pages", "move_pages"),
        "NUMA placement of this and other processes' memory (Docker refuses them without CAP_SYS_NICE); "
        "get_mempolicy, a read, stays",
    ),
)
"""What the filter refuses, by family, with the reason; the README's threat model lists the same."""


def _binding() -> Any:
    """The ``pyseccomp`` module, or SandboxUnavailable saying how to install what is missing."""
    try:
        import pyseccomp
    except ImportError as error:  # the package, or (RuntimeError below) the C library it binds
        raise SandboxUnavailable(f"{INSTALL_HINT} ({error})") from None
    except (RuntimeError, OSError) as error:
        raise SandboxUnavailable(f"libseccomp could not be loaded ({error}); {INSTALL_HINT}") from None
    return pyseccomp


def native_arch() -> str:
    """This machine's architecture as :data:`ARCHES` names it.

    Raises:
        SandboxUnavailable: for a machine the filter is not built for.
    """
    machine = platform.machine().lower()
    arch = _MACHINE_ARCH.get(machine)
    if arch is None:
        raise SandboxUnavailable(
            f"the sandboxes' seccomp filter is built for {', '.join(ARCHES)}; this machine is {machine!r}"
        )
    return arch


def _arch_token(sc: Any, arch: str) -> int:
    if arch not in ARCHES:
        raise ValueError(f"unknown architecture {arch!r}; valid: {list(ARCHES)}")
    return {"x86_64": sc.Arch.X86_64, "aarch64": sc.Arch.AARCH64}[arch]


def syscall_number(name: str, arch: str | None = None) -> int:
    """The number of syscall ``name`` on ``arch`` (default: this machine), from libseccomp; -1 if it has none."""
    sc = _binding()
    number = sc.resolve_syscall(_arch_token(sc, arch or native_arch()), name)
    return number if number >= 0 else -1


@functools.cache
def filter_program(arch: str | None = None) -> bytes:
    """The filter of :data:`DENIED` as a BPF program (an array of ``struct sock_filter``) for ``arch``
    (default: this machine). Syscalls that ``arch`` does not have are left out.

    Raises:
        SandboxUnavailable: libseccomp or its binding is missing, or the machine is not x86_64/aarch64.
    """
    sc = _binding()
    arch = arch or native_arch()
    token = _arch_token(sc, arch)
    filt = sc.SyscallFilter(sc.ALLOW)
    filt.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    if arch != native_arch():  # rules are given by name; libseccomp translates them for the filter's arch
        filt.add_arch(token)
        filt.remove_arch(sc.Arch.NATIVE)
    for denied in DENIED:
        action = sc.ERRNO(denied.errno)
        for name in denied.syscalls:
            if sc.resolve_syscall(token, name) < 0:
                continue  # not on this architecture (vm86, iopl, stime...)
            for args in _conditions(sc, name):
                filt.add_rule(action, name, *args)
    with io.FileIO(os.memfd_create("seccomp-bpf"), "w+") as out:
        filt.export_bpf(out)
        out.seek(0)
        program = out.read()
    if not program or len(program) % 8:
        raise SandboxUnavailable(f"libseccomp exported a malformed filter ({len(program)} bytes); {INSTALL_HINT}")
    return program


def _conditions(sc: Any, name: str) -> list[tuple[Any, ...]]:
    """Argument conditions of the rules for ``name``: one rule per tuple (rules for one syscall are OR'ed);
    ``[()]`` refuses every call."""
    if name == "clone":
        return [(sc.Arg(0, sc.MASKED_EQ, flag, flag),) for flag in _CLONE_NAMESPACES.values()]
    if name == "personality":
        bits = [1 << bit for bit in range(32) if not (1 << bit) & _PERSONALITY_ALLOWED_BITS]
        return [(sc.Arg(0, sc.MASKED_EQ, bit, bit),) for bit in bits]
    if name == "socket":
        rules: list[tuple[Any, ...]] = [(sc.Arg(0, sc.EQ, family),) for family in (_AF_PACKET, _AF_VSOCK)]
        for family in (_AF_INET, _AF_INET6):
            for kind in (_SOCK_RAW, _SOCK_PACKET):
                rules.append((sc.Arg(0, sc.EQ, family), sc.Arg(1, sc.MASKED_EQ, _SOCK_TYPE_MASK, kind)))
        return rules
    return [()]


# The docker backend's bootstrap loads the program itself; this is the loader it runs (standard library only).
LOADER = r"""
def _load_seccomp(program):
    if not program:  # the test-only build without the filter
        return
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]
    prog = SockFprog(len(program) // 8, program)
    if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    if libc.prctl(22, 2, ctypes.byref(prog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")
"""
"""Python source defining ``_load_seccomp(program: bytes)``, which loads a BPF program from
:func:`filter_program` into the calling process (and everything it starts afterwards); an empty
program (a test-only build) loads nothing."""
