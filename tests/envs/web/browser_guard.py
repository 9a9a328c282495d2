"""Tests that need Chromium, Playwright and the miniwob package: skip with the install command where one is
missing, fail instead where ``$GYM_REASON_REQUIRE_BROWSER`` says they must be there (``.ci/run`` installs
them and sets it), so a missing browser can never turn CI green by skipping. The same pattern as
``tests/sandbox_guard.py``."""

from __future__ import annotations

import functools
import importlib.util
import os
from typing import NoReturn

import pytest

from gym_reason.envs.web.browser import INSTALL, BrowserUnavailable, chromium_path
from gym_reason.envs.web.miniwob import miniwob_html_dir

REQUIRE_BROWSER = "GYM_REASON_REQUIRE_BROWSER"
"""Environment variable: ``1`` makes a missing browser a test failure. Unset: tests skip."""


def required() -> bool:
    return os.environ.get(REQUIRE_BROWSER, "").strip().lower() not in ("", "0", "no", "false")


def browser_missing(reason: str) -> NoReturn:
    """Skip the running test because the browser cannot run here, or fail it under ``$GYM_REASON_REQUIRE_BROWSER``."""
    if required():
        pytest.fail(f"the browser is unavailable but {REQUIRE_BROWSER} requires it: {reason}")
    pytest.skip(f"the browser is unavailable here: {reason}")


@functools.cache
def _unavailable() -> str | None:
    try:
        chromium_path()
        miniwob_html_dir()
    except BrowserUnavailable as error:
        return str(error)
    if importlib.util.find_spec("playwright") is None:
        return f"the Python package playwright is not installed ({INSTALL})"
    return None


def require_browser() -> None:
    """Return if Chromium, Playwright and miniwob are here, else skip (or fail, see :func:`browser_missing`)."""
    reason = _unavailable()
    if reason is not None:
        browser_missing(reason)
