"""The tool-use world: fixed tables (cities, products, employees, exchange rates, units) and the tools
that read them. Pure functions of their arguments; nothing here knows about prompts or rewards.

The entity tables are generated once from a fixed seed, so every process sees the same world. Each
table's entities are split by construction: even rows serve the ``train`` split's questions, odd rows
the ``test`` split's (:func:`entities`); the tools serve every row, as a real database would.
"""

from __future__ import annotations

import ast
import datetime
import functools
import math
import operator
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gym_reason.envs.tool_calls import Param, ToolError, ToolSpec

SPLITS = ("train", "test")

CURRENCY_TO_USD: Mapping[str, float] = {
    "USD": 1.0,
    "EUR": 1.08,
    "GBP": 1.27,
    "JPY": 0.0067,
    "CHF": 1.12,
    "CAD": 0.74,
}
"""Fixed exchange rates: one unit of the currency in US dollars."""

UNITS: Mapping[str, tuple[str, float]] = {
    "m": ("length", 1.0),
    "km": ("length", 1000.0),
    "cm": ("length", 0.01),
    "mi": ("length", 1609.344),
    "ft": ("length", 0.3048),
    "in": ("length", 0.0254),
    "kg": ("mass", 1.0),
    "g": ("mass", 0.001),
    "lb": ("mass", 0.45359237),
    "oz": ("mass", 0.028349523125),
    "l": ("volume", 1.0),
    "ml": ("volume", 0.001),
    "gal": ("volume", 3.785411784),
    "C": ("temperature", 1.0),
    "F": ("temperature", 1.0),
    "K": ("temperature", 1.0),
}
"""Unit name -> (dimension, size in the dimension's base unit); temperatures convert affinely."""

COUNTRIES = ("Aldoria", "Brevant", "Corvalis", "Dunmere", "Estavia", "Fenwick", "Galdor", "Hestia")
DEPARTMENTS = ("engineering", "finance", "legal", "marketing", "research", "sales")
CITY_FIELDS = ("country", "population", "elevation_m", "founded")
PRODUCT_FIELDS = ("price", "currency", "weight_kg", "stock")
EMPLOYEE_FIELDS = ("department", "salary_eur", "start_date", "city")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_WORLD_SEED = 20_240_615
_CITY_COUNT, _PRODUCT_COUNT, _EMPLOYEE_COUNT = 240, 240, 240
_ONSETS = ("b", "br", "d", "dr", "f", "g", "k", "l", "m", "n", "p", "r", "s", "st", "t", "v", "z", "th", "c", "h")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "io")
_CITY_ENDS = ("holm", "ford", "stad", "mouth", "burg", "vale", "port", "wick")
_PRODUCT_KINDS = ("Lamp", "Kettle", "Chair", "Drill", "Radio", "Blender", "Helmet", "Tent", "Clock", "Scale")
_FIRST = ("Ada", "Bram", "Cleo", "Dov", "Eli", "Faye", "Gus", "Hana", "Ivo", "Juno", "Kai", "Lena", "Milo", "Nia")


def _syllables(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(count))


@dataclass(frozen=True, slots=True)
class World:
    """The tables: name -> row (a dict of field -> value), in generation order."""

    cities: Mapping[str, Mapping[str, Any]]
    products: Mapping[str, Mapping[str, Any]]
    employees: Mapping[str, Mapping[str, Any]]


def _unique(rng: random.Random, count: int, make: Callable[[random.Random], str]) -> list[str]:
    names: dict[str, None] = {}
    while len(names) < count:
        names.setdefault(make(rng), None)
    return list(names)


@functools.cache
def world() -> World:
    """The world every tool-use episode shares (built once per process, ~10 ms)."""
    rng = random.Random(_WORLD_SEED)
    cities: dict[str, dict[str, Any]] = {}
    for name in _unique(rng, _CITY_COUNT, lambda r: (_syllables(r, 2) + r.choice(_CITY_ENDS)).capitalize()):
        cities[name] = {
            "country": rng.choice(COUNTRIES),
            "population": rng.randrange(5_000, 3_000_000),
            "elevation_m": rng.randrange(0, 2_500),
            "founded": rng.randrange(800, 1950),
        }
    products: dict[str, dict[str, Any]] = {}
    for name in _unique(rng, _PRODUCT_COUNT, lambda r: f"{_syllables(r, 2).capitalize()} {r.choice(_PRODUCT_KINDS)}"):
        currency = rng.choice(sorted(CURRENCY_TO_USD))
        scale = 150.0 if currency == "JPY" else 1.0
        products[name] = {
            "price": round(rng.uniform(5, 900) * scale, 0 if currency == "JPY" else 2),
            "currency": currency,
            "weight_kg": round(rng.uniform(0.1, 40), 2),
            "stock": rng.randrange(0, 500),
        }
    city_names = list(cities)
    employees: dict[str, dict[str, Any]] = {}
    first_day = datetime.date(2000, 1, 1)
    for name in _unique(rng, _EMPLOYEE_COUNT, lambda r: f"{r.choice(_FIRST)} {_syllables(r, 2).capitalize()}"):
        employees[name] = {
            "department": rng.choice(DEPARTMENTS),
            "salary_eur": rng.randrange(30, 160) * 1000,
            "start_date": (first_day + datetime.timedelta(days=rng.randrange(0, 9000))).isoformat(),
            "city": rng.choice(city_names),
        }
    return World(cities, products, employees)


