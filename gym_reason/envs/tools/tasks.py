"""Tool-use tasks: question templates at three levels, each with the plan that solves it.

A template draws its parameters (:attr:`Template.draw`) and states the question; its plan is a list
of steps, each a function of the parameters and the results of the steps before it that returns the
next call, and an answer function of the same. Generating a task runs the plan against the real
tools (:func:`~gym_reason.envs.tools.world.run_tool`), which gives the gold call sequence and the
answer; the scripted oracle follows the same plan, reading the results it was shown. So gold calls,
answers and the oracle cannot disagree.

Levels: 1 needs one call, 2 needs two or three (the later ones use earlier results), 3 needs four to
seven. Splits are disjoint by construction: questions about entities use only their split's rows
(:func:`~gym_reason.envs.tools.world.entities`), and the others draw their salient number with the
split's parity (even for ``train``, odd for ``test``: an amount's whole part, a date's ordinal day).
"""

from __future__ import annotations

import datetime
import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gym_reason.envs.tool_calls import ToolCall, ToolError
from gym_reason.envs.tools import world as w

Step = Callable[[Mapping[str, Any], Sequence[Any]], ToolCall]
Answer = Callable[[Mapping[str, Any], Sequence[Any]], Any]


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    level: int
    draw: Callable[[random.Random, str], dict[str, Any]]
    """``draw(rng, split) -> params`` (JSON-able), with ``params["question"]`` the statement."""
    steps: tuple[Step, ...]
    answer: Answer


@dataclass(frozen=True, slots=True)
class Task:
    template: str
    level: int
    statement: str
    params: Mapping[str, Any]
    gold_calls: tuple[ToolCall, ...]
    answer: str
    numeric: bool


def answer_text(value: Any) -> str:
    """A result as the answer string: numbers as JSON writes them, text as it is.

    >>> answer_text(12.5), answer_text(7), answer_text("Monday")
    ('12.5', '7', 'Monday')
    """
    return value if isinstance(value, str) else json.dumps(value)


def next_call(template: Template, params: Mapping[str, Any], results: Sequence[Any]) -> ToolCall:
    """The plan's next call after ``results`` (the results of its earlier steps): a tool, or ``answer``."""
    if len(results) < len(template.steps):
        return template.steps[len(results)](params, results)
    return ToolCall("answer", {"value": answer_text(template.answer(params, results))})


def generate(template: Template, rng: random.Random, split: str) -> Task:
    """A task of ``template``: draw parameters until the plan runs without a tool error (it always
    does for the built-in templates; the loop guards against a draw a table cannot serve)."""
    for _ in range(100):
        params = template.draw(rng, split)
        results: list[Any] = []
        calls: list[ToolCall] = []
        try:
            while (call := next_call(template, params, results)).name != "answer":
                calls.append(call)
                results.append(w.run_tool(call.name, call.arguments))
        except ToolError:
            continue
        value = call.arguments["value"]
        numeric = not isinstance(template.answer(params, results), str)
        return Task(template.name, template.level, params["question"], params, tuple(calls), value, numeric)
    raise RuntimeError(f"template {template.name!r} drew 100 tasks its own plan cannot solve")


# --------------------------------------------------------------------------- drawing helpers


def _parity_int(rng: random.Random, low: int, high: int, split: str) -> int:
    """An integer in ``[low, high)`` whose parity is the split's (even: train, odd: test)."""
    value = rng.randrange(low, high)
    return value if value % 2 == w.SPLITS.index(split) else value + 1


def _parity_date(rng: random.Random, split: str, first: int = 1990, last: int = 2030) -> str:
    start = datetime.date(first, 1, 1).toordinal()
    end = datetime.date(last, 12, 31).toordinal()
    return datetime.date.fromordinal(_parity_int(rng, start, end, split)).isoformat()


def _amount(rng: random.Random, split: str) -> float:
    return _parity_int(rng, 1, 2000, split) + rng.randrange(0, 100) / 100


def _pick(rng: random.Random, table: str, split: str, count: int = 1) -> list[str]:
    return rng.sample(w.entities(table, split), count)


