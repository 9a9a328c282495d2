"""The web envs' one action space: a JSON object per reply, declared per page as a JSON-schema grammar.

======================================================  =============================================
``{"action": "click", "id": 3}``                        click an element by its digest id
``{"action": "click_xy", "x": 120, "y": 48}``           click a point of the screenshot (screenshot mode)
``{"action": "type", "id": 2, "text": "red shirt",      replace a text box's text; ``submit`` (optional,
``"submit": true}``                                     default false) then presses Enter in it
``{"action": "select", "id": 7, "option": "M"}``        choose an option of a select
``{"action": "scroll", "direction": "down"}``           ``up`` or ``down`` by most of a screen
``{"action": "press", "key": "Enter"}``                 one of :data:`KEYS`, to the element last acted on
``{"action": "go_back"}``                               the previous page
``{"action": "answer", "text": "..."}``                 end the episode with an answer
======================================================  =============================================

The reply's last JSON object is read, so a model may think before it. A reply with no JSON object, an
unknown action, a missing or ill-typed field, an id that is not on the page, an option a select does
not have or a key outside :data:`KEYS` is an invalid action: scored, and explained in the next
observation. :func:`action_grammar` lists the valid actions of a page (ids by what they are, each select
with its own options, texts as :data:`GRAMMAR_TEXT`), so a decoder held to it writes only valid actions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from gym_reason.core import ActionGrammar, to_charset
from gym_reason.envs.web.page import Node

ACTIONS = ("click", "click_xy", "type", "select", "scroll", "press", "go_back", "answer")
KEYS = ("Enter", "Escape", "PageDown", "PageUp", "Home", "End")
DIRECTIONS = ("up", "down")
MAX_TEXT = 100
"""Typed text and answers are cut to this many characters."""
GRAMMAR_TEXT = {"type": "string", "maxLength": 60, "pattern": "^[ -~]*$"}
"""The texts the grammar offers: printable ASCII, at most 60 characters (the shop's catalog and MiniWoB's tasks
are ASCII, and search queries are short); the parser reads any text. Short strings also keep the grammar's
random strings (the checker plays them) cheap to draw."""
COMPACT_JSON = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
"""llguidance's options for the grammar: one spelling per action, spaced as ``json.dumps`` spaces it (the parser
reads any JSON spacing); a decoder cannot pad with whitespace, and random strings of the grammar stay short."""
ACTION_FORMAT = (
    'Reply with one JSON action: {"action": "click", "id": N} | {"action": "type", "id": N, "text": "...", '
    '"submit": true} | {"action": "select", "id": N, "option": "..."} | {"action": "scroll", "direction": '
    '"up"|"down"} | {"action": "press", "key": "Enter"} | {"action": "go_back"} | {"action": "answer", "text": "..."}'
)
XY_FORMAT = ' | {"action": "click_xy", "x": X, "y": Y} (screenshot pixels)'


@dataclass(frozen=True, slots=True)
class Action:
    kind: str
    id: int = 0
    text: str = ""
    submit: bool = False
    option: str = ""
    direction: str = ""
    key: str = ""
    x: int = 0
    y: int = 0

    def canonical(self) -> str:
        """The action as compact JSON (``info['parsed_action']``)."""
        fields: dict[str, object] = {"action": self.kind}
        if self.kind == "click_xy":
            fields |= {"x": self.x, "y": self.y}
        elif self.kind in ("click", "type", "select"):
            fields["id"] = self.id
        if self.kind in ("type", "answer"):
            fields["text"] = self.text
        if self.kind == "type":
            fields["submit"] = self.submit
        if self.kind == "select":
            fields["option"] = self.option
        if self.kind == "scroll":
            fields["direction"] = self.direction
        if self.kind == "press":
            fields["key"] = self.key
        return json.dumps(fields, ensure_ascii=False)


class BadAction(ValueError):
    """A reply that is not a valid action here; the message goes into the next observation."""


def _last_json_object(text: str) -> dict:
    """The JSON object that ends ``text`` (after optional thinking), or :class:`BadAction`."""
    stripped = text.strip()
    if len(stripped) > 20_000:
        raise BadAction("the reply is over 20,000 characters")
    decoder = json.JSONDecoder()
    starts = [i for i, c in enumerate(stripped) if c == "{"][-200:]
    for start in starts:
        try:
            value, end = decoder.raw_decode(stripped, start)
        except json.JSONDecodeError:
            continue
        if end == len(stripped) and isinstance(value, dict):
            return value
    raise BadAction('no JSON action at the end of the reply; write e.g. {"action": "click", "id": 3}')


def _field(obj: dict, name: str, kind: type) -> object:
    if name not in obj:
        raise BadAction(f"{obj.get('action')!r} needs the field {name!r}")
    value = obj[name]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise BadAction(f"{name!r} must be an integer, got {json.dumps(value)[:40]}")
    if kind is not int and not isinstance(value, kind):
        raise BadAction(f"{name!r} must be a {kind.__name__}, got {json.dumps(value)[:40]}")
    return value


def _typed_text(value: object) -> str:
    """Text as typed: cut to :data:`MAX_TEXT`, line breaks as spaces, escapes for characters observations lack."""
    text = str(value)[:MAX_TEXT]
    return to_charset(text.replace("\r", " ").replace("\n", " ").replace("\t", " "))


def parse_action(reply: str, nodes: list[Node], screenshot: bool) -> Action:
    """Read ``reply`` against the page's digest ``nodes``; raises :class:`BadAction` saying what is wrong."""
    obj = _last_json_object(reply)
    kind = obj.get("action")
    if kind not in ACTIONS:
        raise BadAction(f"unknown action {json.dumps(kind)[:40]}; actions: {', '.join(ACTIONS)}")
    allowed = {"action"} | {
        "click": {"id"},
        "click_xy": {"x", "y"},
        "type": {"id", "text", "submit"},
        "select": {"id", "option"},
        "scroll": {"direction"},
        "press": {"key"},
        "go_back": set(),
        "answer": {"text"},
    }[kind]
    extra = sorted(set(obj) - allowed)
    if extra:
        raise BadAction(f"{kind!r} takes no field {extra[0]!r}; its fields: {', '.join(sorted(allowed))}")
    if kind == "click_xy":
        if not screenshot:
            raise BadAction("click_xy needs screenshot mode (obs_mode='text+screenshot'); click elements by id")
        return Action(kind, x=int(_field(obj, "x", int)), y=int(_field(obj, "y", int)))  # type: ignore[call-overload]
    if kind in ("click", "type", "select"):
        gid = _field(obj, "id", int)
        node = next((n for n in nodes if n.gid == gid and n.gid), None)
        if node is None:
            ids = [n.gid for n in nodes if n.gid]
            where = f"ids on this page: {ids[0]}-{ids[-1]}" if ids else "this page has no elements with ids"
            raise BadAction(f"there is no element [{gid}] on this page ({where})")
        if kind == "type":
            if node.role != "textbox":
                raise BadAction(f"[{gid}] is a {node.role}, not a text box: type into a textbox")
            submit = obj.get("submit", False)
            if not isinstance(submit, bool):
                raise BadAction(f"'submit' must be true or false, got {json.dumps(submit)[:40]}")
            text = _field(obj, "text", str)
            return Action(kind, id=node.gid, text=_typed_text(text), submit=submit)
        if kind == "select":
            if node.role != "select":
                raise BadAction(f"[{gid}] is a {node.role}, not a select")
            option = _field(obj, "option", str)
            if option not in node.options:
                raise BadAction(f"[{gid}] has no option {json.dumps(option)[:60]}; options: {list(node.options)}")
            return Action(kind, id=node.gid, option=str(option))
        return Action(kind, id=node.gid)
    if kind == "scroll":
        direction = _field(obj, "direction", str)
        if direction not in DIRECTIONS:
            raise BadAction(f"scroll direction must be 'up' or 'down', got {json.dumps(direction)[:40]}")
        return Action(kind, direction=str(direction))
    if kind == "press":
        key = _field(obj, "key", str)
        if key not in KEYS:
            raise BadAction(f"key must be one of {', '.join(KEYS)}, got {json.dumps(key)[:40]}")
        return Action(kind, key=str(key))
    if kind == "answer":
        return Action(kind, text=_typed_text(_field(obj, "text", str)))
    return Action(kind)


