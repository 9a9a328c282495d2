"""How actions reach a page: the text twin (:class:`TextClient`) and the browser (:class:`BrowserClient`).

Both keep the same client-side state: the URL (path and query), a history of URLs for ``go_back``
(every navigation an action causes pushes the page it left; ``go_back`` loads the last one again,
as the app's post/redirect/get makes every such URL loadable), the element last acted on (where
``press Enter`` goes), and, for the twin, the values typed or chosen but not yet submitted (the
browser holds those in its DOM).

Action semantics, the twin's model of what Chromium does:

* ``click`` a link: follow it; a button: submit its form; a text box or select: focus it.
* ``type``: replace the text box's text (Playwright's ``fill``); with ``submit``, press Enter in it.
* ``select``: choose the option, focus the select.
* ``press Enter`` on the focused element: a link is followed, a button submits its form, a text box
  submits its form (implicit submission); on a select or nothing focused it does nothing. The other
  keys (:data:`~gym_reason.envs.web.actions.KEYS`) go to the page, not to an element: they scroll.
* ``scroll`` moves the viewport, which only screenshot mode shows.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from gym_reason.envs.web.actions import Action, BadAction
from gym_reason.envs.web.page import Node, Page, page_nodes
from gym_reason.envs.web.shop import ShopApp, encode_query

MAX_REDIRECTS = 5
HIT_JS = """
([x, y]) => {
  const el = document.elementFromPoint(x, y);
  const target = el && el.closest('[data-gid]');
  return target ? parseInt(target.dataset.gid) : 0;
}
"""
SCROLL_PIXELS = 500


def _split(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    return parts.path or "/", dict(parse_qsl(parts.query, keep_blank_values=True))


@dataclass
class ClientState:
    url: str = "/"
    history: list[str] = field(default_factory=list)
    focus: int = 0
    values: dict[int, str] = field(default_factory=dict)
    page: Page | None = None


class TextClient:
    """The shop without a browser: requests go straight to :class:`~gym_reason.envs.web.shop.ShopApp`."""

    def __init__(self, app: ShopApp, sid: str) -> None:
        self.app, self.sid = app, sid
        self.state = ClientState()

    @property
    def url(self) -> str:
        return self.state.url

    @property
    def title(self) -> str:
        assert self.state.page is not None
        return self.state.page.title

    def can_go_back(self) -> bool:
        return bool(self.state.history)

    def open(self, url: str) -> None:
        self.state.history.clear()
        self._request("GET", url, {})

    def nodes(self, boxes: bool = False) -> list[Node]:
        assert self.state.page is not None
        return page_nodes(self.state.page, self.state.values)

    def _request(self, method: str, url: str, params: dict[str, str]) -> None:
        for _ in range(MAX_REDIRECTS):
            path, query = _split(url)
            response = self.app.handle(self.sid, method, path, params if method == "POST" else query)
            if response.location is None:
                break
            method, url, params = "GET", response.location, {}
        self.state.url, self.state.page = url, response.page
        self.state.values, self.state.focus = {}, 0

    def _navigate(self, method: str, url: str, params: dict[str, str]) -> None:
        self.state.history.append(self.state.url)
        self._request(method, url, params)

    def _submit(self, form_id: str) -> None:
        page = self.state.page
        assert page is not None
        form = page.form(form_id)
        pairs = list(form.hidden)
        for element, gid in zip(page.elements, page.gids, strict=True):
            if element.form == form_id and element.role == "textbox":
                pairs.append((element.name, self.state.values.get(gid, element.value)))
            elif element.form == form_id and element.role == "select":
                default = element.value if element.value in element.options else element.options[0]
                pairs.append((element.name, self.state.values.get(gid, default)))
        if form.method == "get":
            self._navigate("GET", f"{form.action}?{encode_query(pairs)}", {})
        else:
            self._navigate("POST", form.action, dict(pairs))

    def _activate(self, gid: int) -> None:
        """What Enter does on element ``gid`` (and a click on a link or button)."""
        assert self.state.page is not None
        element = self.state.page.by_gid(gid)
        if element is None:
            return
        if element.role == "link":
            self._navigate("GET", element.href, {})
        elif element.role in ("button", "textbox"):
            self._submit(element.form)

    def perform(self, action: Action) -> None:
        state = self.state
        if action.kind == "click":
            assert state.page is not None
            element = state.page.by_gid(action.id)
            assert element is not None
            if element.role in ("link", "button"):
                self._activate(action.id)
            else:
                state.focus = action.id
        elif action.kind == "type":
            state.values[action.id], state.focus = action.text, action.id
            if action.submit:
                self._activate(action.id)
        elif action.kind == "select":
            state.values[action.id], state.focus = action.option, action.id
        elif action.kind == "press":
            if action.key == "Enter" and state.focus:
                self._activate(state.focus)
        elif action.kind == "go_back":
            if not state.history:
                raise BadAction("there is no page to go back to")
            self._request("GET", state.history.pop(), {})
        elif action.kind == "click_xy":
            raise BadAction("click_xy needs the browser backend in screenshot mode")
        # scroll: the viewport, which the text digest does not show

    def snapshot(self) -> Any:
        return (copy.deepcopy(self.state), self.app.copy_session(self.sid))

    def restore(self, snap: Any) -> None:
        state, session = snap
        self.state = copy.deepcopy(state)
        self.app.set_session(self.sid, session)

    def screenshot(self) -> bytes:
        raise BadAction("the text backend has no screenshots")

    def close(self) -> None:
        self.app.drop_session(self.sid)


class BrowserClient:
    """A page of a browser context; ``digest_js`` reads :class:`Node` records out of its DOM.

    ``navigates(node)`` says whether clicking (or pressing Enter on) an element loads a new document:
    the client then waits for that navigation and records it in the history.
    """

    def __init__(
        self, context: Any, base_url: str, digest_js: str, navigates: Any, click_timeout_ms: int = 3000
    ) -> None:
        self.context, self.base_url, self.digest_js, self.navigates = context, base_url, digest_js, navigates
        self.page = context.new_page()
        self.page.set_default_timeout(15_000)
        self.history: list[str] = []
        self.focus = 0
        self.click_timeout_ms = click_timeout_ms
        self._nodes: list[Node] = []
        self._title = ""

    @property
    def url(self) -> str:
        url = self.page.url
        return url[len(self.base_url) :] if url.startswith(self.base_url) else url

    @property
    def title(self) -> str:
        """The title read with the last :meth:`nodes` (one round trip to the browser for both)."""
        return self._title

    def can_go_back(self) -> bool:
        return bool(self.history)

    def open(self, url: str) -> None:
        self.history.clear()
        self._goto(url)

    def _goto(self, url: str) -> None:
        self.page.goto(self.base_url + url, wait_until="load")
        self.focus = 0

    def nodes(self, boxes: bool = False) -> list[Node]:
        from playwright.sync_api import Error as PlaywrightError

        try:
            self._title, records = self.page.evaluate(self.digest_js, [boxes])
        except PlaywrightError:  # a page script navigated on its own: read the page it went to
            self.page.wait_for_load_state("load")
            self._title, records = self.page.evaluate(self.digest_js, [boxes])
        self._nodes = [
            Node(gid, role, text, value, tuple(options), depth, tuple(box) if box else None)
            for gid, role, text, value, options, depth, box in records
        ]
        return self._nodes

    def _locator(self, gid: int) -> Any:
        return self.page.locator(f'[data-gid="{gid}"]')

    def _node(self, gid: int) -> Node | None:
        return next((n for n in self._nodes if n.gid == gid), None)

    def _with_navigation(self, navigates: bool, act: Any) -> None:
        if not navigates:
            act()
            return
        before = self.url
        with self.page.expect_navigation(wait_until="load"):
            act()
        self.history.append(before)
        self.focus = 0

    def perform(self, action: Action) -> None:
        """Do ``action`` in the page; an action the browser refuses (an element that went away, one that is not
        editable, a timeout) is a :class:`BadAction` with a fixed message (Playwright's own holds timings)."""
        from playwright.sync_api import Error as PlaywrightError

        try:
            self._perform(action)
        except PlaywrightError as exc:
            target = f" [{action.id}]" if action.id else ""
            raise BadAction(f"the browser could not {action.kind}{target} ({type(exc).__name__})") from exc

    def _perform(self, action: Action) -> None:
        node = self._node(action.id) if action.id else None
        if action.kind == "click":
            assert node is not None
            moves = self.navigates(node)
            self._with_navigation(moves, lambda: self._locator(action.id).click(timeout=self.click_timeout_ms))
            if not moves:
                self.focus = action.id
        elif action.kind == "type":
            self._locator(action.id).fill(action.text)
            self.focus = action.id
            if action.submit:
                self._press_enter(action.id)
        elif action.kind == "select":
            self._locator(action.id).select_option(label=action.option)
            self.focus = action.id
        elif action.kind == "press":
            if action.key == "Enter":
                if self.focus:
                    self._press_enter(self.focus)
            else:
                self.page.evaluate("() => document.activeElement && document.activeElement.blur()")
                self.page.keyboard.press(action.key)
        elif action.kind == "scroll":
            self.page.mouse.wheel(0, SCROLL_PIXELS if action.direction == "down" else -SCROLL_PIXELS)
        elif action.kind == "click_xy":
            # Which element is under the point decides whether the click loads a page (and must be waited for).
            hit = self.page.evaluate(HIT_JS, [action.x, action.y])
            target = self._node(hit) if hit else None
            moves = target is not None and self.navigates(target)
            self._with_navigation(moves, lambda: self.page.mouse.click(action.x, action.y))
            self.focus = 0 if moves or target is None else target.gid
        elif action.kind == "go_back":
            if not self.history:
                raise BadAction("there is no page to go back to")
            self._goto(self.history.pop())

    def _press_enter(self, gid: int) -> None:
        node = self._node(gid)
        moves = node is not None and self.navigates(node, enter=True)
        self._with_navigation(moves, lambda: self._locator(gid).press("Enter"))

    def snapshot(self) -> Any:
        """The client side of a snapshot: URL, history, focus, the fields' current values, the scroll offset."""
        fields = [(n.gid, n.role, n.value) for n in self.nodes() if n.role in ("textbox", "select")]
        scroll = self.page.evaluate("() => window.scrollY")
        return (self.url, list(self.history), self.focus, fields, scroll)

    def restore(self, snap: Any) -> None:
        """Load the URL again (the server's session must be restored first) and put the fields, scroll
        offset, focus and history back."""
        url, history, focus, fields, scroll = snap
        self._goto(url)
        self.nodes()
        for gid, role, value in fields:
            node = self._node(gid)
            if node is None or node.value == value:
                continue
            if role == "textbox":
                self._locator(gid).fill(value)
            else:
                self._locator(gid).select_option(label=value)
        self.page.evaluate("(y) => window.scrollTo(0, y)", scroll)
        self.page.evaluate("() => document.activeElement && document.activeElement.blur()")
        self.history, self.focus = list(history), focus

    def screenshot(self) -> bytes:
        return self.page.screenshot(type="png")

    def close(self) -> None:
        self.page.close()
