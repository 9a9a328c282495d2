"""``gym_reason/WebShop-v0``: buy what the instruction asks for in a local web shop.

Each episode draws a purchase goal (:mod:`gym_reason.envs.web.tasks`) from its seed and split and
opens the shop's home page. The agent searches, filters, opens product pages, picks options, adds to
the cart and checks out, acting with the web action space (:mod:`gym_reason.envs.web.actions`).

``backend="text"`` (default) runs the shop's app logic in-process with no browser: the same pages,
digests, actions and rewards as ``backend="browser"``, where the shop is served on 127.0.0.1 and a
shared headless Chromium (:mod:`gym_reason.envs.web.browser`) renders it. The browser is the reference;
a test replays seeded action sequences on both and compares every observation and reward.

Rewards (``info["reward_components"]``; each sub-goal is paid once per episode):

=================  ==============  ===========================================================
component          value           paid when
=================  ==============  ===========================================================
``search``         +0.1            a results page shows a product of the goal's category and attributes
``product``        +0.1            the page of a product that can satisfy the whole goal is opened
``options``        +0.1            such a product is in the cart with the goal's color and size
``checkout``       +0.1            the checkout page is reached with that line in the cart
``purchase``       0.6 x score     the order is placed: WebShop's attribute-match score (mean over lines)
``invalid_action`` -0.05           a reply that is not a valid action (the error is in the next observation)
=================  ==============  ===========================================================

So an episode is worth at most 1.0, reached by buying exactly a matching product with the right
options; the episode ends at the order (outcome ``win`` for a full score, else ``loss``), at an
``answer`` action (nothing bought: ``loss``), or after ``max_turns`` actions (``truncated``).

**Snapshots** (:meth:`snapshot`/:meth:`restore`, for search over web states) hold the server-side
session (cart, order, last search), the URL, the history, the focused element, the values typed or
selected but not submitted, and the episode's bookkeeping. They are exact for the text backend. In the
browser the page is loaded again from the restored session, and fields, scroll offset, focus and
history are put back: the shop's pages are rendered by the server with no script state, so the
digest, the rewards and every later step are the same.
"""

from __future__ import annotations

import itertools
import random
import weakref
from typing import Any

from gym_reason.core import Outcome
from gym_reason.envs.web import browser, server
from gym_reason.envs.web.actions import Action
from gym_reason.envs.web.base import BACKENDS, VIEWPORT, WebEnv, check_choice
from gym_reason.envs.web.catalog import catalog
from gym_reason.envs.web.clients import BrowserClient, TextClient
from gym_reason.envs.web.page import DIGEST_JS, Node
from gym_reason.envs.web.shop import ShopApp
from gym_reason.envs.web.tasks import SPLITS, Goal, draw_goal, order_score

SUBGOAL_REWARD = 0.1
PURCHASE_WEIGHT = 0.6
_session_ids = itertools.count()


def _shop_navigates(node: Node, enter: bool = False) -> bool:
    return node.role in ("link", "button") or (enter and node.role == "textbox")


