"""TextToSQL-v0: databases, guarded queries (hostile SQL), rewards, the oracle, splits and the battery."""

from __future__ import annotations

import math
import time

import pytest

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.core import OUTCOME, REWARD_COMPONENTS, Outcome
from gym_reason.envs.sql import tasks as t
from gym_reason.envs.sql.databases import (
    SCHEMAS,
    GuardedConnection,
    QueryError,
    database,
    database_ids,
    snapshot_contents,
)
from gym_reason.envs.sql.env import TextToSQLEnv
from gym_reason.envs.tool_calls import ToolCall, render_call
from tests.envs.reward_hacking import assert_no_cheat_pays, hostile_strings

PERFECT = 1.3


def play(env, agent, seed):
    obs, info = env.reset(seed=seed)
    total, transcript = 0.0, []
    while True:
        action = agent.act([(obs, info)])[0]
        obs, reward, terminated, truncated, info = env.step(action)
        assert math.isclose(sum(info[REWARD_COMPONENTS].values()), reward, abs_tol=1e-12)
        total += reward
        transcript.append((action, obs, reward, repr(info)))
        if terminated or truncated:
            return total, transcript, info


def submit(env, query):
    return env.step(render_call(ToolCall("submit", {"query": query}), env.answer_format))


def test_oracle_scores_the_maximum_on_100_held_out_tasks():
    env = gym_reason.make("gym_reason/TextToSQL-v0", split="test")
    oracle = make_agent("fixed:oracle", env, seed=0)
    seen = set()
    for seed in range(100):
        total, _, info = play(env, oracle, seed)
        assert total == pytest.approx(PERFECT), (seed, env.task)
        assert info[OUTCOME] is Outcome.WIN
        seen.add((env.task.database.rpartition("_")[0], env.task.level))
    assert len(seen) == 9  # every schema at every level


def test_random_agent_scores_low():
    env = TextToSQLEnv(split="test")
    agent = make_agent("random", env, seed=2)
    returns = [play(env, agent, seed)[0] for seed in range(60)]
    assert sum(returns) / len(returns) < 0.25
    assert sum(r > 1 for r in returns) <= 3  # a random "SELECT COUNT(*) FROM t" can be right, rarely


def test_every_template_has_a_non_empty_gold_result_on_every_database():
    import random

    rng = random.Random(0)
    for template in t.TEMPLATES:
        for db_id in database_ids("train", (template.schema,)) + database_ids("test", (template.schema,)):
            task = t.generate(template, db_id, rng, t.reader(database(db_id)))
            assert task.gold_rows and task.compare in t.COMPARE_MODES
    levels = {(s, lvl) for s in SCHEMAS for lvl in (1, 2, 3) if t.templates_for(s, lvl)}
    assert len(levels) == 9


def test_splits_use_disjoint_databases():
    train, test = set(database_ids("train")), set(database_ids("test"))
    assert train and test and not train & test
    for split, allowed in (("train", train), ("test", test)):
        env = TextToSQLEnv(split=split)
        drawn = set()
        for seed in range(60):
            env.reset(seed=seed)
            drawn.add(env.task.database)
        assert drawn <= allowed and len(drawn) >= 4
    assert database("shop_0").image != database("shop_1").image
    with pytest.raises(ValueError, match="option database must be one of"):
        TextToSQLEnv(split="train").reset(options={"database": "shop_1"})


