"""gym_reason/CodeInterpreter-v0 with the real bwrap sandbox: tool calls, answers, rewards, limits, seeds, snapshots."""

from __future__ import annotations

import math
import re

import pytest

import gym_reason
from gym_reason.checker import check_env
from gym_reason.core import INVALID_ACTION, OUTCOME, PARSED_ACTION, REWARD_COMPONENTS, Outcome
from gym_reason.envs.code.interpreter import CODE_OK, INVALID, OUTPUT_USED, TURN_COST, CodeInterpreterEnv
from gym_reason.envs.code.tasks import DIFFICULTIES, FAMILIES, Task


def _env(sandbox, **kwargs) -> CodeInterpreterEnv:
    return CodeInterpreterEnv(sandbox=sandbox, **kwargs)


def _code(source: str) -> str:
    return f"Let me compute it.\n```python\n{source}\n```"


def test_a_correct_final_answer_wins_and_a_wrong_one_loses(sandbox):
    env = _env(sandbox)
    _, info = env.reset(seed=1)
    assert info["role"] == "solver" and "[answer]" in info["action_format"]
    obs, reward, terminated, truncated, info = env.step(f"I am sure: [{env.task.answer}]")
    assert (terminated, truncated, info[OUTCOME]) == (True, False, Outcome.WIN)
    assert info[REWARD_COMPONENTS] == {"turn_cost": TURN_COST, "correct": 1.0}
    assert reward == sum(info[REWARD_COMPONENTS].values()) and math.isclose(reward, 1.0 + TURN_COST)
    assert info[PARSED_ACTION] == env.task.answer and info[INVALID_ACTION] is False
    assert "correct" in obs and info["metrics"]["correct"] == 1.0
    env.reset(seed=1)
    obs, reward, terminated, _, info = env.step("[12345678987654321]")
    assert terminated and info[OUTCOME] == Outcome.LOSS
    assert info[REWARD_COMPONENTS]["correct"] == 0.0 and math.isclose(reward, TURN_COST)
    assert f"the expected answer was {env.task.answer}" in obs
    with pytest.raises(RuntimeError, match="reset"):
        env.step("[1]")


def test_boxed_answers_and_formatting_tolerance(sandbox):
    env = _env(sandbox, answer_format="boxed", families=["big_arithmetic"])
    env.reset(seed=3)
    answer = int(env.task.answer)
    _, _, terminated, _, info = env.step(f"So the result is \\boxed{{{answer:,}}}.")
    assert terminated and info[OUTCOME] == Outcome.WIN
    env.reset(seed=3)
    _, _, _, _, info = env.step(f"[{answer}]")  # the bracket is not the answer format here
    assert info[INVALID_ACTION] is True and OUTCOME not in info


def test_code_runs_in_a_persistent_interpreter_and_its_output_is_shown(sandbox):
    env = _env(sandbox, families=["gcd_lcm"], difficulty=1)
    obs, _ = env.reset(seed=5)
    assert obs.startswith("Task: ") and "```python" in obs and "[answer]" in obs
    a, b = (int(x) for x in re.findall(r"\d+", env.task.statement))
    obs, reward, terminated, truncated, info = env.step(
        _code(f"import math\ng = math.gcd({a}, {b})\nprint('gcd is', g)")
    )
    assert not (terminated or truncated)
    assert info[REWARD_COMPONENTS] == {"turn_cost": TURN_COST, "code_ok": CODE_OK} and reward == 0.0
    assert f"gcd is {env.task.answer}" in obs and "--- Turn 1: code ---" in obs
    assert info[PARSED_ACTION].startswith("import math") and info[INVALID_ACTION] is False
    obs, _, _, _, _ = env.step(_code("print(g * 2)"))  # the namespace survived
    assert str(2 * int(env.task.answer)) in obs
    _, reward, terminated, _, info = env.step(f"The gcd is [{env.task.answer}]")
    assert terminated and info[OUTCOME] == Outcome.WIN
    assert info[REWARD_COMPONENTS] == {"turn_cost": TURN_COST, "correct": 1.0, "output_used": OUTPUT_USED}
    assert info["metrics"] == {"correct": 1.0, "turns": 3.0, "code_runs": 2.0, "code_errors": 0.0,
                               "invalid_actions": 0.0}  # fmt: skip


