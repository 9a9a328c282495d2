"""``gym_reason/TextToSQL-v0``: answer a question about a SQLite database by writing one SQL query.

Each episode draws a database of the split (:mod:`gym_reason.envs.sql.databases`: shop, school and
flights schemas, several instances each) and a question of the chosen level
(:mod:`gym_reason.envs.sql.tasks`). Tools: ``list_tables``, ``describe_table``, ``run_query`` (a
read-only query under row, time and size limits; its rows come back) and ``submit`` (the answer; ends
the episode). Calls are written as :mod:`gym_reason.envs.tool_calls` says.

Rewards as in Reasoning-SQL (``info["reward_components"]``; weights by constructor ``weights``), all
paid on ``submit``; exploring costs nothing but a failed query:

==================  =========  =====================================================================
component           default    paid
==================  =========  =====================================================================
``execution``       1 or 0     the submitted query's result equals the gold query's (as a list when
                               the question asks for an order, else as a multiset, or as a set for
                               "which ..." questions)
``syntax``          0.1        the submitted query ran and read at least one table of the database
``schema_linking``  0.1 x J    J: Jaccard overlap of the (table, column) pairs it read with the gold's
``ngram``           0.1 x S    S: Jaccard overlap of its 1- and 2-grams of SQL tokens with the gold's
``tool_error``      -0.05      a ``run_query`` that failed (syntax error, denied, over the time limit)
                               or a ``describe_table`` of an unknown table
``invalid_action``  -0.1       a reply with no readable, valid call
==================  =========  =====================================================================

The partial components are paid only with ``syntax`` (a query that runs on the schema), so prose, the
question's text or ``SELECT 1`` earn nothing; the maximum is 1.3, the gold query's.
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass
from typing import Any, ClassVar

from gym_reason.core import to_charset
from gym_reason.envs.games.bots import ScriptedAgent, declare_bots
from gym_reason.envs.sql import tasks as t
from gym_reason.envs.sql.databases import (
    MAX_SQL_CHARS,
    SCHEMAS,
    GuardedConnection,
    QueryError,
    QueryResult,
    database,
    database_ids,
)
from gym_reason.envs.tool_calls import Param, ToolCall, ToolError, ToolSpec
from gym_reason.envs.tools.base import TaskRules, ToolEpisode, ToolTaskEnv

_QUERY = Param("string", "one SQLite SELECT statement", max_length=MAX_SQL_CHARS // 2)

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec("list_tables", "List the tables of the database."),
    ToolSpec(
        "describe_table",
        "Show a table's columns, their types and its row count.",
        (("table", Param("string", "the table's name", max_length=64)),),
    ),
    ToolSpec("run_query", "Run a read-only query and see its first rows.", (("query", _QUERY),)),
    ToolSpec(
        "submit", "Submit the query that answers the question. Ends the episode.", (("query", _QUERY),), final=True
    ),
)
SUBMIT_ROWS = 10_000
"""Rows of a submitted query's result compared with the gold's (gold results are far smaller)."""
_COMPARE_WORDS = {
    "ordered": "Rows are compared in order.",
    "bag": "Rows are compared in any order.",
    "set": "Rows are compared as a set (order and duplicates do not matter).",
}


@dataclass
class SqlProgress:
    gold_reads: frozenset[tuple[str, str]]


def random_move(view: dict[str, Any], rng: random.Random) -> str:
    """A random call (JSON, unwrapped): a random tool; queries select a random column (or ``*``, or a
    count) of a random table of the schema, sometimes with a limit."""
    spec = rng.choice(TOOLS)
    schema: dict[str, list[str]] = view["task"]["schema"]
    table = rng.choice(sorted(schema))
    arguments: dict[str, Any] = {}
    if spec.name == "describe_table":
        arguments["table"] = table
    elif spec.params:
        column = rng.choice([*schema[table], "*", "COUNT(*)"])
        limit = f" LIMIT {rng.randrange(1, 10)}" if rng.random() < 0.3 else ""
        arguments["query"] = f"SELECT {column} FROM {table}{limit}"
    return ToolCall(spec.name, arguments).to_json()


RULES = TaskRules("text_to_sql", random_move)


class TextToSQLOracle(ScriptedAgent):
    """Submits the question's template query with its parameters (``fixed:oracle``): the maximum reward."""

    name = "oracle"

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        task = view["task"]
        _question, sql = t.render(t.BY_NAME[task["template"]], task["params"])
        return {ToolCall("submit", {"query": sql}).to_json(): 1.0}


