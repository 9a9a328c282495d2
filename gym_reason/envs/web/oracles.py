"""Scripted agents for the web envs, reading only the observation text (and, for the shop oracle, the
catalog): :class:`ShopOracle` buys a product that satisfies the goal; :func:`miniwob_oracle` solves the
MiniWoB tasks of :data:`~gym_reason.envs.web.miniwob.TASKS`; :class:`RandomWebAgent` acts at random among
the elements on the page (a baseline, and a source of varied action sequences for tests)."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass

from gym_reason.envs.web.catalog import Catalog
from gym_reason.envs.web.tasks import Goal

_LINE = re.compile(r'^(?P<pad> *)\[(?P<gid>\d+)\] (?P<role>\S+) "(?P<text>(?:[^"\\]|\\.)*)"(?P<rest>.*)$')
_VALUE = re.compile(r'value="((?:[^"\\]|\\.)*)"')
_OPTIONS = re.compile(r'"((?:[^"\\]|\\.)*)"')


def _unquote(text: str) -> str:
    return text.replace('\\"', '"').replace("\\\\", "\\")


@dataclass(frozen=True, slots=True)
class Seen:
    """One element of an observation's digest, as an agent reads it."""

    gid: int
    role: str
    text: str
    value: str | None
    options: tuple[str, ...]


def read_page(obs: str) -> tuple[dict[str, str], list[Seen]]:
    """The head fields (``Task``, ``URL``, ``Title``, ``Error``) and the elements with ids of an observation."""
    head: dict[str, str] = {}
    elements = []
    for line in obs.splitlines():
        m = _LINE.match(line)
        if m:
            rest = re.sub(r" @\(.*\)$", "", m["rest"])
            value = _VALUE.search(rest)
            options: tuple[str, ...] = ()
            if " options=[" in rest:
                options = tuple(_unquote(o) for o in _OPTIONS.findall(rest.split(" options=[", 1)[1]))
            elements.append(
                Seen(int(m["gid"]), m["role"], _unquote(m["text"]), _unquote(value[1]) if value else None, options)
            )
        elif ": " in line and not elements and line.split(": ", 1)[0] in ("Task", "URL", "Title", "Error"):
            key, value_ = line.split(": ", 1)
            head[key] = value_
    return head, elements


def act(kind: str, **fields: object) -> str:
    return json.dumps({"action": kind, **fields})


class ShopOracle:
    """Searches for a product that satisfies the goal by its name, opens it, picks the goal's color and
    size, adds it to the cart and checks out: 7 actions, full reward."""

    def __init__(self, goal: Goal, products: Catalog) -> None:
        self.goal = goal
        self.target = next(p for p in products.products if goal.matches(p))

    def __call__(self, obs: str) -> str:
        head, elements = read_page(obs)
        url = head.get("URL", "/")

        def find(role: str, text: str) -> Seen:
            return next(e for e in elements if e.role == role and e.text.startswith(text))

        if url.startswith(f"/product/{self.target.pid}"):
            color, size = find("select", "Color"), find("select", "Size")
            if color.value != self.goal.color:
                return act("select", id=color.gid, option=self.goal.color)
            if size.value != self.goal.size:
                return act("select", id=size.gid, option=self.goal.size)
            return act("click", id=find("button", "Add to cart").gid)
        if url.startswith("/cart"):
            return act("click", id=find("link", "Checkout").gid)
        if url.startswith("/checkout"):
            return act("click", id=find("button", "Place order").gid)
        hit = [e for e in elements if e.role == "link" and e.text.startswith(self.target.name + " - $")]
        if url.startswith("/search") and hit:
            return act("click", id=hit[0].gid)
        return act("type", id=find("textbox", "Search").gid, text=self.target.name, submit=True)