def test_errors_timeouts_and_floods_are_tool_output_not_crashes(sandbox):
    env = _env(sandbox, timeout=1.0, output_chars=300, max_turns=8)
    env.reset(seed=0)
    obs, reward, *_, info = env.step(_code("x = 1\nprint(undefined_name)"))
    assert "NameError" in obs and "[exit status 1]" in obs
    assert "code_ok" not in info[REWARD_COMPONENTS] and reward == TURN_COST
    obs, *_ = env.step(_code("while True:\n    pass"))
    assert "[timed out after 1 s]" in obs and "restarted" in obs
    obs, *_ = env.step(_code("print(x)"))  # the restart lost x
    assert obs.rsplit("--- Turn", 1)[1].count("NameError") == 1
    obs, *_ = env.step(_code("print('y' * 100_000)"))
    assert "more characters cut" in obs and len(obs) < 10_000
    obs, *_ = env.step(_code("print('\\x1b[31m snow \\u2603')"))
    assert "\\x1b" in obs and "\\u2603" in obs and env.observation_space.contains(obs)
    obs, *_ = env.step(_code("import sys\nsys.exit(3)"))
    assert "[exit status 3]" in obs
    obs, _, terminated, truncated, info = env.step(_code("import os\nos._exit(7)"))
    assert not terminated and not truncated and "restarted" in obs


def test_an_answer_next_to_code_waits_for_the_output(sandbox):
    env = _env(sandbox)
    env.reset(seed=2)
    obs, _, terminated, _, info = env.step(_code("print(6 * 7)") + f"\nSo the answer is [{env.task.answer}].")
    assert not terminated and "42" in obs and info[PARSED_ACTION] == "print(6 * 7)"
    # Brackets inside code are never read as an answer.
    obs, _, terminated, _, info = env.step("```python\nprint([1, 2][0])\n```")
    assert not terminated and info[INVALID_ACTION] is False


def test_invalid_replies_are_scored_and_the_turn_limit_truncates(sandbox):
    env = _env(sandbox, max_turns=3)
    env.reset(seed=4)
    for turn in range(1, 4):
        obs, reward, terminated, truncated, info = env.step("I need to think about this more.")
        assert info[INVALID_ACTION] is True and info[PARSED_ACTION] is None
        assert info[REWARD_COMPONENTS] == {"turn_cost": TURN_COST, "invalid_action": INVALID}
        assert math.isclose(reward, TURN_COST + INVALID)
        assert not terminated and truncated == (turn == 3)
    assert info[OUTCOME] == Outcome.TRUNCATED and "Out of turns" in obs and env.task.answer in obs
    env.reset(seed=4)
    _, _, _, _, info = env.step("[   ]")
    assert info[INVALID_ACTION] is True


def test_seeds_select_tasks_and_transcripts_repeat(sandbox):
    env, other = _env(sandbox), _env(sandbox)
    tasks = {env.reset(seed=s)[0] for s in range(12)}
    assert len(tasks) == 12
    actions = [_code("print(sum(range(10)))"), "no idea", _code("import math\nprint(math.factorial(20))"), "[7]"]

    def play(e: CodeInterpreterEnv, seed: int) -> list[object]:
        record: list[object] = [e.reset(seed=seed)]
        for action in actions:
            step = e.step(action)
            record.append(step)
            if step[2] or step[3]:
                break
        return record

    assert play(env, 9) == play(env, 9) == play(other, 9)
    assert play(env, 9) != play(env, 10)
    obs, info = env.reset(seed=3, options={"family": "collatz", "difficulty": 2})
    assert info["family"] == "collatz" and info["difficulty"] == 2 and "Collatz" in obs
    env.reset(seed=11)
    follow = env.reset()  # no seed: the env's own stream goes on
    env.reset(seed=11)
    assert env.reset() == follow


def test_snapshot_restore_rebuilds_the_namespace_by_replaying_cells(sandbox):
    env = _env(sandbox)
    env.reset(seed=6)
    env.step(_code("import random\nrng = random.Random(1)\nx = [rng.random() for _ in range(3)]"))
    snap = env.snapshot()
    first = env.step(_code("x.append(1)\nprint(len(x), round(sum(x), 6))"))
    env.step("[0]")  # the episode ends and its interpreter goes away
    env.restore(snap)
    second = env.step(_code("x.append(1)\nprint(len(x), round(sum(x), 6))"))
    assert first == second and "4 " in first[0]
    with pytest.raises(TypeError, match="snapshot"):
        env.restore({"episode": None})


