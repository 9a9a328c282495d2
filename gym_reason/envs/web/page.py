"""Pages as data, their HTML, and the text digest an agent reads.

The shop's app logic (:mod:`gym_reason.envs.web.shop`) renders every page as a :class:`Page`: a flat
list of :class:`Element` (headings, text, links, text boxes, selects, buttons) and the forms the
inputs belong to. The browser backend serves that page as HTML (:func:`to_html`); the text backend
keeps it as data. Both then describe what is on screen with the same :class:`Node` records, the
browser's read out of the live DOM by :data:`DIGEST_JS`, the text twin's from the page and the
values typed into it, and :func:`digest` turns records into the observation's lines.

Element ids are *stable*: the server numbers a page's interactive elements 1, 2, ... in document
order, so one page state has one numbering, in both backends and across visits.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

INTERACTIVE = frozenset({"link", "textbox", "select", "button"})
"""Roles that get an element id (the rest are text the agent reads)."""


@dataclass(frozen=True, slots=True)
class Element:
    role: str
    """``heading``, ``text``, ``link``, ``textbox``, ``select`` or ``button``."""
    text: str = ""
    """What it shows: the words of a heading, text, link or button; the label of a text box or select."""
    href: str = ""
    form: str = ""
    """The id of the form a text box, select or button belongs to."""
    name: str = ""
    value: str = ""
    """A text box's initial value; a select's initially selected option."""
    options: tuple[str, ...] = ()
    depth: int = 0
    css: str = ""
    """A class name for the stylesheet (cards, prices): looks only, not in the digest."""


@dataclass(frozen=True, slots=True)
class Form:
    id: str
    action: str
    method: str = "get"
    hidden: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Page:
    title: str
    elements: tuple[Element, ...]
    forms: tuple[Form, ...] = ()
    gids: tuple[int, ...] = field(init=False)
    """The element id of each element (0 for text)."""

    def __post_init__(self) -> None:
        ids, n = [], 0
        for element in self.elements:
            if element.role in INTERACTIVE:
                n += 1
                ids.append(n)
            else:
                ids.append(0)
        object.__setattr__(self, "gids", tuple(ids))

    def by_gid(self, gid: int) -> Element | None:
        for element, g in zip(self.elements, self.gids, strict=True):
            if g == gid and g:
                return element
        return None

    def form(self, form_id: str) -> Form:
        return next(f for f in self.forms if f.id == form_id)


@dataclass(frozen=True, slots=True)
class Node:
    """One line of the digest: what an agent can see of one element."""

    gid: int
    role: str
    text: str
    value: str | None = None
    options: tuple[str, ...] = ()
    depth: int = 0
    box: tuple[int, int, int, int] | None = None
    """``(x, y, width, height)`` in CSS pixels of the viewport, in screenshot mode."""


def clean(text: str) -> str:
    """Whitespace collapsed, as the browser digest reads ``textContent``.

    >>> clean("  a\\n  b ")
    'a b'
    """
    return " ".join(text.split())


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def digest(nodes: list[Node]) -> str:
    """The page as lines: ``[id] role "text"`` for interactive elements (with ``value=`` and ``options=``),
    plain text for the rest, indented by depth, with the element's box in screenshot mode.

    >>> print(digest([Node(0, "heading", "Shop"), Node(1, "textbox", "Search", value="red", depth=1)]))
    # Shop
      [1] textbox "Search" value="red"
    """
    lines = []
    for node in nodes:
        pad = "  " * node.depth
        if node.gid:
            line = f"{pad}[{node.gid}] {node.role} {_quote(node.text)}"
            if node.value is not None:
                line += f" value={_quote(node.value)}"
            if node.options:
                line += " options=[" + ", ".join(_quote(o) for o in node.options) + "]"
        elif node.role == "heading":
            line = f"{pad}# {node.text}"
        else:
            line = f"{pad}{node.text}"
        if node.box is not None:
            line += " @({},{},{},{})".format(*node.box)
        lines.append(line)
    return "\n".join(lines)


def page_nodes(page: Page, values: dict[int, str]) -> list[Node]:
    """The digest records of ``page`` with the current values of its fields (``values`` by element id)."""
    nodes = []
    for element, gid in zip(page.elements, page.gids, strict=True):
        value = None
        if element.role == "textbox":
            value = values.get(gid, element.value)
        elif element.role == "select":
            value = values.get(gid, element.value if element.value in element.options else element.options[0])
        nodes.append(Node(gid, element.role, clean(element.text), value, element.options, element.depth))
    return nodes


STYLE = """
body { font-family: sans-serif; margin: 0; background: #f4f4f1; color: #222; }
#page { max-width: 900px; margin: 0 auto; padding: 12px 20px; background: #fff; min-height: 100vh; }
h1, h2 { margin: 10px 0; } h1 { font-size: 22px; } h2 { font-size: 18px; color: #444; }
p { margin: 4px 0; }
a { color: #0b57d0; }
input[type=text] { width: 300px; padding: 5px; font-size: 14px; }
select { padding: 4px; font-size: 14px; margin: 4px 0; }
button { padding: 5px 14px; font-size: 14px; background: #f0b400; border: 1px solid #a07800; border-radius: 4px; }
.d1 { margin-left: 18px; } .d2 { margin-left: 36px; }
.nav { display: inline-block; margin-right: 14px; }
.result { display: block; padding: 6px 8px; margin: 4px 0; border: 1px solid #ddd; border-radius: 4px; }
.price { color: #b12704; font-weight: bold; }
.filter { display: inline-block; margin: 2px 8px 2px 0; font-size: 13px; }
.muted { color: #666; font-size: 13px; }
"""

_TAGS = {"heading": "h2", "text": "p"}


def to_html(page: Page) -> str:
    """The page as an HTML document whose digest (:data:`DIGEST_JS`) equals :func:`page_nodes` of it."""
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(page.title)}</title><style>{STYLE}</style></head><body><div id='page'>",
    ]
    for form in page.forms:
        hidden = "".join(
            f"<input type='hidden' name='{html.escape(n, True)}' value='{html.escape(v, True)}'>"
            for n, v in form.hidden
        )
        parts.append(
            f"<form id='{form.id}' action='{html.escape(form.action, True)}' method='{form.method}'>{hidden}</form>"
        )
    for element, gid in zip(page.elements, page.gids, strict=True):
        e = html.escape
        common = f"data-role='{element.role}' data-depth='{element.depth}' class='d{element.depth} {element.css}'"
        if gid:
            common += f" data-gid='{gid}'"
        if element.role == "link":
            parts.append(f"<a {common} href='{e(element.href, True)}'>{e(element.text)}</a>")
        elif element.role == "textbox":
            parts.append(
                f"<input type='text' {common} name='{e(element.name, True)}' form='{element.form}' "
                f"aria-label='{e(element.text, True)}' value='{e(element.value, True)}' maxlength='200' autocomplete='off'>"
            )
        elif element.role == "select":
            options = "".join(
                f"<option value='{e(o, True)}'{' selected' if o == element.value else ''}>{e(o)}</option>"
                for o in element.options
            )
            parts.append(
                f"<select {common} name='{e(element.name, True)}' form='{element.form}' "
                f"aria-label='{e(element.text, True)}'>{options}</select>"
            )
        elif element.role == "button":
            parts.append(f"<button type='submit' {common} form='{element.form}'>{e(element.text)}</button>")
        else:
            tag = "h1" if element.role == "heading" and element.depth == 0 else _TAGS[element.role]
            parts.append(f"<{tag} {common}>{e(element.text)}</{tag}>")
        if element.role in ("textbox", "select") or element.css == "nav":
            continue
        if element.role in ("link", "button"):
            parts.append("<br>" if "filter" not in element.css else "")
    parts.append("</div></body></html>")
    return "".join(parts)


DIGEST_JS = """
([withBoxes]) => {
  const out = [];
  for (const el of document.querySelectorAll('[data-role]')) {
    const role = el.dataset.role;
    const gid = el.dataset.gid ? parseInt(el.dataset.gid) : 0;
    let text, value = null, options = [];
    if (role === 'textbox') { text = el.getAttribute('aria-label'); value = el.value; }
    else if (role === 'select') {
      text = el.getAttribute('aria-label');
      options = Array.from(el.options).map(o => o.textContent.replace(/\\s+/g, ' ').trim());
      value = el.selectedIndex >= 0 ? options[el.selectedIndex] : '';
    } else { text = el.textContent.replace(/\\s+/g, ' ').trim(); }
    let box = null;
    if (withBoxes) {
      const r = el.getBoundingClientRect();
      box = [Math.round(r.left), Math.round(r.top), Math.round(r.width), Math.round(r.height)];
    }
    out.push([gid, role, text, value, options, parseInt(el.dataset.depth || '0'), box]);
  }
  return [document.title, out];
}
"""
"""Reads the shop page's title and digest records out of the live DOM: typed values, selected options and boxes
as they are."""
