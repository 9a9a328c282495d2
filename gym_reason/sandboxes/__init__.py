"""Sandboxes for untrusted model code: one contract (:mod:`gym_reason.sandboxes.base`), several backends."""

from gym_reason.sandboxes.base import (
    BACKENDS,
    ExecResult,
    Limits,
    Sandbox,
    SandboxUnavailable,
    Session,
    make_sandbox,
    register_backend,
)

__all__ = [
    "BACKENDS",
    "ExecResult",
    "Limits",
    "Sandbox",
    "SandboxUnavailable",
    "Session",
    "make_sandbox",
    "register_backend",
]
