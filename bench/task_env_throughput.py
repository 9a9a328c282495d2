"""Throughput of the tool-calling task envs (issue 15): oracle steps per second, task generation per
second, and for SQL, queries per second through the guards against raw ``sqlite3``, in one process.

    python bench/task_env_throughput.py [--seconds 1.0] [--rounds 3] [--envs ToolUse-v0 TextToSQL-v0]

* **oracle steps/s**: ``fixed:oracle`` (Twenty Questions: ``fixed:halving``, :data:`BOTS`) plays whole
  episodes (reset included), every step renders the
  observation and info (the action grammar, the structured view) as training would read them; the
  goal is 2,000 steps/s for the tool-use, knowledge-graph and Twenty Questions envs.
* **tasks/s**: ``reset()`` alone (drawing and generating a task, with its gold).
* **SQL queries/s**: every template's gold query on its databases, run through
  :class:`~gym_reason.envs.sql.databases.GuardedConnection` (authorizer, progress handler, private copy)
  and through a plain ``sqlite3`` connection to the same data; the ratio is the cost of the guards.

Contenders run interleaved for ``--rounds`` rounds of ``--seconds`` each and the median is printed,
because this machine is shared and noisy; rates are given per wall-clock second and per CPU second of
this process (on a machine busy with other work the second is the env's own cost, and the goal is read
against it). Add an env by its id to :data:`ENVS` (it needs a
``fixed:oracle`` bot).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.envs.sql import tasks as sql_tasks
from gym_reason.envs.sql.databases import GuardedConnection, database, database_ids

ENVS = (
    "ToolUse-v0",
    "ToolUseEasy-v0",
    "ToolUseHard-v0",
    "TextToSQL-v0",
    "KGNav-v0",
    "KGNavHard-v0",
    "TwentyQuestions-v0",
    "TwentyQuestionsHard-v0",
    "TwentyQuestionsCities-v0",
)
"""Env ids (``gym_reason/`` namespace) whose oracle play and task generation are measured."""
BOTS = {f"TwentyQuestions{level}-v0": "fixed:halving" for level in ("", "Hard", "Cities")}
"""The scripted player of an env whose oracle would have to read a hidden secret (default ``fixed:oracle``)."""
GOAL_STEPS_PER_SECOND = 2000.0

Runner = Callable[[float], tuple[int, float]]  # seconds -> (count, elapsed)


def oracle_steps(env_id: str) -> Runner:
    env = gym_reason.make(f"gym_reason/{env_id}", split="test")
    oracle = make_agent(BOTS.get(env_id, "fixed:oracle"), env, seed=0)
    seed = iter(range(10**9))

    def run(seconds: float) -> tuple[int, float]:
        steps, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            obs, info = env.reset(seed=next(seed))
            done = False
            while not done:
                obs, _reward, terminated, truncated, info = env.step(oracle.act([(obs, info)])[0])
                steps += 1
                done = terminated or truncated
        return steps, time.perf_counter() - start

    return run


def task_generation(env_id: str) -> Runner:
    env = gym_reason.make(f"gym_reason/{env_id}", split="test")
    seed = iter(range(10**9))

    def run(seconds: float) -> tuple[int, float]:
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            env.reset(seed=next(seed))
            count += 1
        return count, time.perf_counter() - start

    return run


def _gold_queries() -> list[tuple[str, str]]:
    rng = random.Random(0)
    out = []
    for template in sql_tasks.TEMPLATES:
        for db_id in database_ids("test", (template.schema,)):
            task = sql_tasks.generate(template, db_id, rng, sql_tasks.reader(database(db_id)))
            out.append((db_id, task.gold_sql))
    return out


def sql_queries(guarded: bool) -> Runner:
    queries = _gold_queries()
    if guarded:
        conns = {db: GuardedConnection(database(db)) for db, _ in queries}
        execute = lambda db, sql: conns[db].run(sql, 10_000).rows  # noqa: E731
    else:
        plain = {db: sql_tasks.reader(database(db)) for db, _ in queries}
        execute = lambda db, sql: plain[db].execute(sql).fetchmany(10_001)  # noqa: E731

    def run(seconds: float) -> tuple[int, float]:
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for db, sql in queries:
                execute(db, sql)
            count += len(queries)
        return count, time.perf_counter() - start

    return run


def measure(contenders: dict[str, Runner], seconds: float, rounds: int) -> dict[str, tuple[float, float]]:
    """Median rate of each contender per wall-clock second and per CPU second of this process."""
    rates: dict[str, list[tuple[float, float]]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, runner in contenders.items():
            cpu = time.process_time()
            count, elapsed = runner(seconds)
            rates[name].append((count / elapsed, count / max(time.process_time() - cpu, 1e-9)))
    return {
        name: (statistics.median(w for w, _ in values), statistics.median(c for _, c in values))
        for name, values in rates.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per contender per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--envs", nargs="+", default=list(ENVS), help="env ids without the gym_reason/ namespace")
    args = parser.parse_args()

    contenders: dict[str, Runner] = {}
    for env_id in args.envs:
        contenders[f"{env_id} {BOTS.get(env_id, 'fixed:oracle')} steps/s"] = oracle_steps(env_id)
        contenders[f"{env_id} tasks/s"] = task_generation(env_id)
    contenders["SQL gold queries/s, guarded"] = sql_queries(guarded=True)
    contenders["SQL gold queries/s, plain sqlite3"] = sql_queries(guarded=False)
    rates = measure(contenders, args.seconds, args.rounds)

    width = max(map(len, rates))
    print(
        f"median of {args.rounds} rounds of {args.seconds:g} s each; per wall second / per CPU second of this process"
    )
    for name, (wall, cpu) in rates.items():
        note = ""
        if name.endswith(" steps/s") and " fixed:" in name:
            note = (
                f"  ({cpu / GOAL_STEPS_PER_SECOND:.2f}x the {GOAL_STEPS_PER_SECOND:,.0f} steps/s goal per CPU second)"
            )
        print(f"{name:<{width}}  {wall:>10,.0f}  {cpu:>10,.0f}{note}")
    guarded, plain = rates["SQL gold queries/s, guarded"][1], rates["SQL gold queries/s, plain sqlite3"][1]
    print(f"{'SQL guards: guarded / plain (CPU)':<{width}}  {guarded / plain:>10.2f}x")


if __name__ == "__main__":
    main()
