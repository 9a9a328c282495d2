"""Tests that need a system sandbox (bubblewrap, Docker): skip with the install command where it is missing,
fail instead where the environment says it must be there (CI installs bubblewrap and sets
``GYM_REASON_REQUIRE_SANDBOXES``), so a missing sandbox can never turn CI green by skipping.

Three ways in, one rule (the backend itself decides: whatever it raises as
:class:`~gym_reason.sandboxes.base.SandboxUnavailable` says what is missing and how to install it):

* ``@pytest.mark.sandbox("bwrap")`` on a test or module (``tests/conftest.py`` probes the backend
  before the test runs);
* :func:`require_sandbox` inside a fixture or test;
* :func:`sandbox_missing` with a reason already in hand (e.g. a checker report that says the env is
  unavailable).
"""

from __future__ import annotations

import functools
import os
from typing import NoReturn

import pytest

from gym_reason.sandboxes import SandboxUnavailable, make_sandbox

REQUIRE_SANDBOXES = "GYM_REASON_REQUIRE_SANDBOXES"
"""Environment variable: ``1`` (or ``all``) makes every missing sandbox a test failure; a comma-separated
list of backend names (``bwrap,docker``) does so for those backends only. Unset: tests skip."""


def required(backend: str) -> bool:
    """Whether ``$GYM_REASON_REQUIRE_SANDBOXES`` says ``backend`` must be available."""
    value = os.environ.get(REQUIRE_SANDBOXES, "").strip().lower()
    if value in ("", "0", "no", "false"):
        return False
    return value in ("1", "all", "yes", "true") or backend in {part.strip() for part in value.split(",")}


def sandbox_missing(backend: str, reason: str) -> NoReturn:
    """Skip the running test because ``backend`` cannot run here (``reason`` says how to install it), or
    fail it when ``$GYM_REASON_REQUIRE_SANDBOXES`` requires that backend."""
    if required(backend):
        pytest.fail(f"the {backend} sandbox is unavailable but {REQUIRE_SANDBOXES} requires it: {reason}")
    pytest.skip(f"the {backend} sandbox is unavailable here: {reason}")


@functools.cache
def _unavailable(backend: str) -> str | None:
    """Why ``backend`` cannot be made here (its SandboxUnavailable message), or None; probed once."""
    try:
        make_sandbox(backend).close()
    except SandboxUnavailable as error:
        return str(error)
    return None


def require_sandbox(backend: str = "bwrap") -> None:
    """Return if ``backend`` works on this machine, else skip (or fail, see :func:`sandbox_missing`)."""
    reason = _unavailable(backend)
    if reason is not None:
        sandbox_missing(backend, reason)