def test_close_releases_the_session_and_the_env_stays_usable(sandbox):
    env = CodeInterpreterEnv()  # owns a bwrap sandbox of its own
    env.reset(seed=0)
    env.step(_code("print(1)"))
    session = env._session
    assert session is not None
    env.close()
    env.close()
    with pytest.raises(RuntimeError, match="closed"):
        session.run("print(2)")
    env.reset(seed=0)
    obs, *_ = env.step(_code("print(40 + 2)"))
    assert "42" in obs
    _, _, terminated, _, _ = env.step("[1]")
    assert terminated and env._session is None  # an ended episode holds no interpreter
    env.close()


def test_bad_arguments_name_the_valid_values(sandbox):
    with pytest.raises(ValueError, match="collatz"):
        _env(sandbox, families=["nope"])
    with pytest.raises(ValueError, match=r"\[1, 2, 3\]"):
        _env(sandbox, difficulty=5)
    with pytest.raises(ValueError, match="max_turns"):
        _env(sandbox, max_turns=0)
    with pytest.raises(ValueError, match="bracket"):
        _env(sandbox, answer_format="xml")
    with pytest.raises(ValueError, match="bwrap"):
        CodeInterpreterEnv(sandbox="vm")
    with pytest.raises(TypeError, match="unknown keyword"):
        gym_reason.make("code_interpreter", turns=3)
    env = _env(sandbox)
    with pytest.raises(RuntimeError, match="reset"):
        env.step("[1]")
    env.reset(seed=0)
    with pytest.raises(TypeError, match="str"):
        env.step(None)
    with pytest.raises(ValueError, match="family"):
        env.reset(options={"level": 2})


@pytest.mark.parametrize("kwargs", [{}, {"answer_format": "boxed", "max_turns": 3}])
def test_the_conformance_checker_passes(sandbox, kwargs):
    report = check_env("gym_reason/CodeInterpreter-v0", env_kwargs=kwargs)
    assert report.ok, str(report)


# --------------------------------------------------------------------------- every family is solvable by code


