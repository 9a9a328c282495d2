"""The seccomp filter itself: built by libseccomp for x86_64 and aarch64, and documented in the README.

How it holds against hostile programs is the battery's business (``syscall_*`` entries, run by the
bwrap and docker tests); these need only libseccomp and its binding.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from gym_reason.sandboxes import SandboxUnavailable, seccomp
from tests.sandbox_guard import sandbox_missing


@pytest.fixture(autouse=True)
def _libseccomp() -> None:
    """Skip with the install command where libseccomp or its binding is missing (fail where CI requires bwrap,
    which cannot run without them)."""
    try:
        seccomp.filter_program()
    except SandboxUnavailable as error:
        sandbox_missing("bwrap", str(error))


def _bpf_constants(program: bytes) -> set[int]:
    """The ``k`` operands of a BPF program (``struct sock_filter``: u16 code, u8 jt, u8 jf, u32 k)."""
    return {k for _code, _jt, _jf, k in struct.iter_unpack("=HBBI", program)}


@pytest.mark.parametrize(("arch", "audit_arch"), [("x86_64", 0xC000003E), ("aarch64", 0xC00000B7)])
def test_filter_is_built_for_each_architecture_with_libseccomp_numbers(arch: str, audit_arch: int) -> None:
    constants = _bpf_constants(seccomp.filter_program(arch))
    assert audit_arch in constants  # the filter checks the architecture first
    for name in ("io_uring_setup", "keyctl", "add_key", "bpf", "perf_event_open", "userfaultfd", "unshare"):
        number = seccomp.syscall_number(name, arch)
        assert number >= 0 and number in constants, (arch, name, number)
    # the numbers differ between the two (keyctl is 250 on x86_64, 219 on aarch64): they came from libseccomp
    assert seccomp.syscall_number("keyctl", "x86_64") != seccomp.syscall_number("keyctl", "aarch64")
    with pytest.raises(ValueError, match="valid"):
        seccomp.filter_program("sparc")


def test_readme_lists_every_refused_syscall() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme[readme.index("## Sandboxes") :]
    section = section[: section.index("\n## ", 1)]
    for denied in seccomp.DENIED:
        for name in denied.syscalls:
            assert f"`{name}`" in section, f"the README's Sandboxes section does not list {name} ({denied.family})"