@functools.cache
def entities(table: str, split: str) -> tuple[str, ...]:
    """The names of ``table`` (``cities``, ``products`` or ``employees``) that questions of ``split`` use:
    even rows for ``train``, odd rows for ``test``, so the splits share no entity."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    names = list(getattr(world(), table))
    return tuple(names[SPLITS.index(split) :: 2])


# --------------------------------------------------------------------------- the tools


def number(value: float) -> int | float:
    """A tool result as JSON shows it: an integer when it is whole, else rounded to 6 decimals.

    >>> number(3.0), number(2.5), number(1 / 3)
    (3, 2.5, 0.333333)
    """
    rounded = round(value, 6)
    return int(rounded) if rounded == int(rounded) and abs(rounded) < 2**53 else rounded


_BINARY: Mapping[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_MAX_MAGNITUDE = 1e15


@functools.lru_cache(maxsize=4096)
def evaluate(expression: str) -> float:
    """The value of an arithmetic expression: numbers, ``+ - * / % **`` and parentheses, nothing else
    (no names, calls or attributes: the calculator cannot reach anything outside itself).

    >>> evaluate("2 * (3 + 4) - 1.5")
    12.5
    """
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError):
        raise ToolError(f"cannot parse the expression {expression[:80]!r}; use numbers, + - * / % ** and ( )") from None
    return _eval(tree.body, depth=0)


def _eval(node: ast.AST, depth: int) -> float:
    if depth > 50:
        raise ToolError("the expression is nested too deeply")
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float) and not isinstance(node.value, bool):
        value = float(node.value)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        inner = _eval(node.operand, depth + 1)
        value = -inner if isinstance(node.op, ast.USub) else inner
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, depth + 1), _eval(node.right, depth + 1)
        if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > 1e6):
            raise ToolError("powers are limited to exponents of at most 64 and bases of at most 1e6")
        if isinstance(node.op, ast.Div | ast.Mod) and right == 0:
            raise ToolError("division by zero")
        try:
            value = float(_BINARY[type(node.op)](left, right))
        except (OverflowError, ZeroDivisionError, ValueError, TypeError):  # TypeError: a complex power
            raise ToolError("the expression has no finite real value") from None
    else:
        raise ToolError(
            f"the calculator reads numbers and + - * / % ** ( ) only, not {type(node).__name__}; "
            "names, calls and attributes are not allowed"
        )
    if not math.isfinite(value) or abs(value) > _MAX_MAGNITUDE:
        raise ToolError(f"the result is outside the calculator's range (magnitude at most {_MAX_MAGNITUDE:g})")
    return value


def _row(table: Mapping[str, Mapping[str, Any]], kind: str, name: str) -> Mapping[str, Any]:
    row = table.get(name)
    if row is None:
        raise ToolError(f"no {kind} named {name[:80]!r} in the table; names are case-sensitive")
    return row


def _date(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise ToolError(f"{text[:40]!r} is not a date in the form YYYY-MM-DD") from None


def convert_units(value: float, from_unit: str, to_unit: str) -> float:
    """``value`` in ``from_unit`` expressed in ``to_unit`` (same dimension), rounded to 4 decimals.

    >>> convert_units(100, "C", "F"), convert_units(1, "mi", "km")
    (212.0, 1.6093)
    """
    (dim_from, size_from), (dim_to, size_to) = UNITS[from_unit], UNITS[to_unit]
    if dim_from != dim_to:
        raise ToolError(f"cannot convert {dim_from} ({from_unit}) to {dim_to} ({to_unit})")
    if dim_from == "temperature":
        kelvin = {"C": value + 273.15, "F": (value - 32) * 5 / 9 + 273.15, "K": value}[from_unit]
        result = {"C": kelvin - 273.15, "F": (kelvin - 273.15) * 9 / 5 + 32, "K": kelvin}[to_unit]
    else:
        result = value * size_from / size_to
    return round(result, 4)


def convert_currency(amount: float, from_currency: str, to_currency: str) -> float:
    """``amount`` converted at the fixed rates, rounded to cents.

    >>> convert_currency(100, "EUR", "USD")
    108.0
    """
    return round(amount * CURRENCY_TO_USD[from_currency] / CURRENCY_TO_USD[to_currency], 2)


def _date_add(date: str, days: int) -> str:
    try:
        return (_date(date) + datetime.timedelta(days=days)).isoformat()
    except OverflowError:
        raise ToolError("the resulting date is out of range (years 1..9999)") from None


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "calculate",
        "Evaluate an arithmetic expression (numbers, + - * / % ** and parentheses).",
        (("expression", Param("string", "the expression, e.g. '12 * (3 + 4)'", max_length=200)),),
    ),
    ToolSpec(
        "convert_units",
        "Convert a quantity between units of length, mass, volume or temperature (rounded to 4 decimals).",
        (
            ("value", Param("number", "the quantity", minimum=-1e12, maximum=1e12)),
            ("from_unit", Param("string", "its unit", enum=tuple(UNITS))),
            ("to_unit", Param("string", "the unit wanted", enum=tuple(UNITS))),
        ),
    ),
    ToolSpec(
        "convert_currency",
        "Convert money at fixed exchange rates (rounded to cents).",
        (
            ("amount", Param("number", "the amount", minimum=-1e12, maximum=1e12)),
            ("from_currency", Param("string", "its currency", enum=tuple(CURRENCY_TO_USD))),
            ("to_currency", Param("string", "the currency wanted", enum=tuple(CURRENCY_TO_USD))),
        ),
    ),
    ToolSpec(
        "date_add",
        "The date a number of days after (or, negative, before) a date.",
        (
            ("date", Param("string", "a date YYYY-MM-DD", max_length=10)),
            ("days", Param("integer", "days to add", minimum=-100_000, maximum=100_000)),
        ),
    ),
    ToolSpec(
        "days_between",
        "The number of days from start to end (negative when end is earlier).",
        (
            ("start", Param("string", "a date YYYY-MM-DD", max_length=10)),
            ("end", Param("string", "a date YYYY-MM-DD", max_length=10)),
        ),
    ),
    ToolSpec(
        "weekday",
        "The day of the week of a date.",
        (("date", Param("string", "a date YYYY-MM-DD", max_length=10)),),
    ),
    ToolSpec(
        "lookup_city",
        "Look up a field of a city in the city table.",
        (
            ("city", Param("string", "the city's name", max_length=40)),
            ("field", Param("string", "the field", enum=CITY_FIELDS)),
        ),
    ),
    ToolSpec(
        "lookup_product",
        "Look up a field of a product in the catalogue (price is in the product's own currency).",
        (
            ("product", Param("string", "the product's name", max_length=40)),
            ("field", Param("string", "the field", enum=PRODUCT_FIELDS)),
        ),
    ),
    ToolSpec(
        "lookup_employee",
        "Look up a field of an employee in the staff table (salary_eur is yearly, in euros).",
        (
            ("employee", Param("string", "the employee's full name", max_length=40)),
            ("field", Param("string", "the field", enum=EMPLOYEE_FIELDS)),
        ),
    ),
    ToolSpec(
        "answer",
        "Give the final answer (a number, a date or a word). Ends the episode.",
        (("value", Param("string", "the answer", max_length=100)),),
        final=True,
    ),
)
"""The tools of ``ToolUse``, in the order they are described to the model."""

IMPLEMENTATIONS: Mapping[str, Callable[..., Any]] = {
    "calculate": lambda expression: number(evaluate(expression)),
    "convert_units": lambda value, from_unit, to_unit: number(convert_units(value, from_unit, to_unit)),
    "convert_currency": lambda amount, from_currency, to_currency: number(
        convert_currency(amount, from_currency, to_currency)
    ),
    "date_add": _date_add,
    "days_between": lambda start, end: (_date(end) - _date(start)).days,
    "weekday": lambda date: WEEKDAYS[_date(date).weekday()],
    "lookup_city": lambda city, field: _row(world().cities, "city", city)[field],
    "lookup_product": lambda product, field: _row(world().products, "product", product)[field],
    "lookup_employee": lambda employee, field: _row(world().employees, "employee", employee)[field],
}
"""The non-final tools: name -> function of the call's arguments, raising :class:`ToolError` when it cannot serve."""


def run_tool(name: str, arguments: Mapping[str, Any]) -> Any:
    """The result of a validated call of a non-final tool (a JSON value), or :class:`ToolError`."""
    return IMPLEMENTATIONS[name](**arguments)
