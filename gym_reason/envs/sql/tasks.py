"""Text-to-SQL questions: templates per schema at three levels, each with its gold SQL and how results
compare (``ordered`` when the question asks for an order, ``set`` for "which ...", else ``bag``).

Level 1 reads one table (a filter, an aggregate, a sort); level 2 joins two tables or groups; level 3
joins three or more, nests a query, or groups with a condition. Parameters are values drawn from the
task's database (a city that exists, a course that has students), and a draw whose gold result is
empty is drawn again, so an empty result never answers a question.
"""

from __future__ import annotations

import random
import re
import sqlite3
import string
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gym_reason.envs.sql.databases import Database

COMPARE_MODES = ("ordered", "bag", "set")


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    schema: str
    level: int
    compare: str
    question: str
    """A format string over the parameters."""
    sql: str
    """The gold query, a format string over the parameters (strings quoted with :func:`quote`)."""
    draw: Callable[[random.Random, sqlite3.Connection], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Task:
    template: str
    level: int
    database: str
    statement: str
    params: Mapping[str, Any]
    gold_sql: str
    compare: str
    gold_rows: tuple[tuple[Any, ...], ...]


def quote(text: str) -> str:
    """An SQL string literal.

    >>> quote("O'Hara")
    "'O''Hara'"
    """
    return "'" + text.replace("'", "''") + "'"


def _one(rng: random.Random, db: sqlite3.Connection, sql: str) -> Any:
    values = [row[0] for row in db.execute(sql)]
    return rng.choice(values)


def _params(**queries: str) -> Callable[[random.Random, sqlite3.Connection], dict[str, Any]]:
    """A draw that picks each parameter among the values of its query (``_k`` keys: numbers)."""

    def draw(rng: random.Random, db: sqlite3.Connection) -> dict[str, Any]:
        return {key: _one(rng, db, sql) for key, sql in queries.items()}

    return draw


def _with(
    base: Callable[[random.Random, sqlite3.Connection], dict[str, Any]], **numbers: tuple[int, int]
) -> Callable[[random.Random, sqlite3.Connection], dict[str, Any]]:
    def draw(rng: random.Random, db: sqlite3.Connection) -> dict[str, Any]:
        params = base(rng, db)
        params.update({key: rng.randrange(low, high) for key, (low, high) in numbers.items()})
        return params

    return draw


_T = Template
TEMPLATES: tuple[Template, ...] = (
    # ------------------------------------------------------------------ shop
    _T("shop_customers_in_city", "shop", 1, "bag", "How many customers live in {city}?",
       "SELECT COUNT(*) FROM customers WHERE city = {city!q}", _params(city="SELECT DISTINCT city FROM customers")),
    _T("shop_products_by_price", "shop", 1, "ordered",
       "List the names of the products in category {category}, from the most to the least expensive.",
       "SELECT name FROM products WHERE category = {category!q} ORDER BY price DESC",
       _params(category="SELECT DISTINCT category FROM products")),
    _T("shop_max_price", "shop", 1, "bag", "What is the highest price of a product in category {category}?",
       "SELECT MAX(price) FROM products WHERE category = {category!q}",
       _params(category="SELECT DISTINCT category FROM products")),
    _T("shop_orders_of_customer", "shop", 2, "bag", "How many orders has {customer} placed?",
       "SELECT COUNT(*) FROM orders JOIN customers ON orders.customer_id = customers.id "
       "WHERE customers.name = {customer!q}", _params(customer="SELECT name FROM customers")),
    _T("shop_category_counts", "shop", 2, "set",
       "For each category, how many products cost more than {limit}? Give the category and the count.",
       "SELECT category, COUNT(*) FROM products WHERE price > {limit} GROUP BY category",
       _with(_params(), limit=(10, 200))),
    _T("shop_status_customers", "shop", 2, "set",
       "Which customers (names) have an order with status '{status}'?",
       "SELECT DISTINCT customers.name FROM customers JOIN orders ON orders.customer_id = customers.id "
       "WHERE orders.status = {status!q}", _params(status="SELECT DISTINCT status FROM orders")),
    _T("shop_city_revenue", "shop", 3, "bag",
       "What is the total value (price times quantity, summed) of the items ordered by customers from {city}?",
       "SELECT SUM(products.price * order_items.quantity) FROM order_items "
       "JOIN orders ON order_items.order_id = orders.id JOIN customers ON orders.customer_id = customers.id "
       "JOIN products ON order_items.product_id = products.id WHERE customers.city = {city!q}",
       _params(city="SELECT DISTINCT city FROM customers")),
    _T("shop_top_products", "shop", 3, "ordered",
       "Name the {k} products with the largest total quantity ordered, largest first (ties by name A-Z).",
       "SELECT products.name FROM products JOIN order_items ON order_items.product_id = products.id "
       "GROUP BY products.id ORDER BY SUM(order_items.quantity) DESC, products.name ASC LIMIT {k}",
       _with(_params(), k=(2, 6))),
    _T("shop_never_ordered", "shop", 3, "set", "Which customers from {city} have never placed an order?",
       "SELECT name FROM customers WHERE city = {city!q} AND id NOT IN (SELECT customer_id FROM orders)",
       _params(city="SELECT DISTINCT city FROM customers WHERE id NOT IN (SELECT customer_id FROM orders)")),
    # ------------------------------------------------------------------ school
    _T("school_students_in_major", "school", 1, "bag", "How many students major in {major}?",
       "SELECT COUNT(*) FROM students WHERE major = {major!q}", _params(major="SELECT DISTINCT major FROM students")),
    _T("school_courses_by_credits", "school", 1, "ordered",
       "List the titles of the {department} courses by credits, most first (ties by title A-Z).",
       "SELECT title FROM courses WHERE department = {department!q} ORDER BY credits DESC, title ASC",
       _params(department="SELECT DISTINCT department FROM courses")),
    _T("school_students_in_year", "school", 1, "set", "Which students are in year {year}?",
       "SELECT name FROM students WHERE year = {year}", _params(year="SELECT DISTINCT year FROM students")),
    _T("school_course_average", "school", 2, "bag",
       "What is the average grade in the course '{title}', rounded to 2 decimals?",
       "SELECT ROUND(AVG(enrollments.grade), 2) FROM enrollments JOIN courses ON enrollments.course_id = courses.id "
       "WHERE courses.title = {title!q}", _params(title="SELECT DISTINCT title FROM courses JOIN enrollments "
                                                       "ON enrollments.course_id = courses.id")),
    _T("school_course_students", "school", 2, "set", "Which students (names) take the course '{title}'?",
       "SELECT students.name FROM students JOIN enrollments ON enrollments.student_id = students.id "
       "JOIN courses ON enrollments.course_id = courses.id WHERE courses.title = {title!q}",
       _params(title="SELECT DISTINCT title FROM courses JOIN enrollments ON enrollments.course_id = courses.id")),
    _T("school_teacher_courses", "school", 2, "bag", "How many courses does {teacher} teach?",
       "SELECT COUNT(*) FROM courses JOIN teachers ON courses.teacher_id = teachers.id "
       "WHERE teachers.name = {teacher!q}", _params(teacher="SELECT name FROM teachers")),
    _T("school_good_students", "school", 3, "set",
       "Which students have an average grade above {threshold}? Give their names.",
       "SELECT students.name FROM students JOIN enrollments ON enrollments.student_id = students.id "
       "GROUP BY students.id HAVING AVG(enrollments.grade) > {threshold}",
       _with(_params(), threshold=(3, 5))),
    _T("school_student_credits", "school", 3, "bag", "How many credits do the courses {student} takes add up to?",
       "SELECT SUM(courses.credits) FROM courses JOIN enrollments ON enrollments.course_id = courses.id "
       "JOIN students ON enrollments.student_id = students.id WHERE students.name = {student!q}",
       _params(student="SELECT name FROM students")),
    _T("school_teacher_students", "school", 3, "bag",
       "How many different students take a course taught by {teacher}?",
       "SELECT COUNT(DISTINCT enrollments.student_id) FROM enrollments "
       "JOIN courses ON enrollments.course_id = courses.id JOIN teachers ON courses.teacher_id = teachers.id "
       "WHERE teachers.name = {teacher!q}", _params(teacher="SELECT DISTINCT teachers.name FROM teachers "
                                                             "JOIN courses ON courses.teacher_id = teachers.id")),
    # ------------------------------------------------------------------ flights
    _T("flights_from_airport", "flights", 1, "bag", "How many flights depart from {origin}?",
       "SELECT COUNT(*) FROM flights WHERE origin = {origin!q}", _params(origin="SELECT DISTINCT origin FROM flights")),
    _T("flights_destinations", "flights", 1, "set", "To which airports (codes) are there flights from {origin}?",
       "SELECT DISTINCT destination FROM flights WHERE origin = {origin!q}",
       _params(origin="SELECT DISTINCT origin FROM flights")),
    _T("flights_longest", "flights", 1, "ordered",
       "List the ids of the {k} longest flights, longest first (ties by id, smallest first).",
       "SELECT id FROM flights ORDER BY duration_min DESC, id ASC LIMIT {k}", _with(_params(), k=(2, 8))),
    _T("flights_airline_bookings", "flights", 2, "bag", "How many bookings are there on flights of {airline}?",
       "SELECT COUNT(*) FROM bookings JOIN flights ON bookings.flight_id = flights.id "
       "JOIN airlines ON flights.airline_id = airlines.id WHERE airlines.name = {airline!q}",
       _params(airline="SELECT name FROM airlines")),
    _T("flights_country_airports", "flights", 2, "set",
       "Which cities in {country} have an airport with departing flights?",
       "SELECT DISTINCT airports.city FROM airports JOIN flights ON flights.origin = airports.code "
       "WHERE airports.country = {country!q}",
       _params(country="SELECT DISTINCT country FROM airports JOIN flights ON flights.origin = airports.code")),
    _T("flights_airline_duration", "flights", 2, "bag",
       "What is the average duration in minutes of the flights of {airline}, rounded to 1 decimal?",
       "SELECT ROUND(AVG(flights.duration_min), 1) FROM flights JOIN airlines ON flights.airline_id = airlines.id "
       "WHERE airlines.name = {airline!q}", _params(airline="SELECT DISTINCT airlines.name FROM airlines "
                                                             "JOIN flights ON flights.airline_id = airlines.id")),
    _T("flights_city_passengers", "flights", 3, "set",
       "Which passengers have a booking on a flight departing from the city {city}?",
       "SELECT DISTINCT bookings.passenger FROM bookings JOIN flights ON bookings.flight_id = flights.id "
       "JOIN airports ON flights.origin = airports.code WHERE airports.city = {city!q}",
       _params(city="SELECT DISTINCT airports.city FROM airports JOIN flights ON flights.origin = airports.code "
                    "JOIN bookings ON bookings.flight_id = flights.id")),
    _T("flights_class_airlines", "flights", 3, "ordered",
       "Rank the airlines by their number of bookings in {seat_class} class, most first (ties by name A-Z); give the names.",
       "SELECT airlines.name FROM airlines JOIN flights ON flights.airline_id = airlines.id "
       "JOIN bookings ON bookings.flight_id = flights.id WHERE bookings.seat_class = {seat_class!q} "
       "GROUP BY airlines.id ORDER BY COUNT(*) DESC, airlines.name ASC",
       _params(seat_class="SELECT DISTINCT seat_class FROM bookings")),
    _T("flights_busy_routes", "flights", 3, "set",
       "Which routes (origin and destination codes) have at least {k} flights?",
       "SELECT origin, destination FROM flights GROUP BY origin, destination HAVING COUNT(*) >= {k}",
       _with(_params(), k=(2, 3))),
)  # fmt: skip
"""Every template."""

BY_NAME: Mapping[str, Template] = {t.name: t for t in TEMPLATES}


class _SqlFormatter(string.Formatter):
    """``str.format`` with a ``!q`` conversion that quotes a value as an SQL string literal."""

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        return quote(str(value)) if conversion == "q" else super().convert_field(value, conversion)


_SQL_FORMAT = _SqlFormatter()


def render(template: Template, params: Mapping[str, Any]) -> tuple[str, str]:
    """The question and the gold SQL of ``template`` with ``params``."""
    return template.question.format(**params), _SQL_FORMAT.vformat(template.sql, (), dict(params))


def reader(db: Database) -> sqlite3.Connection:
    """A plain connection to a private copy of ``db`` (for drawing parameters and gold results)."""
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.deserialize(db.image)
    return conn


def generate(template: Template, db_id: str, rng: random.Random, conn: sqlite3.Connection) -> Task:
    """A task of ``template`` on database ``db_id`` (``conn`` reads it), with a non-empty gold result."""
    for _ in range(50):
        params = template.draw(rng, conn)
        question, sql = render(template, params)
        rows = tuple(tuple(row) for row in conn.execute(sql))
        if rows and any(v is not None for row in rows for v in row):
            return Task(template.name, template.level, db_id, question, params, sql, template.compare, rows)
    raise RuntimeError(f"template {template.name!r} drew 50 questions on {db_id} with empty answers")


def templates_for(schema: str, level: int) -> tuple[Template, ...]:
    return tuple(t for t in TEMPLATES if t.schema == schema and t.level == level)


def _value(v: Any) -> Any:
    return round(v, 4) if isinstance(v, float) else v


def normalize(rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Rows with floats rounded to 4 decimals (results computed in another order may differ in the last bits)."""
    return [tuple(_value(v) for v in row) for row in rows]


def results_match(given: Sequence[Sequence[Any]], gold: Sequence[Sequence[Any]], compare: str) -> bool:
    """Execution match: row lists equal (``ordered``), equal as multisets (``bag``) or as sets (``set``).

    >>> results_match([(2,), (1,)], [(1,), (2,)], "bag"), results_match([(2,), (1,)], [(1,), (2,)], "ordered")
    (True, False)
    >>> results_match([(1,), (1,)], [(1,)], "set"), results_match([(1,), (1,)], [(1,)], "bag")
    (True, False)
    """
    a, b = normalize(given), normalize(gold)
    if compare == "ordered":
        return a == b
    if compare == "bag":
        return Counter(a) == Counter(b)
    if compare == "set":
        return set(a) == set(b)
    raise ValueError(f"compare must be one of {list(COMPARE_MODES)}, got {compare!r}")


def sql_tokens(sql: str) -> list[str]:
    """Lower-cased SQL tokens (words, numbers, quoted strings, symbols) for n-gram similarity.

    >>> sql_tokens("SELECT name FROM t WHERE x >= 'A b'")
    ['select', 'name', 'from', 't', 'where', 'x', '>=', "'a b'"]
    """
    return [
        m.lower()
        for m in re.findall(r"'(?:[^']|'')*'|\"[^\"]*\"|[A-Za-z_][A-Za-z_0-9.]*|\d+(?:\.\d+)?|[<>!=]=|\S", sql)
    ]


def ngram_similarity(given: str, gold: str, n: int = 2) -> float:
    """Jaccard similarity of the 1- to ``n``-gram sets of two queries' tokens (1.0 for equal token lists).

    >>> ngram_similarity("SELECT a FROM t", "select a from t")
    1.0
    """

    def grams(tokens: list[str]) -> set[tuple[str, ...]]:
        return {tuple(tokens[i : i + k]) for k in range(1, n + 1) for i in range(len(tokens) - k + 1)}

    a, b = grams(sql_tokens(given)), grams(sql_tokens(gold))
    return len(a & b) / len(a | b) if a | b else 0.0
