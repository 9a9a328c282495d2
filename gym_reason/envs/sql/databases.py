"""The text-to-SQL databases: SQLite schemas built in code, filled from seeds, and read-only guarded
connections to them.

Three schemas (``shop``, ``school``, ``flights``), each in :data:`INSTANCES` instances filled from
different seeds; even instances serve the ``train`` split, odd ones the ``test`` split
(:func:`database_ids`), so the splits share no database. Each database is built once per process
into an in-memory SQLite database and serialised; every env gets its own copy
(``Connection.deserialize``), so nothing one env does can reach another's.

A model's query runs under :func:`run_query`'s guards:

* an **authorizer** allows reading (``SELECT``, column reads, recursive CTEs, the common functions of
  :data:`FUNCTIONS`) and denies everything else: writes, ``ATTACH``, ``PRAGMA``, schema changes,
  transactions, ``printf`` (one call can build a gigabyte string before any limit is checked);
* ``PRAGMA query_only`` is on (set before the authorizer, which would deny it);
* a **progress handler** interrupts a query past its time limit, in CPU seconds of the thread so a busy
  machine does not stop an ordinary query (recursive CTE bombs, huge cross joins);
* at most ``max_rows`` rows are fetched; SQLite's length limits cap any one value and the SQL text
  (``randomblob(1e9)`` fails at once), the expression depth and compound selects;
* one statement per call (``sqlite3`` refuses several).

Memory is bounded by those limits together: no value over :data:`MAX_VALUE_BYTES`, at most ``max_rows``
rows fetched, and a sort or join that keeps growing is interrupted at the time limit. SQLite's heap
limit (``sqlite3_hard_heap_limit64``) is not used: it is process-wide, and would fail every other
connection of the process along with the hostile one.

The authorizer also records the ``(table, column)`` pairs a query reads, which is how schema linking
is scored.
"""

from __future__ import annotations

import datetime
import functools
import random
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

SPLITS = ("train", "test")
SCHEMAS = ("shop", "school", "flights")
INSTANCES = 4
"""Databases per schema: instances 0 and 2 are ``train``, 1 and 3 ``test``."""

MAX_VALUE_BYTES = 100_000
MAX_SQL_CHARS = 4_000

_ALLOWED = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, getattr(sqlite3, "SQLITE_RECURSIVE", 33)}
)

FUNCTIONS = frozenset(
    [
        "count",
        "sum",
        "avg",
        "min",
        "max",
        "total",
        "group_concat",
        "string_agg",
        "abs",
        "round",
        "sign",
        "ceil",
        "ceiling",
        "floor",
        "trunc",
        "sqrt",
        "pow",
        "power",
        "exp",
        "ln",
        "log",
        "log10",
        "log2",
        "mod",
        "pi",
        "length",
        "octet_length",
        "lower",
        "upper",
        "substr",
        "substring",
        "trim",
        "ltrim",
        "rtrim",
        "replace",
        "instr",
        "like",
        "glob",
        "coalesce",
        "ifnull",
        "nullif",
        "iif",
        "typeof",
        "quote",
        "hex",
        "unhex",
        "char",
        "unicode",
        "concat",
        "concat_ws",
        "date",
        "time",
        "datetime",
        "julianday",
        "unixepoch",
        "strftime",
        "row_number",
        "rank",
        "dense_rank",
        "percent_rank",
        "cume_dist",
        "ntile",
        "lag",
        "lead",
        "first_value",
        "last_value",
        "nth_value",
    ]
)
"""The SQL functions a query may call. Others are denied: ``printf``/``format`` can build a gigabyte string
in one call (the length limit is checked after, and the progress handler does not run inside it), and
``load_extension``, ``randomblob``, ``zeroblob`` have no place in answering a question."""