HOSTILE = [
    "ATTACH DATABASE '/tmp/gym_reason_sql_probe.db' AS x",
    "DETACH DATABASE main",
    "PRAGMA query_only = OFF",
    "PRAGMA writable_schema = ON",
    "DROP TABLE customers",
    "DELETE FROM customers",
    "UPDATE products SET price = 0",
    "INSERT INTO customers VALUES (999, 'x', 'y', '2020-01-01')",
    "CREATE TABLE t (x)",
    "CREATE TEMP TABLE t (x)",
    "CREATE TRIGGER tr AFTER INSERT ON customers BEGIN DELETE FROM orders; END",
    "BEGIN",
    "SAVEPOINT a",
    "VACUUM",
    "VACUUM INTO '/tmp/gym_reason_sql_probe.db'",
    "REINDEX",
    "ANALYZE",
    "SELECT 1; DROP TABLE customers",
    "SELECT load_extension('libc.so.6')",
    "SELECT randomblob(2000000000)",
    "SELECT zeroblob(500000000)",
    "SELECT printf('%.*c', 1000000000, 'x')",
    "SELECT format('%.*c', 1000000000, 'x')",
    "SELECT length(replace(hex(zeroblob(40000)), '0', hex(zeroblob(40000))))",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c",
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT MAX(x) FROM c ORDER BY 1",
    "SELECT COUNT(*) FROM order_items a, order_items b, order_items c, order_items d, order_items e",
    "SELECT * FROM order_items a, order_items b, order_items c ORDER BY random()",
]


def test_hostile_sql_never_modifies_the_database_or_stalls():
    conn = GuardedConnection(database("shop_0"), time_limit=0.1)
    before = snapshot_contents(conn)
    for sql in HOSTILE:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            result = conn.run(sql, max_rows=20)
            assert len(result.rows) <= 20, sql
        except QueryError as exc:
            assert str(exc), sql
        # Bounded in CPU time (the limit's clock; 0.1 s plus the last 1000 VM steps), and in wall time with
        # room for a machine busy with other work.
        assert time.thread_time() - cpu < 0.5 and time.perf_counter() - start < 10, sql
    assert snapshot_contents(conn) == before
    assert conn.run("SELECT COUNT(*) FROM customers", 5).rows == [(40,)]
    import pathlib

    assert not pathlib.Path("/tmp/gym_reason_sql_probe.db").exists()


def test_denied_operations_say_so_and_infinite_results_are_cut():
    conn = GuardedConnection(database("school_0"), time_limit=0.1)
    with pytest.raises(QueryError, match=r"read-only.*ATTACH denied"):
        conn.run("ATTACH DATABASE ':memory:' AS x", 5)
    with pytest.raises(QueryError, match=r"time limit of 0\.1 s"):
        conn.run("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c", 5)
    endless = conn.run("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c", 7)
    assert endless.rows == [(i,) for i in range(1, 8)] and endless.truncated


def test_rewards_execution_syntax_schema_linking_ngram():
    env = TextToSQLEnv(difficulty=1, schemas=["shop"])
    env.reset(seed=0, options={"database": "shop_0"})
    task = env.task
    # The gold query with a different spelling: same result, same reads, different tokens.
    *_, info = submit(env, task.gold_sql.replace("SELECT", "select") + " ")
    parts = info[REWARD_COMPONENTS]
    assert parts["execution"] == 1.0 and parts["syntax"] == 0.1 and parts["schema_linking"] == pytest.approx(0.1)
    env.reset(seed=0, options={"database": "shop_0"})
    *_, info = submit(env, "SELECT name FROM customers")
    parts = info[REWARD_COMPONENTS]
    assert parts["execution"] == 0.0 and parts["syntax"] == 0.1
    assert 0 <= parts["schema_linking"] < 0.1 and 0 < parts["ngram"] < 0.1
    for nothing in ("SELECT 1", "SELECT * FROM sqlite_master", "How many customers live there?", "DROP TABLE x"):
        env.reset(seed=0, options={"database": "shop_0"})
        _, reward, terminated, _, info = submit(env, nothing)
        assert terminated and reward == 0.0 and info[OUTCOME] is Outcome.LOSS, nothing


def test_result_comparison_modes():
    assert t.results_match([("a", 1), ("b", 2)], [("b", 2), ("a", 1)], "set")
    assert not t.results_match([("a", 1), ("b", 2)], [("b", 2), ("a", 1)], "ordered")
    assert t.results_match([(0.1 + 0.2,)], [(0.3,)], "bag")
    assert not t.results_match([(1,), (1,)], [(1,)], "bag")