_FIELD_WORDS = {
    "country": "In which country is {city}?",
    "population": "What is the population of {city}?",
    "elevation_m": "What is the elevation of {city}, in metres?",
    "founded": "In which year was {city} founded?",
}


def _call(name: str, **arguments: Any) -> ToolCall:
    return ToolCall(name, arguments)


# --------------------------------------------------------------------------- level 1: one call


def _city_fact(rng: random.Random, split: str) -> dict[str, Any]:
    (city,) = _pick(rng, "cities", split)
    field = rng.choice(w.CITY_FIELDS)
    return {"city": city, "field": field, "question": _FIELD_WORDS[field].format(city=city)}


def _unit_convert(rng: random.Random, split: str) -> dict[str, Any]:
    dimension = rng.choice(["length", "mass", "volume", "temperature"])
    units = [u for u, (d, _) in w.UNITS.items() if d == dimension]
    source, target = rng.sample(units, 2)
    value = _amount(rng, split)
    return {
        "value": value,
        "from_unit": source,
        "to_unit": target,
        "question": f"Convert {answer_text(value)} {source} to {target} (rounded to 4 decimals).",
    }


def _currency_convert(rng: random.Random, split: str) -> dict[str, Any]:
    source, target = rng.sample(sorted(w.CURRENCY_TO_USD), 2)
    amount = _amount(rng, split)
    return {
        "amount": amount,
        "from": source,
        "to": target,
        "question": f"How much is {answer_text(amount)} {source} in {target}, at the fixed rates (to the cent)?",
    }


def _weekday_of(rng: random.Random, split: str) -> dict[str, Any]:
    date = _parity_date(rng, split)
    return {"date": date, "question": f"Which day of the week is {date}?"}


def _date_shift(rng: random.Random, split: str) -> dict[str, Any]:
    date = _parity_date(rng, split)
    days = rng.choice([-1, 1]) * rng.randrange(2, 800)
    word = "after" if days > 0 else "before"
    return {"date": date, "days": days, "question": f"Which date (YYYY-MM-DD) is {abs(days)} days {word} {date}?"}


def _arithmetic(rng: random.Random, split: str) -> dict[str, Any]:
    a, b, c = _parity_int(rng, 10, 999, split), rng.randrange(2, 99), rng.randrange(1, 999)
    expression = rng.choice([f"{a} * {b} - {c}", f"({a} + {c}) * {b}", f"{a} * {b} + {c} * {c}"])
    return {"expression": expression, "question": f"Compute {expression}."}


# --------------------------------------------------------------------------- level 2: two or three calls


def _product_price_in(rng: random.Random, split: str) -> dict[str, Any]:
    (product,) = _pick(rng, "products", split)
    own = w.world().products[product]["currency"]
    target = rng.choice([c for c in sorted(w.CURRENCY_TO_USD) if c != own])
    return {"product": product, "to": target, "question": f"What does one {product} cost in {target}?"}


def _employee_weekday(rng: random.Random, split: str) -> dict[str, Any]:
    (employee,) = _pick(rng, "employees", split)
    return {"employee": employee, "question": f"On which day of the week did {employee} start working here?"}


def _city_population_sum(rng: random.Random, split: str) -> dict[str, Any]:
    first, second = _pick(rng, "cities", split, 2)
    return {"cities": [first, second], "question": f"How many people live in {first} and {second} together?"}


def _days_since_start(rng: random.Random, split: str) -> dict[str, Any]:
    (employee,) = _pick(rng, "employees", split)
    date = _parity_date(rng, split, 2025, 2026)
    return {
        "employee": employee,
        "date": date,
        "question": f"How many days are there from {employee}'s start date to {date}?",
    }


# --------------------------------------------------------------------------- level 3: four to seven calls


def _order_total(rng: random.Random, split: str) -> dict[str, Any]:
    first, second = _pick(rng, "products", split, 2)
    counts = [rng.randrange(1, 6), rng.randrange(1, 6)]
    target = rng.choice(sorted(w.CURRENCY_TO_USD))
    return {
        "products": [first, second],
        "counts": counts,
        "to": target,
        "question": (
            f"An order holds {counts[0]} x {first} and {counts[1]} x {second}. What does it cost in {target}, "
            "converting each product's price first (to the cent) and then adding?"
        ),
    }