_SCHEMA_SQL: Mapping[str, str] = {
    "shop": """
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL, joined DATE NOT NULL);
        CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, price REAL NOT NULL);
        CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id),
                             order_date DATE NOT NULL, status TEXT NOT NULL);
        CREATE TABLE order_items (order_id INTEGER NOT NULL REFERENCES orders(id),
                                  product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL);
    """,
    "school": """
        CREATE TABLE teachers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, department TEXT NOT NULL);
        CREATE TABLE students (id INTEGER PRIMARY KEY, name TEXT NOT NULL, year INTEGER NOT NULL, major TEXT NOT NULL);
        CREATE TABLE courses (id INTEGER PRIMARY KEY, title TEXT NOT NULL, department TEXT NOT NULL,
                              credits INTEGER NOT NULL, teacher_id INTEGER NOT NULL REFERENCES teachers(id));
        CREATE TABLE enrollments (student_id INTEGER NOT NULL REFERENCES students(id),
                                  course_id INTEGER NOT NULL REFERENCES courses(id), grade REAL NOT NULL);
    """,
    "flights": """
        CREATE TABLE airports (code TEXT PRIMARY KEY, city TEXT NOT NULL, country TEXT NOT NULL);
        CREATE TABLE airlines (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE flights (id INTEGER PRIMARY KEY, airline_id INTEGER NOT NULL REFERENCES airlines(id),
                              origin TEXT NOT NULL REFERENCES airports(code),
                              destination TEXT NOT NULL REFERENCES airports(code),
                              departure DATE NOT NULL, duration_min INTEGER NOT NULL, price REAL NOT NULL);
        CREATE TABLE bookings (id INTEGER PRIMARY KEY, flight_id INTEGER NOT NULL REFERENCES flights(id),
                               passenger TEXT NOT NULL, seat_class TEXT NOT NULL);
    """,
}

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "sh", "ch", "br", "tr")
_VOWELS = ("a", "e", "i", "o", "u", "ay", "ee", "oo")
_FIRST = ("Ana", "Ben", "Cara", "Dev", "Emma", "Finn", "Gia", "Hugo", "Iris", "Jon", "Kira", "Leo", "Maya", "Noor",
          "Omar", "Pia", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Vik", "Wren", "Yara", "Zane")  # fmt: skip
CATEGORIES = ("books", "garden", "kitchen", "music", "sports", "toys")
STATUSES = ("shipped", "pending", "cancelled", "delivered")
DEPARTMENTS = ("biology", "chemistry", "history", "mathematics", "physics")
SEAT_CLASSES = ("economy", "business", "first")


def _word(rng: random.Random, syllables: int = 2) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables)).capitalize()


def _people(rng: random.Random, count: int) -> list[str]:
    names: dict[str, None] = {}
    while len(names) < count:
        names.setdefault(f"{rng.choice(_FIRST)} {_word(rng)}", None)
    return list(names)


def _distinct(rng: random.Random, count: int, make: Callable[[random.Random], str]) -> list[str]:
    found: dict[str, None] = {}
    while len(found) < count:
        found.setdefault(make(rng), None)
    return list(found)


def _date(rng: random.Random, first_year: int = 2019, years: int = 6) -> str:
    return (datetime.date(first_year, 1, 1) + datetime.timedelta(days=rng.randrange(365 * years))).isoformat()


def _fill_shop(db: sqlite3.Connection, rng: random.Random) -> None:
    cities = _distinct(rng, 6, lambda r: _word(r) + r.choice(("ton", "ville", "burg", "field")))
    customers = _people(rng, 40)
    db.executemany(
        "INSERT INTO customers VALUES (?, ?, ?, ?)",
        [(i + 1, name, rng.choice(cities), _date(rng, 2015, 5)) for i, name in enumerate(customers)],
    )
    kinds = ("Lamp", "Mug", "Ball", "Novel", "Drum", "Rake", "Kite", "Pan", "Atlas", "Bat")
    products = _distinct(rng, 30, lambda r: f"{_word(r)} {r.choice(kinds)}")
    db.executemany(
        "INSERT INTO products VALUES (?, ?, ?, ?)",
        [(i + 1, n, rng.choice(CATEGORIES), round(rng.uniform(2, 300), 2)) for i, n in enumerate(products)],
    )
    orders = []
    for order_id in range(1, 121):
        # Customers 1..34 order; 35..40 never do (the "never ordered" questions need some).
        orders.append((order_id, rng.randrange(1, 35), _date(rng, 2021, 4), rng.choice(STATUSES)))
    db.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", orders)
    items = []
    for order_id in range(1, 121):
        for product_id in rng.sample(range(1, 31), rng.randrange(1, 4)):
            items.append((order_id, product_id, rng.randrange(1, 6)))
    db.executemany("INSERT INTO order_items VALUES (?, ?, ?)", items)


def _fill_school(db: sqlite3.Connection, rng: random.Random) -> None:
    teachers = _people(rng, 10)
    db.executemany(
        "INSERT INTO teachers VALUES (?, ?, ?)",
        [(i + 1, name, DEPARTMENTS[i % len(DEPARTMENTS)]) for i, name in enumerate(teachers)],
    )
    students = _people(rng, 50)
    db.executemany(
        "INSERT INTO students VALUES (?, ?, ?, ?)",
        [(i + 1, name, rng.randrange(1, 5), rng.choice(DEPARTMENTS)) for i, name in enumerate(students)],
    )
    levels = ("Intro to", "Advanced", "Topics in", "Seminar in", "Foundations of")
    courses = []
    for course_id in range(1, 21):
        teacher = rng.randrange(1, 11)
        department = DEPARTMENTS[(teacher - 1) % len(DEPARTMENTS)]
        title = f"{levels[(course_id - 1) // 5 % len(levels)]} {department.capitalize()} {course_id}"
        courses.append((course_id, title, department, rng.choice((2, 3, 4, 5, 6)), teacher))
    db.executemany("INSERT INTO courses VALUES (?, ?, ?, ?, ?)", courses)
    enrollments = []
    for student_id in range(1, 51):
        for course_id in rng.sample(range(1, 21), rng.randrange(2, 6)):
            enrollments.append((student_id, course_id, round(rng.uniform(1.0, 6.0), 1)))
    db.executemany("INSERT INTO enrollments VALUES (?, ?, ?)", enrollments)