def test_exploring_tools_and_their_errors():
    env = TextToSQLEnv(schemas=["flights"])
    env.reset(seed=1)
    step = lambda call: env.step(render_call(call, env.answer_format))  # noqa: E731
    obs, reward, *_, info = step(ToolCall("list_tables", {}))
    assert reward == 0.0 and "airports, airlines, flights, bookings" in obs
    obs, reward, *_ = step(ToolCall("describe_table", {"table": "airports"}))
    assert "airports(code TEXT, city TEXT, country TEXT): 10 rows" in obs and reward == 0.0
    obs, reward, *_, info = step(ToolCall("describe_table", {"table": "pilots"}))
    assert info[REWARD_COMPONENTS] == {"tool_error": -0.05} and "no table 'pilots'" in obs
    obs, reward, *_ = step(ToolCall("run_query", {"query": "SELECT code FROM airports ORDER BY code"}))
    assert "code\n" in obs and reward == 0.0
    obs, reward, *_, info = step(ToolCall("run_query", {"query": "DELETE FROM flights"}))
    assert reward == -0.05 and "read-only" in obs and info["invalid_action"] is False


def test_text_sqlite_cannot_take_is_a_tool_error_not_a_crash():
    env = TextToSQLEnv()
    env.reset(seed=0)
    for query in ("SELECT '\\ud800'", "SELECT 1\\u0000"):  # JSON escapes: a lone surrogate, a NUL
        reply = '[{"name": "run_query", "arguments": {"query": "' + query + '"}}]'
        obs, *_, info = env.step(reply)
        assert info["invalid_action"] is False and info[REWARD_COMPONENTS] == {"tool_error": -0.05}, obs[-200:]
    *_, info = env.step('[{"name": "submit", "arguments": {"query": "SELECT \'\\udfff\'"}}]')
    assert info[REWARD_COMPONENTS]["execution"] == 0.0


def test_determinism_and_snapshot_restore():
    a, b = TextToSQLEnv(split="test"), TextToSQLEnv(split="test")
    for seed in range(5):
        assert (
            play(a, make_agent("random", a, seed=seed), seed)[1] == play(b, make_agent("random", b, seed=seed), seed)[1]
        )
    env = TextToSQLEnv()
    obs, info = env.reset(seed=4)
    obs, *_, info = env.step(render_call(ToolCall("list_tables", {}), env.answer_format))
    saved = env.snapshot()
    oracle = make_agent("fixed:oracle", env, seed=0)
    first = env.step(oracle.act([(obs, info)])[0])
    env.restore(saved)
    again = env.step(oracle.act([(obs, info)])[0])
    assert repr(first) == repr(again) and first[1] == pytest.approx(PERFECT)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="schemas must be a non-empty list of"):
        TextToSQLEnv(schemas=["bank"])
    with pytest.raises(ValueError, match="time_limit"):
        TextToSQLEnv(time_limit=0)
    with pytest.raises(ValueError, match="unknown database"):
        database("shop_9")


def test_cheating_battery_pays_no_more_than_answering_at_random(tmp_path):
    assert hostile_strings(tmp_path)
    means = assert_no_cheat_pays(lambda: TextToSQLEnv(split="test", time_limit=0.02), range(15), tmp_path)
    assert means["question_text"] == 0.0 and means["format_only"] == 0.0


def test_time_limit_counts_cpu_time_not_wall_time(monkeypatch):
    # A busy machine, simulated: every wall-clock read is 10 s after the last. A wall-clock limit stopped
    # ordinary queries there (seen under load in the bench); the CPU-time limit does not.
    wall = iter(range(0, 10**9, 10))
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(wall)))
    conn = GuardedConnection(database("shop_0"), time_limit=0.5)
    query = "SELECT COUNT(*) FROM order_items a, order_items b"  # ~60,000 rows: the progress handler runs
    assert conn.run(query, 5).rows[0][0] > 0
