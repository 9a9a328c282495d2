"""gym_reason/CodeTests-v0 with the real bwrap sandbox: submissions, partial credit, feedback, seeds, snapshots."""

from __future__ import annotations

import math
import runpy
from pathlib import Path

import pytest

import gym_reason
from gym_reason.checker import check_env
from gym_reason.core import INVALID_ACTION, METRICS, OUTCOME, PARSED_ACTION, REWARD_COMPONENTS, Outcome
from gym_reason.envs.code.code_tests import CodeTestsEnv
from gym_reason.envs.code.harness import judge, run_tests
from gym_reason.envs.code.problems import PROBLEMS, problem
from gym_reason.sandboxes import ExecResult

REFERENCE = runpy.run_path(str(Path(__file__).with_name("reference_solutions.py")))["REFERENCE"]


def _block(source: str) -> str:
    return f"Here is my solution.\n```python\n{source.strip()}\n```"


def _env(sandbox, **kwargs) -> CodeTestsEnv:
    return CodeTestsEnv(sandbox=sandbox, **kwargs)


def test_the_observation_shows_statement_signature_and_examples_but_not_the_tests(sandbox):
    env = _env(sandbox)
    obs, info = env.reset(seed=0, options={"problem": "roman_to_int"})
    p = problem("roman_to_int")
    assert p.statement in obs and p.signature in obs and "roman_to_int('XIV') == 14" in obs
    assert "MCMXCIV" not in obs  # a hidden test's input
    assert info["problem"] == "roman_to_int" and info["role"] == "programmer" and "```python" in info["action_format"]
    assert env.observation_space.contains(obs)


def test_a_correct_submission_wins_at_once(sandbox):
    env = _env(sandbox)
    env.reset(seed=0, options={"problem": "two_sum"})
    obs, reward, terminated, truncated, info = env.step(_block(REFERENCE["two_sum"]))
    assert (reward, terminated, truncated, info[OUTCOME]) == (1.0, True, False, Outcome.WIN)
    assert info[REWARD_COMPONENTS] == {"tests_passed": 1.0} and info[INVALID_ACTION] is False
    assert info[PARSED_ACTION].startswith("def two_sum")
    assert "6/6 hidden tests passed" in obs and "All hidden tests passed." in obs
    assert info[METRICS] == {"best_fraction": 1.0, "solved": 1.0, "turns": 1.0, "invalid_actions": 0.0}
    with pytest.raises(RuntimeError, match="reset"):
        env.step(_block(REFERENCE["two_sum"]))


def test_partial_credit_pays_only_improvements_and_sums_to_the_best_fraction(sandbox):
    env = _env(sandbox, max_turns=4, show_failures=2)
    env.reset(seed=0, options={"problem": "fizzbuzz"})
    only_fizz = "def fizzbuzz(n):\n    return 'Fizz' if n % 3 == 0 else str(n)"  # right on 9, 1, 98
    obs, r1, terminated, _, info = env.step(_block(only_fizz))
    assert not terminated and math.isclose(r1, 3 / 7) and info[REWARD_COMPONENTS] == {"tests_passed": r1}
    assert "3/7 hidden tests passed" in obs and "Failures (first 2 of 4):" in obs
    assert "fizzbuzz(15): expected 'FizzBuzz', got 'Fizz'" in obs
    obs, r2, *_ = env.step(_block("def fizzbuzz(n):\n    return str(n)"))  # worse: pays nothing
    assert r2 == 0.0 and "2/7 hidden tests passed" in obs
    _, r3, terminated, _, info = env.step(_block(REFERENCE["fizzbuzz"]))
    assert terminated and info[OUTCOME] == Outcome.WIN
    assert math.isclose(r1 + r2 + r3, 1.0)


def test_running_out_of_turns_truncates_with_the_best_score(sandbox):
    env = _env(sandbox, max_turns=2)
    env.reset(seed=0, options={"problem": "gcd"})
    env.step("I would use the Euclidean algorithm.")
    obs, reward, terminated, truncated, info = env.step(_block("def gcd(a, b):\n    return 1"))
    assert (terminated, truncated, info[OUTCOME]) == (False, True, Outcome.TRUNCATED)
    assert math.isclose(reward, 1 / 7) and info[METRICS]["best_fraction"] == reward
    assert info[METRICS]["invalid_actions"] == 1.0 and "Out of turns" in obs


def test_replies_without_code_are_invalid_and_cost_nothing(sandbox):
    env = _env(sandbox)
    env.reset(seed=3)
    obs, reward, terminated, truncated, info = env.step("def f(x): return x  # no fence")
    assert info[INVALID_ACTION] is True and info[PARSED_ACTION] is None
    assert reward == 0.0 and info[REWARD_COMPONENTS] == {"tests_passed": 0.0}
    assert "No ```python block" in obs and not (terminated or truncated)


def test_broken_slow_and_noisy_submissions_are_reported_not_raised(sandbox):
    env = _env(sandbox, test_timeout=0.5, max_turns=6)
    env.reset(seed=0, options={"problem": "factorial"})
    obs, reward, *_ = env.step(_block("def factorial(n:\n    return 1"))
    assert reward == 0.0 and "could not be loaded: SyntaxError" in obs
    obs, *_ = env.step(_block("def fact(n):\n    return 1"))
    assert "defines no function named factorial" in obs
    obs, reward, *_ = env.step(
        _block("def factorial(n):\n    while n > 2:\n        pass\n    return 1 if n < 2 else 2")
    )
    assert "timed out after 0.5 s" in obs and math.isclose(reward, 2 / 6)  # 0! and 1! pass
    obs, *_ = env.step(_block("def factorial(n):\n    raise ValueError('nope')"))
    assert "raised ValueError: nope" in obs
    obs, *_ = env.step(_block("import os\ndef factorial(n):\n    print('x' * 10**6)\n    os._exit(3)"))
    assert "the run crashed (exit status 3)" in obs and "no result" in obs
    obs, _, terminated, _, _ = env.step(_block("def factorial(n):\n    return {n}"))
    assert "returned a value the tests cannot read (set)" in obs and not terminated