def _fill_flights(db: sqlite3.Connection, rng: random.Random) -> None:
    countries = _distinct(rng, 4, lambda r: _word(r, 2) + r.choice(("ia", "land", "stan", "ra")))
    codes = _distinct(rng, 10, lambda r: "".join(r.choice("ABCDEFGHJKLMNPRSTVWXYZ") for _ in range(3)))
    cities = _distinct(rng, 10, lambda r: _word(r) + r.choice(("ford", "port", "haven", "by")))
    db.executemany(
        "INSERT INTO airports VALUES (?, ?, ?)",
        [(code, city, rng.choice(countries)) for code, city in zip(codes, cities, strict=True)],
    )
    airlines = _distinct(rng, 5, lambda r: _word(r) + " " + r.choice(("Air", "Airways", "Jet", "Wings")))
    db.executemany("INSERT INTO airlines VALUES (?, ?)", list(enumerate(airlines, start=1)))
    flights = []
    for flight_id in range(1, 81):
        origin, destination = rng.sample(codes, 2)
        flights.append(
            (flight_id, rng.randrange(1, 6), origin, destination, _date(rng, 2024, 2), rng.randrange(45, 900),
             round(rng.uniform(40, 1500), 2))
        )  # fmt: skip
    db.executemany("INSERT INTO flights VALUES (?, ?, ?, ?, ?, ?, ?)", flights)
    passengers = _people(rng, 60)
    bookings = [
        (i, rng.randrange(1, 81), rng.choice(passengers), rng.choices(SEAT_CLASSES, (6, 3, 1))[0])
        for i in range(1, 201)
    ]
    db.executemany("INSERT INTO bookings VALUES (?, ?, ?, ?)", bookings)


_FILL: Mapping[str, Callable[[sqlite3.Connection, random.Random], None]] = {
    "shop": _fill_shop,
    "school": _fill_school,
    "flights": _fill_flights,
}


@dataclass(frozen=True)
class Database:
    """One built database: its id (``shop_0``), schema, serialised bytes and what describing it shows."""

    id: str
    schema: str
    split: str
    image: bytes
    tables: tuple[str, ...]
    columns: Mapping[str, tuple[tuple[str, str], ...]]
    """table -> ((column, declared type), ...), in table order."""
    row_counts: Mapping[str, int] = field(default_factory=dict)

    def describe(self, table: str) -> str:
        cols = ", ".join(f"{name} {kind}" for name, kind in self.columns[table])
        return f"{table}({cols}): {self.row_counts[table]} rows"