def _solver(task: Task) -> str:
    """Python for the sandbox that prints the task's answer, written from the statement alone."""
    s, n = task.statement, [int(x) for x in re.findall(r"\d+", task.statement)]
    if task.family == "big_arithmetic":
        expression = re.match(r"Compute (.+?)(?:, where|\. Give)", s).group(1).replace("^", "**")
        return f"print({expression})"
    if task.family == "modular_power":
        if "+ ... +" in s:
            return f"print(sum(pow(i, i, 10**10) for i in range(1, {n[-3]} + 1)) % 10**10)"
        return f"print(pow({n[0]}, {n[1]}, {n[2]}))"
    if task.family == "prime_count":
        lo, hi = n[0], n[1]
        if hi < 3 * 10**6:
            return (f"s = bytearray([1]) * ({hi} + 1); s[0] = s[1] = 0\n"
                    f"for p in range(2, int({hi} ** 0.5) + 1):\n    if s[p]: s[p*p::p] = bytes(len(s[p*p::p]))\n"
                    f"print(sum(s[{lo}:]))")  # fmt: skip
        return (
            "def mr(n):\n    if n % 2 == 0: return n == 2\n    d, r = n - 1, 0\n"
            "    while d % 2 == 0: d, r = d // 2, r + 1\n"
            "    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23):\n        x = pow(a, d, n)\n"
            "        if x in (1, n - 1): continue\n        for _ in range(r - 1):\n            x = x * x % n\n"
            "            if x == n - 1: break\n        else: return False\n    return True\n"
            f"print(sum(mr(k) for k in range({lo}, {hi} + 1)))"
        )
    if task.family == "factorial_digits":
        return f"import math, sys\nsys.set_int_max_str_digits(0)\nprint(sum(map(int, str(math.factorial({n[0]})))))"
    if task.family == "list_statistics":
        seed, a, c, m, count, bound = n[1], n[3], n[4], n[5], n[6], n[7]
        code = f"x, L = {seed}, []\nfor _ in range({count}):\n    L.append(x % {bound}); x = ({a} * x + {c}) % {m}\n"
        if "median" in s:
            return code + "import statistics\nprint(statistics.median_low(L))"
        if "-th smallest" in s:
            k = int(re.search(r"the (\d+)-th smallest", s).group(1))
            return code + f"print(sorted(L)[{k} - 1])"
        if "10 largest" in s:
            return code + "import heapq\nprint(sum(heapq.nlargest(10, L)))"
        if "distinct" in s:
            return code + "print(len(set(L)))"
        return code + (
            "best = run = 1\nfor i in range(1, len(L)):\n    run = run + 1 if L[i] > L[i - 1] else 1\n"
            "    best = max(best, run)\nprint(best)"
        )
    if task.family == "lattice_paths":
        width, height = n[2], n[3]
        blocked = list(zip(n[6::2], n[7::2], strict=True))  # n[4:6] is the "+1 in x or +1 in y"
        return (
            f"from functools import lru_cache\nB = set({blocked!r})\n@lru_cache(None)\n"
            "def f(x, y):\n    if x < 0 or y < 0 or (x, y) in B: return 0\n"
            "    return 1 if x == y == 0 else f(x - 1, y) + f(x, y - 1)\n"
            f"print(f({width}, {height}))"
        )
    if task.family == "gcd_lcm":
        if "lcm(1, 2" in s:
            return f"import math\nprint(math.gcd(math.lcm(*range(1, {n[2]} + 1)), {n[3]} ** {n[4]} - 1))"
        if "least common multiple" in s:
            return f"import math\nprint(math.lcm(*{n!r}))"
        return f"import math\nprint(math.gcd({n[0]}, {n[1]}))"
    if task.family == "calendar":
        prelude = "import datetime as dt\n"
        if "day of the week" in s:
            return prelude + f"print(dt.date({n[0]}, {n[1]}, {n[2]}).strftime('%A'))"
        if "How many days" in s:
            return prelude + f"print((dt.date({n[3]}, {n[4]}, {n[5]}) - dt.date({n[0]}, {n[1]}, {n[2]})).days)"
        if "days after" in s:
            return prelude + f"print(dt.date({n[1]}, {n[2]}, {n[3]}) + dt.timedelta(days={n[0]}))"
        weekday = re.search(r"on a (\w+)\?", s).group(1)
        return prelude + (
            f"print(sum(dt.date(y, m, {n[2]}).strftime('%A') == {weekday!r} "
            f"for y in range({n[0]}, {n[1]} + 1) for m in range(1, 13)))"
        )
    if task.family == "digit_string":
        if "positive integers" in s:
            return (
                f"k = {n[-2]}\nfor width in range(1, 20):\n    block = 9 * 10 ** (width - 1) * width\n"
                "    if k <= block: break\n    k -= block\n"
                "number = 10 ** (width - 1) + (k - 1) // width\nprint(str(number)[(k - 1) % width])"
            )
        text = f"s = ''.join(str(i) for i in range(1, {n[2]} + 1))\n"
        if "two-digit" in s:
            pattern = re.search(r'"(\d\d)"', s).group(1)
            return text + f"print(sum(s[i:i + 2] == {pattern!r} for i in range(len(s) - 1)))"
        return text + f"print(s.count({str(n[-1])!r}))"
    if task.family == "collatz":
        step = "def steps(n):\n    c = 0\n    while n != 1:\n        n = n // 2 if n % 2 == 0 else 3 * n + 1\n        c += 1\n    return c\n"
        if "Which starting number" in s:
            limit = n[-2]
            return step + f"print(max(range(1, {limit}), key=lambda k: (steps(k), -k)))"
        return step + f"print(steps({n[-2]}))"
    raise AssertionError(f"no solver for {task.family}")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_and_level_is_solvable_with_the_tool(sandbox, family):
    """An independent solution, run in the sandbox, prints the answer the host computed."""
    env = _env(sandbox, families=[family], timeout=20.0, max_turns=2)
    for level in DIFFICULTIES:
        env.reset(seed=level, options={"difficulty": level})
        obs, _, _, _, info = env.step(_code(_solver(env.task)))
        assert info[REWARD_COMPONENTS].get("code_ok") == CODE_OK, obs[-800:]
        printed = obs.rsplit("Output:\n", 1)[1].split("\n", 1)[0]
        _, reward, terminated, _, info = env.step(f"[{printed}]")
        assert info[OUTCOME] == Outcome.WIN, f"{family} level {level}: {env.task.statement} -> {printed}"
        assert terminated and math.isclose(reward, 1.0 + OUTPUT_USED + TURN_COST)
