"""The shop's app logic, one object for both backends: requests in, :class:`Page` or redirects out.

Routes (every page has a header: Home, a search box, the cart link):

======================  =====  ==============================================================
``/``                   GET    home: categories
``/search``             GET    ``q``, ``page``, ``color``, ``max_price``: 10 results a page, filter links
``/product/<id>``       GET    attributes, price, color and size selects, Add to cart
``/cart/add``           POST   ``pid``, ``color``, ``size`` -> ``/cart`` (or back to the product with an error)
``/cart``               GET    lines, total, Remove buttons, Checkout
``/cart/remove``        POST   ``line`` -> ``/cart``
``/checkout``           GET    the order summary and Place order
``/checkout/place``     POST   -> ``/order``: the cart becomes the order
======================  =====  ==============================================================

State-changing requests are POSTs answered by a redirect (post/redirect/get), so every URL in the
history is a page that can be loaded again. A session's whole state is a :class:`Session`
(copyable: snapshots take it); the HTTP server (:mod:`gym_reason.envs.web.server`) keys sessions
by a cookie, the text backend holds its one session itself.
"""

from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from urllib.parse import quote_plus

from gym_reason.envs.web.catalog import CATEGORIES, COLORS, Catalog, Product, catalog
from gym_reason.envs.web.page import Element, Form, Page

RESULTS_PER_PAGE = 10
PRICE_BANDS = (25, 50, 100)


def encode_query(pairs: list[tuple[str, str]]) -> str:
    """``application/x-www-form-urlencoded`` exactly as Chromium writes a GET form's query (it keeps ``*``
    and encodes ``~``, where Python's ``quote_plus`` does the opposite).

    >>> encode_query([("q", "red shirt*~"), ("page", "2")])
    'q=red+shirt*%7E&page=2'
    """
    return "&".join(f"{quote_plus(k, safe='*')}={quote_plus(v, safe='*')}".replace("~", "%7E") for k, v in pairs)


@dataclass
class Line:
    pid: int
    color: str
    size: str


@dataclass
class Session:
    cart: list[Line] = field(default_factory=list)
    order: list[Line] | None = None
    """The lines bought at checkout; ``None`` until then."""
    last_search: str = "/"
    view: tuple = ("home",)
    """What the last page shown was: ``("search", query, pids shown)``, ``("product", pid)``, ``("cart",)``,
    ``("checkout",)``, ``("order",)``, ``("home",)`` or ``("missing",)``; the env pays sub-goal rewards from it."""


@dataclass(frozen=True, slots=True)
class Response:
    page: Page | None = None
    location: str | None = None
    """Where a redirect (303) points; ``None`` for a page."""
    status: int = 200


