"""Fixtures of the code-env tests: one real ``bwrap`` sandbox shared by the session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from gym_reason.sandboxes import Sandbox, make_sandbox


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    """The real bubblewrap sandbox (skips only where bwrap itself is missing)."""
    if shutil.which("bwrap") is None:
        pytest.skip("bubblewrap is not installed: apt-get install bubblewrap")
    with make_sandbox("bwrap") as made:
        yield made
