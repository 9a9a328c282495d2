"""Fixtures of the code-env tests: one real ``bwrap`` sandbox shared by the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gym_reason.sandboxes import Sandbox, make_sandbox
from tests.sandbox_guard import require_sandbox


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The real bubblewrap sandbox (skips with the install command where it cannot run, see tests/sandbox_guard.py)."""
    require_sandbox("bwrap")
    with make_sandbox("bwrap") as made:
        yield made
