"""One headless Chromium per process, shared by every browser-backed env through its own context.

:func:`acquire` starts Playwright and Chromium with the first env that needs them and counts users;
each env takes a :class:`~playwright.sync_api.BrowserContext` (cookies, storage and pages of its own)
and closes it with :func:`release`, and the browser and Playwright's driver go with the last user. An
``atexit`` hook closes what is left open, so no browser process outlives the interpreter.

Chromium is Debian's (``apt-get install chromium``), found as ``$GYM_REASON_CHROMIUM`` or ``chromium`` on
``PATH``; Playwright for Python (``pip install "gym-reason[web]"``) drives it. Neither
``playwright install`` nor any network access is needed. Where either is missing, making an env raises
:class:`BrowserUnavailable` with the install command (a
:class:`~gym_reason.sandboxes.base.SandboxUnavailable`, so ``gym-reason check`` lists the env as
unavailable rather than failed).

Playwright's synchronous API is bound to the thread that started it: use browser-backed envs from one
thread (many envs at once are fine: they share the browser).
"""

from __future__ import annotations

import atexit
import os
import shutil
from typing import Any, ClassVar

from gym_reason.sandboxes.base import SandboxUnavailable

CHROMIUM_ENV = "GYM_REASON_CHROMIUM"
INSTALL = 'apt-get install chromium && pip install "gym-reason[web]"'
LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)


class BrowserUnavailable(SandboxUnavailable):
    """Chromium or Playwright is missing: the message says how to install them."""


def chromium_path() -> str:
    """The Chromium executable to launch, or :class:`BrowserUnavailable`."""
    path = os.environ.get(CHROMIUM_ENV) or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path or not os.access(path, os.X_OK):
        raise BrowserUnavailable(f"Chromium not found (set ${CHROMIUM_ENV} or {INSTALL})")
    return path


class _Shared:
    playwright: Any = None
    browser: Any = None
    users = 0
    orphans: ClassVar[list[Any]] = []


class Hold:
    """One env's hold on the shared browser: its own context, and whatever else it must give back with it
    (``on_close``, e.g. the shop server). :meth:`close` gives it all back once; an env that is garbage
    collected without closing hands its hold to :func:`orphan`, and the next :func:`acquire` or
    :func:`release` closes it (not from inside the collector: that may run in the middle of a Playwright call)."""

    def __init__(self, viewport: tuple[int, int], on_close: Any = None) -> None:
        self.context: Any = None
        self.on_close = on_close
        self.acquired = False
        try:
            browser = acquire()
            self.acquired = True
            self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.on_close is False:
            return
        on_close, self.on_close = self.on_close, False
        context, self.context = self.context, None
        try:
            if context is not None and _Shared.browser is not None:
                context.close()
        finally:
            if on_close is not None:
                on_close()
            if self.acquired:
                release()


def orphan(hold: Hold) -> None:
    """Called by ``weakref.finalize`` when an env with a hold is collected unclosed."""
    _Shared.orphans.append(hold)


def _close_orphans() -> None:
    while _Shared.orphans:
        _Shared.orphans.pop().close()


def acquire() -> Any:
    """The shared Browser, started if this is its first user; pair every call with :func:`release`."""
    _close_orphans()
    if _Shared.browser is None:
        executable = chromium_path()
        try:
            from playwright.sync_api import sync_playwright
        except ImportError as exc:
            raise BrowserUnavailable(f"the Python package playwright is not installed ({INSTALL})") from exc
        playwright = sync_playwright().start()
        try:
            # Playwright gives every launch a fresh temporary profile (user-data dir) and deletes it at close.
            _Shared.browser = playwright.chromium.launch(
                executable_path=executable, headless=True, args=list(LAUNCH_ARGS)
            )
        except Exception as exc:
            playwright.stop()
            raise BrowserUnavailable(f"Chromium at {executable} did not start: {exc} ({INSTALL})") from exc
        _Shared.playwright = playwright
    _Shared.users += 1
    return _Shared.browser


def release() -> None:
    """One user fewer; the last one closes the browser and stops Playwright's driver."""
    _Shared.users = max(0, _Shared.users - 1)
    _close_orphans()
    if _Shared.users == 0:
        shutdown()


def users() -> int:
    """How many envs hold the shared browser now."""
    return _Shared.users


def running() -> bool:
    return _Shared.browser is not None


def shutdown() -> None:
    """Close the browser and Playwright now, whoever still holds them."""
    browser, playwright = _Shared.browser, _Shared.playwright
    _Shared.browser = _Shared.playwright = None
    _Shared.users = 0
    _Shared.orphans.clear()
    if browser is not None:
        try:
            browser.close()
        finally:
            playwright.stop()


atexit.register(shutdown)