class WebShopEnv(WebEnv):
    """A WebShop-style purchase task; see the module docstring."""

    role = "shopper"
    splits = SPLITS
    """The task splits (the ``split`` convention of :mod:`gym_reason.core`): evaluation plays ``"test"``."""

    def __init__(
        self, backend: str = "text", split: str = "train", obs_mode: str = "text", max_turns: int = 30
    ) -> None:
        check_choice("backend", backend, BACKENDS, " (text: no browser, fast; browser: Chromium)")
        check_choice("split", split, SPLITS, ": tasks of the two splits never share a goal signature")
        if backend == "text" and obs_mode != "text":
            raise ValueError(
                f"obs_mode={obs_mode!r} needs screenshots, which only backend='browser' takes; "
                "use backend='browser' or obs_mode='text'"
            )
        super().__init__(obs_mode, max_turns)
        self.backend, self.split = backend, split
        self.catalog = catalog()
        self.goal: Goal | None = None
        self.paid: set[str] = set()
        self._rng = random.Random()
        self._server: server.ShopServer | None = None
        self._hold: browser.Hold | None = None
        self.sid = ""
        if backend == "browser":
            self._server = server.acquire()
            self._hold = browser.Hold(VIEWPORT, on_close=server.release)  # gives the server back too
            weakref.finalize(self, browser.orphan, self._hold)
            self.app = self._server.app
        else:
            self.app = ShopApp(self.catalog)

    # ----------------------------------------------------------------- episodes

    def _open(self, seed: int | None, options: dict[str, Any] | None) -> str:
        if options:
            raise ValueError(f"WebShop-v0 takes no reset options, got {sorted(options)}")
        if self.backend == "browser" and self._hold is None:
            raise RuntimeError("reset() after close(): this env gave its browser context back; make a new env")
        if seed is not None:
            self._rng.seed(seed)
        elif self.goal is None:
            self._rng.seed(int(self.np_random.integers(2**31)))
        self.goal = draw_goal(self.catalog, self._rng, self.split)
        self.paid = set()
        if self.client is None:
            self.sid = f"s{next(_session_ids)}"  # one session id per env; each episode starts its session anew
            if self.backend == "browser":
                assert self._hold is not None and self._server is not None
                self._hold.context.add_cookies([{"name": "sid", "value": self.sid, "url": self._server.base_url}])
                self.client = BrowserClient(self._hold.context, self._server.base_url, DIGEST_JS, _shop_navigates)
            else:
                self.client = TextClient(self.app, self.sid)
        self.app.new_session(self.sid)
        self.client.open("/")
        return self.goal.instruction

    def _pay(self, name: str, value: float, components: dict[str, float]) -> None:
        if name not in self.paid:
            self.paid.add(name)
            components[name] = value

    def _outcome(self, action: Action) -> tuple[dict[str, float], Outcome | None, dict[str, float]]:
        goal = self.goal
        assert goal is not None
        components: dict[str, float] = {}
        if action.kind == "answer":
            return {"purchase": 0.0}, Outcome.LOSS, {"purchase_score": 0.0, "success": 0.0}
        session = self.app.session(self.sid)
        view, products = session.view, self.catalog.products
        if view[0] == "search" and any(goal.relevant(products[pid - 1]) for pid in view[2]):
            self._pay("search", SUBGOAL_REWARD, components)
        if view[0] == "product" and goal.matches(products[view[1] - 1]):
            self._pay("product", SUBGOAL_REWARD, components)
        good_line = any(
            goal.matches(products[line.pid - 1]) and (line.color, line.size) == (goal.color, goal.size)
            for line in session.cart
        )
        if good_line:
            self._pay("options", SUBGOAL_REWARD, components)
        if view[0] == "checkout" and good_line:
            self._pay("checkout", SUBGOAL_REWARD, components)
        if session.order is None:
            return components, None, {}
        score = order_score(goal, self.catalog, session.order)
        components["purchase"] = PURCHASE_WEIGHT * score
        outcome = Outcome.WIN if score == 1.0 else Outcome.LOSS
        return components, outcome, {"purchase_score": score, "success": float(score == 1.0)}

    def _state_key(self) -> Any:
        session = self.app.session(self.sid)
        cart = tuple((line.pid, line.color, line.size) for line in session.cart)
        return (*super()._state_key(), cart, tuple(sorted(self.paid)))

    # ----------------------------------------------------------------- snapshots

    def snapshot(self) -> dict[str, Any]:
        """The episode's state; see the module docstring for what is restored and how exactly."""
        if self.client is None:
            raise RuntimeError("snapshot() before reset(): there is no episode to copy")
        return {
            **self.snapshot_base(),
            "goal": self.goal,
            "paid": set(self.paid),
            "session": self.app.copy_session(self.sid),
            "client": self.client.snapshot(),
        }

    def restore(self, snap: dict[str, Any]) -> None:
        if self.client is None:
            raise RuntimeError("restore() before reset(): reset once, then restore snapshots of this env")
        self.restore_base(snap)
        self.goal, self.paid = snap["goal"], set(snap["paid"])
        self.app.set_session(self.sid, snap["session"])
        if self.backend == "browser":
            self.client.restore(snap["client"])
            self.app.set_session(self.sid, snap["session"])  # loading the page again rewrote the view
        else:
            self.client.restore((snap["client"][0], snap["session"]))
        self._nodes = self.client.nodes(self.screenshots)

    # ----------------------------------------------------------------- cleanup

    def close(self) -> None:
        """End the episode's session; a browser env also closes its context and gives back its share of the
        browser and the shop server (the last env's close stops both)."""
        if self.client is not None:
            self.app.drop_session(self.sid)
            self.client = None
            self.done = True
        if self._hold is not None:
            self._hold.close()
            self._hold = self._server = None
        super().close()