def action_grammar(
    nodes: list[Node], screenshot: bool, viewport: tuple[int, int], can_go_back: bool = True
) -> ActionGrammar:
    """The JSON schema of the valid actions on a page with digest ``nodes`` (``go_back`` only where
    there is a page to go back to)."""

    def obj(action: str, **props: dict) -> dict:
        return {
            "type": "object",
            "properties": {"action": {"const": action}, **props},
            "required": ["action", *props],
            "additionalProperties": False,
        }

    text = GRAMMAR_TEXT
    clickable = [n.gid for n in nodes if n.gid]
    boxes = [n.gid for n in nodes if n.gid and n.role == "textbox"]
    choices: list[dict] = []
    if clickable:
        choices.append(obj("click", id={"enum": clickable}))
    if boxes:
        choices.append(obj("type", id={"enum": boxes}, text=text, submit={"type": "boolean"}))
    for n in nodes:
        if n.gid and n.role == "select" and n.options:
            choices.append(obj("select", id={"const": n.gid}, option={"enum": list(n.options)}))
    choices += [
        obj("scroll", direction={"enum": list(DIRECTIONS)}),
        obj("press", key={"enum": list(KEYS)}),
        *([obj("go_back")] if can_go_back else []),
        obj("answer", text=text),
    ]
    if screenshot:
        width, height = viewport
        x = {"type": "integer", "minimum": 0, "maximum": width - 1}
        y = {"type": "integer", "minimum": 0, "maximum": height - 1}
        choices.append(obj("click_xy", x=x, y=y))
    return ActionGrammar.json_schema({"anyOf": choices, "x-guidance": COMPACT_JSON})