def _salary_sum_in(rng: random.Random, split: str) -> dict[str, Any]:
    first, second = _pick(rng, "employees", split, 2)
    target = rng.choice([c for c in sorted(w.CURRENCY_TO_USD) if c != "EUR"])
    return {
        "employees": [first, second],
        "to": target,
        "question": f"What do {first} and {second} earn together in a year, in {target}?",
    }


def _elevation_gap_ft(rng: random.Random, split: str) -> dict[str, Any]:
    names = w.entities("employees", split)
    first = rng.choice(names)
    staff = w.world().employees
    second = rng.choice([n for n in names if staff[n]["city"] != staff[first]["city"]])
    return {
        "employees": [first, second],
        "question": (
            f"How many feet higher is the city where {first} works than the city where {second} works "
            "(negative if lower; metres converted to feet, 4 decimals)?"
        ),
    }


def _later_start_weekday(rng: random.Random, split: str) -> dict[str, Any]:
    first, second = _pick(rng, "employees", split, 2)
    days = rng.randrange(10, 500)
    return {
        "employees": [first, second],
        "days": days,
        "question": (
            f"Of {first} and {second}, take whoever started later. On which day of the week fell the day "
            f"{days} days after their start date?"
        ),
    }


def _later(p: Mapping[str, Any], r: Sequence[Any]) -> str:
    return r[1] if r[2] > 0 else r[0]  # days_between(first, second) > 0: the second started later


TEMPLATES: tuple[Template, ...] = (
    Template(
        "city_fact", 1, _city_fact, (lambda p, r: _call("lookup_city", city=p["city"], field=p["field"]),),
        lambda p, r: r[0],
    ),
    Template(
        "unit_convert", 1, _unit_convert,
        (lambda p, r: _call("convert_units", value=p["value"], from_unit=p["from_unit"], to_unit=p["to_unit"]),),
        lambda p, r: r[0],
    ),
    Template(
        "currency_convert", 1, _currency_convert,
        (lambda p, r: _call("convert_currency", amount=p["amount"], from_currency=p["from"], to_currency=p["to"]),),
        lambda p, r: r[0],
    ),
    Template("weekday_of", 1, _weekday_of, (lambda p, r: _call("weekday", date=p["date"]),), lambda p, r: r[0]),
    Template(
        "date_shift", 1, _date_shift, (lambda p, r: _call("date_add", date=p["date"], days=p["days"]),),
        lambda p, r: r[0],
    ),
    Template(
        "arithmetic", 1, _arithmetic, (lambda p, r: _call("calculate", expression=p["expression"]),),
        lambda p, r: r[0],
    ),
    Template(
        "product_price_in", 2, _product_price_in,
        (
            lambda p, r: _call("lookup_product", product=p["product"], field="price"),
            lambda p, r: _call("lookup_product", product=p["product"], field="currency"),
            lambda p, r: _call("convert_currency", amount=r[0], from_currency=r[1], to_currency=p["to"]),
        ),
        lambda p, r: r[2],
    ),
    Template(
        "employee_weekday", 2, _employee_weekday,
        (
            lambda p, r: _call("lookup_employee", employee=p["employee"], field="start_date"),
            lambda p, r: _call("weekday", date=r[0]),
        ),
        lambda p, r: r[1],
    ),
    Template(
        "city_population_sum", 2, _city_population_sum,
        (
            lambda p, r: _call("lookup_city", city=p["cities"][0], field="population"),
            lambda p, r: _call("lookup_city", city=p["cities"][1], field="population"),
            lambda p, r: _call("calculate", expression=f"{r[0]} + {r[1]}"),
        ),
        lambda p, r: r[2],
    ),
    Template(
        "days_since_start", 2, _days_since_start,
        (
            lambda p, r: _call("lookup_employee", employee=p["employee"], field="start_date"),
            lambda p, r: _call("days_between", start=r[0], end=p["date"]),
        ),
        lambda p, r: r[1],
    ),
    Template(
        "order_total", 3, _order_total,
        (
            lambda p, r: _call("lookup_product", product=p["products"][0], field="price"),
            lambda p, r: _call("lookup_product", product=p["products"][0], field="currency"),
            lambda p, r: _call("lookup_product", product=p["products"][1], field="price"),
            lambda p, r: _call("lookup_product", product=p["products"][1], field="currency"),
            lambda p, r: _call("convert_currency", amount=r[0], from_currency=r[1], to_currency=p["to"]),
            lambda p, r: _call("convert_currency", amount=r[2], from_currency=r[3], to_currency=p["to"]),
            lambda p, r: _call("calculate", expression=f"{p['counts'][0]} * {r[4]} + {p['counts'][1]} * {r[5]}"),
        ),
        lambda p, r: round(r[6], 2),
    ),
    Template(
        "salary_sum_in", 3, _salary_sum_in,
        (
            lambda p, r: _call("lookup_employee", employee=p["employees"][0], field="salary_eur"),
            lambda p, r: _call("lookup_employee", employee=p["employees"][1], field="salary_eur"),
            lambda p, r: _call("calculate", expression=f"{r[0]} + {r[1]}"),
            lambda p, r: _call("convert_currency", amount=r[2], from_currency="EUR", to_currency=p["to"]),
        ),
        lambda p, r: r[3],
    ),
    Template(
        "elevation_gap_ft", 3, _elevation_gap_ft,
        (
            lambda p, r: _call("lookup_employee", employee=p["employees"][0], field="city"),
            lambda p, r: _call("lookup_employee", employee=p["employees"][1], field="city"),
            lambda p, r: _call("lookup_city", city=r[0], field="elevation_m"),
            lambda p, r: _call("lookup_city", city=r[1], field="elevation_m"),
            lambda p, r: _call("calculate", expression=f"{r[2]} - {r[3]}"),
            lambda p, r: _call("convert_units", value=r[4], from_unit="m", to_unit="ft"),
        ),
        lambda p, r: r[5],
    ),
    Template(
        "later_start_weekday", 3, _later_start_weekday,
        (
            lambda p, r: _call("lookup_employee", employee=p["employees"][0], field="start_date"),
            lambda p, r: _call("lookup_employee", employee=p["employees"][1], field="start_date"),
            lambda p, r: _call("days_between", start=r[0], end=r[1]),
            lambda p, r: _call("date_add", date=_later(p, r), days=p["days"]),
            lambda p, r: _call("weekday", date=r[3]),
        ),
        lambda p, r: r[4],
    ),
)  # fmt: skip
"""Every template; :data:`BY_NAME` indexes them."""