class ShopApp:
    """The shop over :func:`~gym_reason.envs.web.catalog.catalog`, with sessions by id. Thread-safe: the HTTP
    server answers from its own threads while envs read and replace sessions for snapshots."""

    def __init__(self, products: Catalog | None = None) -> None:
        self.catalog = products or catalog()
        self.sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- sessions

    def new_session(self, sid: str) -> None:
        with self._lock:
            self.sessions[sid] = Session()

    def drop_session(self, sid: str) -> None:
        with self._lock:
            self.sessions.pop(sid, None)

    def session(self, sid: str) -> Session:
        with self._lock:
            return self.sessions[sid]

    def copy_session(self, sid: str) -> Session:
        with self._lock:
            return copy.deepcopy(self.sessions[sid])

    def set_session(self, sid: str, state: Session) -> None:
        with self._lock:
            self.sessions[sid] = copy.deepcopy(state)

    # ----------------------------------------------------------------- requests

    def handle(self, sid: str, method: str, path: str, params: dict[str, str]) -> Response:
        """Answer one request of session ``sid`` (a new empty session if it has none)."""
        with self._lock:
            session = self.sessions.setdefault(sid, Session())
            return self._route(session, method.upper(), path, params)

    def _route(self, s: Session, method: str, path: str, params: dict[str, str]) -> Response:
        if method == "POST":
            if path == "/cart/add":
                return self._add(s, params)
            if path == "/cart/remove":
                index = _int(params.get("line"), -1)
                if 0 <= index < len(s.cart):
                    del s.cart[index]
                return Response(location="/cart", status=303)
            if path == "/checkout/place":
                if not s.cart or s.order is not None:
                    return Response(location="/cart", status=303)
                s.order, s.cart = list(s.cart), []
                return Response(location="/order", status=303)
            return self._missing(s, path)
        if path == "/":
            s.view = ("home",)
            return Response(self._home(s))
        if path == "/search":
            return Response(self._search(s, params))
        if path.startswith("/product/"):
            product = self.catalog.get(_int(path.removeprefix("/product/"), 0))
            if product is not None:
                s.view = ("product", product.pid)
                return Response(self._product(s, product, params.get("error") == "options"))
        if path == "/cart":
            s.view = ("cart",)
            return Response(self._cart(s))
        if path == "/checkout":
            if not s.cart:
                return Response(location="/cart", status=303)
            s.view = ("checkout",)
            return Response(self._checkout(s))
        if path == "/order" and s.order is not None:
            s.view = ("order",)
            return Response(self._order(s))
        return self._missing(s, path)

    # ----------------------------------------------------------------- pages

    def _header(self, s: Session, query: str = "") -> list[Element]:
        return [
            Element("link", "Home", href="/", css="nav"),
            Element("textbox", "Search", form="search", name="q", value=query, css="nav"),
            Element("button", "Search", form="search", css="nav"),
            Element("link", f"Cart ({len(s.cart)})", href="/cart", css="nav"),
        ]

    def _page(self, s: Session, title: str, body: list[Element], forms: list[Form], query: str = "") -> Page:
        return Page(f"{title} - Shop", (*self._header(s, query), *body), (Form("search", "/search"), *forms))

    def _home(self, s: Session) -> Page:
        body = [Element("heading", "Welcome to the shop"), Element("text", "Browse a category or search above.")]
        body += [
            Element("link", name.capitalize(), href=f"/search?{encode_query([('q', name)])}") for name in CATEGORIES
        ]
        return self._page(s, "Home", body, [])

    def _search(self, s: Session, params: dict[str, str]) -> Page:
        query = params.get("q", "").strip()
        color = params.get("color", "")
        max_price = _int(params.get("max_price"), 0)
        page_no = max(1, _int(params.get("page"), 1))
        found = self.catalog.search(query)
        if color in COLORS:
            found = [p for p in found if color in p.colors]
        if max_price > 0:
            found = [p for p in found if p.price <= max_price]
        pages = max(1, -(-len(found) // RESULTS_PER_PAGE))
        page_no = min(page_no, pages)
        shown = found[(page_no - 1) * RESULTS_PER_PAGE : page_no * RESULTS_PER_PAGE]

        def url(**change: str | int) -> str:
            state = {"q": query, "color": color, "max_price": str(max_price) if max_price else "", "page": "1"}
            state.update({k: str(v) for k, v in change.items()})
            return "/search?" + encode_query([(k, v) for k, v in state.items() if v and (k != "page" or v != "1")])

        here = url(page=page_no)
        s.last_search, s.view = here, ("search", query, tuple(p.pid for p in shown))
        body = [Element("heading", f'Results for "{query}"' if query else "All products")]
        first = (page_no - 1) * RESULTS_PER_PAGE + 1
        summary = f"{first}-{first + len(shown) - 1} of {len(found)}" if shown else "No products match"
        body.append(Element("text", f"{summary} (page {page_no} of {pages})", css="muted"))
        body.append(Element("text", "Filter by color:", css="muted"))
        colors = sorted({c for p in found for c in p.colors} | ({color} if color else set()), key=COLORS.index)
        for c in colors:
            label = f"{c} (remove)" if c == color else c
            body.append(Element("link", label, href=url(color="" if c == color else c), depth=1, css="filter"))
        body.append(Element("text", "Filter by price:", css="muted"))
        for band in PRICE_BANDS:
            label = f"under ${band} (remove)" if band == max_price else f"under ${band}"
            body.append(
                Element("link", label, href=url(max_price="" if band == max_price else band), depth=1, css="filter")
            )
        for p in shown:
            body.append(Element("link", f"{p.name} - ${p.price:.2f}", href=f"/product/{p.pid}", css="result"))
        if page_no > 1:
            body.append(Element("link", "< Previous", href=url(page=page_no - 1), css="nav"))
        if page_no < pages:
            body.append(Element("link", "Next >", href=url(page=page_no + 1), css="nav"))
        return self._page(s, "Search", body, [], query)

    def _product(self, s: Session, p: Product, error: bool) -> Page:
        body = [
            Element("heading", p.name),
            Element("text", f"Price: ${p.price:.2f}", css="price"),
            Element("text", f"Category: {p.category}. Brand: {p.brand}. Material: {p.material}."),
            Element("text", f"Features: {', '.join(p.features)}. Rating: {p.rating:.1f} of 5."),
            Element("text", p.description, css="muted"),
        ]
        if error:
            body.append(Element("text", "Please choose a color and a size before adding to the cart."))
        body += [
            Element("select", "Color", form="add", name="color", value="choose", options=("choose", *p.colors)),
            Element("select", "Size", form="add", name="size", value="choose", options=("choose", *p.sizes)),
            Element("button", "Add to cart", form="add"),
            Element("link", "Back to search", href=s.last_search),
        ]
        return self._page(s, p.name, body, [Form("add", "/cart/add", "post", (("pid", str(p.pid)),))])

    def _add(self, s: Session, params: dict[str, str]) -> Response:
        product = self.catalog.get(_int(params.get("pid"), 0))
        if product is None:
            return Response(location="/", status=303)
        color, size = params.get("color", ""), params.get("size", "")
        if color not in product.colors or size not in product.sizes:
            return Response(location=f"/product/{product.pid}?error=options", status=303)
        s.cart.append(Line(product.pid, color, size))
        return Response(location="/cart", status=303)

    def _describe(self, line: Line) -> str:
        p = self.catalog.products[line.pid - 1]
        return f"{p.name}, color {line.color}, size {line.size}: ${p.price:.2f}"

    def _total(self, lines: list[Line]) -> float:
        return sum(self.catalog.products[line.pid - 1].price for line in lines)

    def _cart(self, s: Session) -> Page:
        body: list[Element] = [Element("heading", "Your cart")]
        forms = []
        if not s.cart:
            body.append(Element("text", "Your cart is empty."))
        for i, line in enumerate(s.cart):
            body.append(Element("text", self._describe(line), depth=1))
            body.append(Element("button", "Remove", form=f"remove{i}", depth=1))
            forms.append(Form(f"remove{i}", "/cart/remove", "post", (("line", str(i)),)))
        if s.cart:
            body.append(Element("text", f"Total: ${self._total(s.cart):.2f}", css="price"))
            body.append(Element("link", "Checkout", href="/checkout"))
        body.append(Element("link", "Continue shopping", href=s.last_search))
        return self._page(s, "Cart", body, forms)

    def _checkout(self, s: Session) -> Page:
        body = [Element("heading", "Checkout")]
        body += [Element("text", self._describe(line), depth=1) for line in s.cart]
        body.append(Element("text", f"Total: ${self._total(s.cart):.2f}. Shipping is free.", css="price"))
        body.append(Element("button", "Place order", form="place"))
        body.append(Element("link", "Back to cart", href="/cart"))
        return self._page(s, "Checkout", body, [Form("place", "/checkout/place", "post")])

    def _order(self, s: Session) -> Page:
        assert s.order is not None
        body = [Element("heading", "Thank you! Your order is placed.")]
        body += [Element("text", self._describe(line), depth=1) for line in s.order]
        return self._page(s, "Order placed", body, [])

    def _missing(self, s: Session, path: str) -> Response:
        s.view = ("missing",)
        body = [Element("heading", "Page not found"), Element("text", f"There is no page {path[:80]!r}.")]
        return Response(self._page(s, "Not found", body, []), status=404)


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None and len(text) < 10 else default
    except ValueError:
        return default