class RandomWebAgent:
    """Uniform over kinds of action, then over the page's elements of the right role; ``invalid`` of the
    time a malformed or out-of-place reply instead."""

    WORDS = ("red", "cotton", "shirt", "wool", "boots", "black", "size", "linen", "dress", "cheap", "M")

    def __init__(self, seed: int, invalid: float = 0.1) -> None:
        self.rng, self.invalid = random.Random(seed), invalid

    def __call__(self, obs: str) -> str:
        rng = self.rng
        _head, elements = read_page(obs)
        if rng.random() < self.invalid:
            return rng.choice(
                ["click the button", act("click", id=999), act("select", id=1, option="nope"), "{", act("fly")]
            )
        boxes = [e for e in elements if e.role == "textbox"]
        selects = [e for e in elements if e.role == "select" and e.options]
        kind = rng.choice(["click", "click", "click", "type", "select", "scroll", "press", "go_back"])
        if kind == "type" and boxes:
            words = " ".join(rng.choice(self.WORDS) for _ in range(rng.randint(1, 3)))
            return act("type", id=rng.choice(boxes).gid, text=words, submit=rng.random() < 0.7)
        if kind == "select" and selects:
            chosen = rng.choice(selects)
            return act("select", id=chosen.gid, option=rng.choice(chosen.options))
        if kind == "scroll":
            return act("scroll", direction=rng.choice(["up", "down"]))
        if kind == "press":
            return act("press", key=rng.choice(["Enter", "Enter", "PageDown", "Escape"]))
        if kind == "go_back":
            return act("go_back")
        return act("click", id=rng.choice(elements).gid) if elements else act("scroll", direction="down")


def _quoted(task: str) -> list[str]:
    return re.findall(r'"([^"]*)"', task)


def miniwob_oracle(task_name: str, obs: str) -> str:
    """The next action that solves MiniWoB task ``task_name`` from observation ``obs`` (the instruction is on
    its ``Task:`` line). Each task is solved by a short script: type what is asked, tick what is named, then
    submit."""
    head, elements = read_page(obs)
    task = head.get("Task", "")

    def first(role: str, text: str | None = None) -> Seen:
        return next(e for e in elements if e.role == role and (text is None or e.text == text))

    boxes = [e for e in elements if e.role == "textbox"]
    submit = next((e for e in elements if e.role == "button" and e.text in ("Submit", "Login")), None)
    if task_name in ("click-test", "focus-text"):
        return act("click", id=(first("button") if task_name == "click-test" else boxes[0]).gid)
    if task_name == "click-test-2":
        return act("click", id=first("button", task.removeprefix("Click button ").rstrip(".")).gid)
    if task_name == "click-button":
        return act("click", id=first("button", _quoted(task)[0]).gid)
    if task_name == "click-link":
        target = _quoted(task)[0]
        return act("click", id=next(e for e in elements if e.text == target and e.role != "div").gid)
    if task_name == "click-dialog":
        return act("click", id=first("button", "Close").gid)
    if task_name == "click-tab":
        return act("click", id=first("link", task.removeprefix("Click on ").rstrip(".")).gid)
    if task_name == "click-collapsible":
        header = next(e for e in elements if e.role == "h3")
        panel_open = any(e.role == "div" and e.text and e.gid > header.gid for e in elements)
        return act("click", id=submit.gid) if panel_open and submit else act("click", id=header.gid)
    if task_name in ("click-option", "click-checkboxes"):
        wanted = task.removeprefix("Select ").removesuffix(" and click Submit.")
        names = set() if wanted == "nothing" else set(wanted.split(", "))
        labels = [e for e in elements if e.role == "label"]
        boxes_ = [e for e in elements if e.role in ("radio", "checkbox")]
        for label, box in zip(labels, boxes_, strict=False):
            if (label.text in names) != (box.value == "checked"):
                return act("click", id=box.gid)
        return act("click", id=submit.gid) if submit else act("scroll", direction="down")
    if task_name == "choose-list":
        choice = task.removeprefix("Select ").removesuffix(" from the list and click Submit.")
        chooser = first("select")
        if chooser.value != choice:
            return act("select", id=chooser.gid, option=choice)
        return act("click", id=submit.gid) if submit else act("scroll", direction="down")
    words = _quoted(task)
    if task_name == "enter-text-2":
        words = [words[0].upper() if "upper case" in task else words[0].lower()]
    if task_name == "enter-password":
        words = [words[0], words[0]]
    for box, word in zip(boxes, words, strict=False):
        if box.value != word:
            return act("type", id=box.gid, text=word)
    return act("click", id=submit.gid) if submit else act("scroll", direction="down")