BY_NAME: Mapping[str, Template] = {t.name: t for t in TEMPLATES}
BY_LEVEL: Mapping[int, tuple[Template, ...]] = {
    level: tuple(t for t in TEMPLATES if t.level == level) for level in (1, 2, 3)
}


def answers_match(given: str, task: Task) -> bool:
    """Whether ``given`` answers ``task``: numbers within half a cent (or a millionth, relatively),
    text equal after trimming and case-folding.

    >>> t = Task("x", 1, "q", {}, (), "12.5", True)
    >>> answers_match(" 12.50 ", t), answers_match("12.6", t), answers_match("twelve", t)
    (True, False, False)
    """
    given = given.strip()
    if task.numeric:
        try:
            value, gold = float(given.replace(",", "")), float(task.answer)
        except ValueError:
            return False
        return abs(value - gold) <= max(0.005, 1e-6 * abs(gold))
    return given.casefold() == task.answer.casefold()


def values_match(tool: str, key: str, given: Any, gold: Any) -> bool:
    """Whether an argument value matches the gold call's: numbers within a millionth (relatively),
    strings after trimming and case-folding, and a calculator expression by its value."""
    if tool == "calculate" and key == "expression":
        try:
            return abs(w.evaluate(given) - w.evaluate(gold)) <= 1e-6 * max(1.0, abs(w.evaluate(gold)))
        except ToolError:
            return False
    if isinstance(gold, bool) or isinstance(given, bool):
        return given is gold
    if isinstance(gold, int | float) and isinstance(given, int | float):
        return abs(given - gold) <= 1e-6 * max(1.0, abs(gold))
    if isinstance(gold, str) and isinstance(given, str):
        return given.strip().casefold() == gold.strip().casefold()
    return False
