"""The CodeTests problem set: well-formed data, and every problem verified in the real sandbox.

Each reference solution (``reference_solutions.py``) must pass all of its problem's hidden
tests and examples; a function returning ``None`` and one returning the first example's
answer must each fail some. One sandbox run per check (about 40 ms each).
"""

from __future__ import annotations

import json
import runpy
from collections import Counter
from pathlib import Path

import pytest

from gym_reason.core import OUTCOME, Outcome
from gym_reason.envs.code.code_tests import CodeTestsEnv
from gym_reason.envs.code.harness import run_tests
from gym_reason.envs.code.problems import PROBLEMS, Problem, problem

REFERENCE: dict[str, str] = runpy.run_path(str(Path(__file__).with_name("reference_solutions.py")))["REFERENCE"]


def test_the_problem_set_is_large_varied_and_well_formed():
    assert len(PROBLEMS) >= 50
    assert len({p.id for p in PROBLEMS}) == len(PROBLEMS)
    levels = Counter(p.difficulty for p in PROBLEMS)
    assert set(levels) == {1, 2, 3} and min(levels.values()) >= 10, levels
    for p in PROBLEMS:
        assert 1 <= len(p.examples) <= 2 and len(p.tests) >= 5, p.id
        assert p.signature.startswith(f"def {p.entry_point}(")
        assert len({json.dumps(expected) for _, expected in p.tests}) >= 2, f"{p.id}: one answer fits every test"
        for args, expected in (*p.examples, *p.tests):
            assert json.loads(json.dumps([list(args), expected])) == [list(args), expected], p.id
    assert set(REFERENCE) == {p.id for p in PROBLEMS}
    with pytest.raises(KeyError, match="fizzbuzz"):
        problem("fizzbuz")


@pytest.mark.parametrize("p", PROBLEMS, ids=lambda p: p.id)
def test_the_reference_solution_passes_every_test_and_wrong_ones_do_not(sandbox, p: Problem):
    report = run_tests(sandbox, REFERENCE[p.id], p.entry_point, [*p.examples, *p.tests])
    assert report.passed == report.total, [(f.call, f.problem) for f in report.failures]
    for wrong in ("None", repr(p.examples[0][1])):
        stub = f"def {p.entry_point}(*args):\n    return {wrong}\n"
        report = run_tests(sandbox, stub, p.entry_point, p.tests)
        assert report.passed < report.total, f"{p.id}: a function returning {wrong} passes every test"


@pytest.mark.parametrize("problem_id", ["fizzbuzz", "group_anagrams", "evaluate", "count_inversions", "word_break"])
def test_reference_solutions_win_episodes(sandbox, problem_id):
    env = CodeTestsEnv(sandbox=sandbox)
    env.reset(seed=0, options={"problem": problem_id})
    _, reward, terminated, _, info = env.step(f"```python\n{REFERENCE[problem_id]}\n```")
    assert terminated and reward == 1.0 and info[OUTCOME] == Outcome.WIN