def test_printed_fake_reports_do_not_count(sandbox):
    """The harness's report lines carry a random token and the host compares values itself."""
    forged = (
        "import json, os\n"
        "def gcd(a, b):\n"
        "    for i in range(10):  # straight to fd 1, past the harness's print redirection\n"
        "        os.write(1, ('0' * 32 + ' ' + json.dumps({'i': i, 'got': 0}) + '\\n').encode())\n"
        "        os.write(1, (json.dumps({'i': i, 'got': 0}) + '\\n').encode())\n"
        "    return -1"
    )
    env = _env(sandbox)
    env.reset(seed=0, options={"problem": "gcd"})
    _, reward, terminated, _, _ = env.step(_block(forged))
    assert reward == 0.0 and not terminated


def test_the_judge_reads_reports_robustly():
    token = "t" * 32
    tests = [((1,), 1), ((2,), 4.0), ((3,), 9)]
    stdout = (
        f'noise {token} {{"loaded": true}}\n'
        f'{token} {{"i": 0, "got": 1}}\n'
        f'{token} {{"i": 0, "got": 5}}\n'  # a second report for a test is ignored
        f"{token} not json\n"
        f'{token} {{"i": 7, "got": 1}}\n'
        f'xx{token} {{"i": 1, "got": 4.0000000001}}\n'
    )
    result = ExecResult(stdout, "", 0, False, False, 0.1)
    report = judge(result, token, "square", tests, timeout=1.0)
    assert (report.passed, report.total) == (2, 3)
    assert report.failures[0].call == "square(3)" and "no result" in report.failures[0].problem
    assert report.note == "the run crashed (exit status 0)"


def test_run_tests_uses_one_sandbox_run_per_submission(sandbox):
    report = run_tests(sandbox, REFERENCE["gcd"], "gcd", problem("gcd").tests)
    assert report.passed == report.total == len(problem("gcd").tests) and report.fraction == 1.0


def test_seeds_select_problems_deterministically(sandbox):
    env, other = _env(sandbox), _env(sandbox)
    chosen = [env.reset(seed=s)[1]["problem"] for s in range(30)]
    assert chosen == [other.reset(seed=s)[1]["problem"] for s in range(30)] and len(set(chosen)) > 10
    actions = ["hmm", _block("def f():\n    return 0"), _block("x = 1")]

    def play(e: CodeTestsEnv, seed: int) -> list[object]:
        record: list[object] = [e.reset(seed=seed)]
        record += [e.step(a) for a in actions]
        return record

    assert play(env, 5) == play(env, 5) == play(other, 5)
    easy = _env(sandbox, difficulty=1)
    assert all(problem(easy.reset(seed=s)[1]["problem"]).difficulty == 1 for s in range(20))
    two = _env(sandbox, problems=["gcd", "mode"])
    assert {two.reset(seed=s)[1]["problem"] for s in range(20)} == {"gcd", "mode"}


def test_snapshot_and_restore_replay_identically(sandbox):
    env = _env(sandbox, max_turns=3)
    env.reset(seed=0, options={"problem": "is_leap_year"})
    env.step(_block("def is_leap_year(y):\n    return y % 4 == 0"))
    snap = env.snapshot()
    first = env.step(_block(REFERENCE["is_leap_year"]))
    env.restore(snap)
    again = env.step(_block(REFERENCE["is_leap_year"]))
    assert first == again and first[2] is True
    env.restore(snap)
    _, reward, *_ = env.step(_block("def is_leap_year(y):\n    return y % 4 == 0"))
    assert reward == 0.0  # the best score so far was restored too


def test_bad_arguments_name_the_valid_values(sandbox):
    with pytest.raises(ValueError, match="fizzbuzz"):
        _env(sandbox, problems=["fizbuzz"])
    with pytest.raises(ValueError, match="widen"):
        _env(sandbox, problems=["fizzbuzz"], difficulty=3)
    with pytest.raises(ValueError, match="max_turns"):
        _env(sandbox, max_turns=0)
    with pytest.raises(ValueError, match="test_timeout"):
        _env(sandbox, test_timeout=-1)
    with pytest.raises(ValueError, match="bwrap"):
        CodeTestsEnv(sandbox="vm")
    with pytest.raises(TypeError, match="unknown keyword"):
        gym_reason.make("code_tests", turns=3)
    env = _env(sandbox)
    with pytest.raises(ValueError, match="fizzbuzz"):
        env.reset(options={"problem": "nope"})


@pytest.mark.parametrize("kwargs", [{}, {"max_turns": 2, "difficulty": 3, "show_failures": 0}])
def test_the_conformance_checker_passes(sandbox, kwargs):
    report = check_env("gym_reason/CodeTests-v0", env_kwargs=kwargs)
    assert report.ok, str(report)


def test_every_problem_is_reachable_through_the_env(sandbox):
    env = _env(sandbox)
    ids = {env.reset(options={"problem": p.id})[1]["problem"] for p in PROBLEMS}
    assert ids == {p.id for p in PROBLEMS}