class TextToSQLEnv(ToolTaskEnv):
    """Questions about SQLite databases answered with one submitted query. See the module docstring.

    Args:
        difficulty: a level 1..3 or a list of them to draw from uniformly (default all).
        split: ``"train"`` (default) or ``"test"``: their databases are disjoint.
        max_turns: replies before the episode is truncated.
        answer_format: ``"bracket"`` (``[{...}]``, default) or ``"boxed"``.
        weights: overrides of the reward weights (see the table above).
        max_calls: calls one reply may run in parallel (Hermes ``<tool_call>`` blocks).
        schemas: the schemas to draw databases of (default all of :data:`~gym_reason.envs.sql.databases.SCHEMAS`).
        max_rows: rows of a ``run_query`` result shown.
        time_limit: seconds a query may run before it is interrupted.
    """

    tools: ClassVar = TOOLS
    rules: ClassVar = RULES
    default_weights: ClassVar = {
        "execution": 1.0,
        "syntax": 0.1,
        "schema_linking": 0.1,
        "ngram": 0.1,
        "tool_error": -0.05,
        "invalid_action": -0.1,
    }

    def __init__(
        self,
        *args: Any,
        schemas: list[str] | tuple[str, ...] | None = None,
        max_rows: int = 20,
        time_limit: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        chosen = SCHEMAS if schemas is None else tuple(schemas)
        if not chosen or any(s not in SCHEMAS for s in chosen):
            raise ValueError(f"schemas must be a non-empty list of {list(SCHEMAS)}, got {schemas!r}")
        if not isinstance(max_rows, int) or isinstance(max_rows, bool) or not 1 <= max_rows <= 200:
            raise ValueError(f"max_rows must be an integer in 1..200, got {max_rows!r}")
        if not isinstance(time_limit, int | float) or not 0 < time_limit <= 10:
            raise ValueError(f"time_limit must be a number of seconds in (0, 10], got {time_limit!r}")
        self.schemas = chosen
        self.max_rows = max_rows
        self.time_limit = float(time_limit)
        self.databases = database_ids(self.split, chosen)
        self._guarded: dict[str, GuardedConnection] = {}
        self._readers: dict[str, sqlite3.Connection] = {}

    # ------------------------------------------------------------------ hooks

    def _draw_task(self, level: int, options: dict[str, Any]) -> tuple[t.Task, SqlProgress]:
        unknown = sorted(set(options) - {"database"})
        if unknown:
            raise ValueError(f"unknown reset option(s) {unknown}; valid: ['database', 'difficulty']")
        db_id = self._rng.choice(self.databases)
        if "database" in options:
            db_id = options["database"]
            if db_id not in self.databases:
                raise ValueError(f"option database must be one of {list(self.databases)} ({self.split}), got {db_id!r}")
        schema = database(db_id).schema
        template = self._rng.choice(t.templates_for(schema, level))
        if db_id not in self._readers:
            self._readers[db_id] = t.reader(database(db_id))
        task = t.generate(template, db_id, self._rng, self._readers[db_id])
        gold = self._connection(db_id).run(task.gold_sql, SUBMIT_ROWS)
        return task, SqlProgress(_schema_reads(gold))

    def _connection(self, db_id: str) -> GuardedConnection:
        if db_id not in self._guarded:
            self._guarded[db_id] = GuardedConnection(database(db_id), time_limit=self.time_limit)
        return self._guarded[db_id]

    def _run_call(self, call: ToolCall) -> Any:
        task: t.Task = self._require_started().task
        db = database(task.database)
        if call.name == "list_tables":
            return ", ".join(db.tables)
        if call.name == "describe_table":
            table = call.arguments["table"]
            if table not in db.columns:
                raise ToolError(f"no table {to_charset(table[:64])!r}; the tables are {list(db.tables)}")
            return db.describe(table)
        try:
            result = self._connection(task.database).run(call.arguments["query"], self.max_rows)
        except QueryError as exc:
            raise ToolError(str(exc)) from None
        return _render_rows(result)

    def _score_call(self, episode: ToolEpisode, call: ToolCall, ok: bool, result: Any) -> dict[str, float]:
        return {}  # exploring is free; a failed call already cost tool_error

    def _score_final(self, episode: ToolEpisode, call: ToolCall) -> tuple[dict[str, float], bool, str]:
        task: t.Task = episode.task
        progress: SqlProgress = episode.progress
        zero = {"execution": 0.0, "syntax": 0.0, "schema_linking": 0.0, "ngram": 0.0}
        query = call.arguments["query"]
        try:
            result = self._connection(task.database).run(query, SUBMIT_ROWS)
        except QueryError as exc:
            return zero, False, f"submitted query failed: {exc}"
        reads = _schema_reads(result)
        if not reads:
            return zero, False, "submitted query reads no table of the database: not an answer"
        correct = not result.truncated and t.results_match(result.rows, task.gold_rows, task.compare)
        union = reads | progress.gold_reads
        components = {
            "execution": self.weights["execution"] if correct else 0.0,
            "syntax": self.weights["syntax"],
            "schema_linking": self.weights["schema_linking"] * len(reads & progress.gold_reads) / len(union),
            "ngram": self.weights["ngram"] * t.ngram_similarity(query, task.gold_sql),
        }
        verdict = "the result matches." if correct else "the result does not match the expected one."
        return components, correct, f"submitted: {verdict}"

    def _task_view(self, task: t.Task) -> dict[str, Any]:
        db = database(task.database)
        return {
            "database": task.database,
            "template": task.template,
            "level": task.level,
            "params": dict(task.params),
            "schema": {table: [name for name, _ in db.columns[table]] for table in db.tables},
        }

    def _task_text(self, task: t.Task) -> str:
        return (
            f"Database: {task.database} (SQLite, read-only). Question: {task.statement}\n"
            f"Answer by submitting one SELECT query. {_COMPARE_WORDS[task.compare]}"
        )

    def close(self) -> None:
        """Close the database copies this env opened. Idempotent; the env stays usable."""
        for conn in self._guarded.values():
            conn.close()
        for reader in self._readers.values():
            reader.close()
        self._guarded.clear()
        self._readers.clear()


def _schema_reads(result: QueryResult) -> frozenset[tuple[str, str]]:
    """The (table, column) pairs a query read, without SQLite's own tables."""
    return frozenset(r for r in result.reads if not r[0].startswith("sqlite_"))


def _render_rows(result: QueryResult) -> str:
    lines = [" | ".join(result.columns)]
    lines += [" | ".join("NULL" if v is None else str(v) for v in row) for row in result.rows]
    if result.truncated:
        lines.append(f"... (more rows; only the first {len(result.rows)} are shown)")
    elif not result.rows:
        lines.append("(no rows)")
    return to_charset("\n".join(lines))


declare_bots(RULES.name, {"oracle": TextToSQLOracle}, strongest="oracle")
