"""Sandboxes for untrusted model code: one contract (:mod:`gym_reason.sandboxes.base`), several backends.

Importing this package registers the built-in backends (``bwrap``, ``docker``, ``local``) and starts nothing:
a backend probes the machine only when one is made (:func:`make_sandbox`).
"""

from gym_reason.sandboxes import bwrap, docker_backend, local  # noqa: F401  (each registers its backend)
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
from gym_reason.sandboxes.pool import SandboxPool

__all__ = [
    "BACKENDS",
    "ExecResult",
    "Limits",
    "Sandbox",
    "SandboxPool",
    "SandboxUnavailable",
    "Session",
    "make_sandbox",
    "register_backend",
]