def database_ids(split: str, schemas: tuple[str, ...] = SCHEMAS) -> tuple[str, ...]:
    """The databases of ``split``: instances 0, 2, ... for ``train`` and 1, 3, ... for ``test``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    return tuple(f"{s}_{i}" for s in schemas for i in range(SPLITS.index(split), INSTANCES, 2))


@functools.cache
def database(db_id: str) -> Database:
    """The database named ``db_id`` (``<schema>_<instance>``), built on first use (a few ms)."""
    schema, _, instance = db_id.rpartition("_")
    if schema not in SCHEMAS or not instance.isdigit() or int(instance) >= INSTANCES:
        valid = [f"{s}_{i}" for s in SCHEMAS for i in range(INSTANCES)]
        raise ValueError(f"unknown database {db_id!r}; valid: {valid}")
    index = int(instance)
    db = sqlite3.connect(":memory:")
    db.executescript(_SCHEMA_SQL[schema])
    _FILL[schema](db, random.Random(f"gym-reason sql {schema} {index}"))
    db.commit()
    tables = tuple(r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY rowid"))
    columns = {t: tuple((r[1], r[2]) for r in db.execute(f"PRAGMA table_info({t})")) for t in tables}
    counts = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    image = db.serialize()
    db.close()
    return Database(db_id, schema, SPLITS[index % 2], image, tables, columns, counts)


# --------------------------------------------------------------------------- guarded execution


class QueryError(Exception):
    """A query that did not run: a syntax error, a denied operation, a limit. The message is for the model."""


@dataclass
class QueryResult:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    truncated: bool
    """More rows than ``max_rows`` existed (only the first ``max_rows`` were fetched)."""
    reads: frozenset[tuple[str, str]]
    """The ``(table, column)`` pairs the query read (from the authorizer)."""


class GuardedConnection:
    """A private, read-only copy of a database that runs one query at a time under the guards above."""

    def __init__(self, db: Database, *, time_limit: float = 0.5) -> None:
        self.db = db
        self.time_limit = time_limit
        # No statement cache: the authorizer runs when a statement is prepared, and it records what each query reads.
        self._conn = sqlite3.connect(":memory:", check_same_thread=False, cached_statements=0)
        self._conn.deserialize(db.image)
        self._conn.execute("PRAGMA query_only = ON")
        self._conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        self._conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_CHARS)
        self._conn.setlimit(sqlite3.SQLITE_LIMIT_EXPR_DEPTH, 100)
        self._conn.setlimit(sqlite3.SQLITE_LIMIT_COMPOUND_SELECT, 20)
        self._conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        self._reads: set[tuple[str, str]] = set()
        self._denied: list[str] = []
        self._deadline = 0.0
        self._conn.set_authorizer(self._authorize)
        self._conn.set_progress_handler(self._progress, 1000)

    def _authorize(self, action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() not in FUNCTIONS:
            self._denied.append(f"function {arg2}()")
            return sqlite3.SQLITE_DENY
        if action in _ALLOWED:
            if action == sqlite3.SQLITE_READ and arg1 is not None:
                self._reads.add((arg1.lower(), (arg2 or "").lower()))
            return sqlite3.SQLITE_OK
        self._denied.append(_ACTION_NAMES.get(action, f"action {action}"))
        return sqlite3.SQLITE_DENY

    def _progress(self) -> int:
        return 1 if time.thread_time() > self._deadline else 0

    def run(self, sql: str, max_rows: int) -> QueryResult:
        """Run ``sql`` (one statement): its first ``max_rows`` rows, or :class:`QueryError`."""
        self._reads = set()
        self._denied = []
        # CPU time of this thread, not wall time: on a busy machine a gold query must not time out.
        self._deadline = time.thread_time() + self.time_limit
        cursor = None
        try:
            cursor = self._conn.execute(sql)
            rows = cursor.fetchmany(max_rows + 1)
        except sqlite3.Warning as exc:  # "You can only execute one statement at a time."
            raise QueryError(f"{exc}; send one SELECT statement per call") from None
        except sqlite3.Error as exc:
            raise QueryError(self._explain(exc)) from None
        except ValueError as exc:  # text SQLite cannot take: a lone surrogate (JSON "\ud800"), a NUL
            raise QueryError(f"the query is not valid text: {exc}") from None
        finally:
            if cursor is not None:
                cursor.close()
            if self._conn.in_transaction:
                self._conn.rollback()
        columns = tuple(d[0] for d in cursor.description or ())
        return QueryResult(columns, rows[:max_rows], len(rows) > max_rows, frozenset(self._reads))

    def _explain(self, exc: sqlite3.Error) -> str:
        text = str(exc)
        if "interrupted" in text:
            return f"the query ran past its time limit of {self.time_limit:g} s (CPU) and was stopped"
        if self._denied or "not authorized" in text:
            what = ", ".join(sorted(set(self._denied))) or "that operation"
            return (
                f"not allowed: the database is read-only, only SELECT queries run and only common SQL functions "
                f"({what} denied)"
            )
        return f"SQL error: {text}"

    def close(self) -> None:
        self._conn.close()


_ACTION_NAMES = {
    getattr(sqlite3, f"SQLITE_{name}"): name
    for name in (
        "ATTACH", "DETACH", "PRAGMA", "INSERT", "UPDATE", "DELETE", "TRANSACTION", "SAVEPOINT", "ALTER_TABLE",
        "CREATE_TABLE", "CREATE_TEMP_TABLE", "CREATE_VIEW", "CREATE_TEMP_VIEW", "CREATE_INDEX", "CREATE_TRIGGER",
        "DROP_TABLE", "DROP_VIEW", "DROP_INDEX", "DROP_TRIGGER", "ANALYZE", "REINDEX", "CREATE_VTABLE",
    )
    if hasattr(sqlite3, f"SQLITE_{name}")
}  # fmt: skip


def snapshot_contents(conn: GuardedConnection) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, read past the guards (for tests that prove nothing changed)."""
    raw = sqlite3.connect(":memory:")
    raw.deserialize(conn._conn.serialize())
    out = {t: raw.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in conn.db.tables}
    schema = raw.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    raw.close()
    out["__schema__"] = schema
    return out
