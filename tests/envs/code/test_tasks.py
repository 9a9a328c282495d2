"""The procedural task families, answer matching and reply parsing (pure: no sandbox)."""

from __future__ import annotations

import datetime
import math
import random
import re

import pytest

from gym_reason.envs.code.replies import cut_head, prose, python_blocks
from gym_reason.envs.code.tasks import (
    DIFFICULTIES,
    FAMILIES,
    answers_match,
    champernowne_digit,
    count_primes,
    digit_sum,
    generate,
)


def test_there_are_at_least_six_families_each_seeded_and_at_every_level():
    assert len(FAMILIES) >= 6
    for name in FAMILIES:
        for level in DIFFICULTIES:
            first = generate(name, random.Random(7), level)
            again = generate(name, random.Random(7), level)
            assert first == again, f"{name} level {level} is not deterministic"
            assert first.family == name and first.difficulty == level
            assert first.statement and first.answer
        statements = {generate(name, random.Random(seed), 2).statement for seed in range(8)}
        assert len(statements) > 1, f"{name} ignores its random generator"


def test_generators_refuse_unknown_names_and_levels():
    with pytest.raises(ValueError, match="collatz"):
        generate("colatz", random.Random(0), 1)
    with pytest.raises(ValueError, match=r"\[1, 2, 3\]"):
        generate("collatz", random.Random(0), 4)


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, math.isqrt(n) + 1))


def test_helpers_agree_with_brute_force():
    rng = random.Random(0)
    for _ in range(30):
        lo = rng.randrange(0, 5000)
        hi = lo + rng.randrange(0, 3000)
        assert count_primes(lo, hi) == sum(_is_prime(n) for n in range(lo, hi + 1))
    text = "".join(map(str, range(1, 5000)))
    assert [champernowne_digit(k) for k in range(1, len(text) + 1)] == [int(c) for c in text]
    for n in (0, 1, 99, 10**50 + 3, math.factorial(200)):
        assert digit_sum(n) == sum(map(int, str(n)))


def _numbers(statement: str) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", statement)]


def test_answers_of_simple_levels_by_independent_formulas():
    for seed in range(20):
        paths = generate("lattice_paths", random.Random(seed), 1)
        _, _, width, height = _numbers(paths.statement)[:4]
        assert int(paths.answer) == math.comb(width + height, width)
        day = generate("calendar", random.Random(seed), 1)
        year, month, dom = _numbers(day.statement)[:3]
        assert day.answer == datetime.date(year, month, dom).strftime("%A")
        power = generate("modular_power", random.Random(seed), 1)
        a, b, m = _numbers(power.statement)[:3]
        assert int(power.answer) == pow(a, b, m)


@pytest.mark.parametrize(
    ("given", "expected", "match"),
    [
        ("42", "42", True),
        (" 42 ", "42", True),
        ("42.0", "42", True),
        ("4.2e1", "42", True),
        ("1,234,567", "1234567", True),
        ("$42$", "42", True),
        ("**42**", "42", True),
        ("42.", "42", True),
        ("43", "42", False),
        ("42.5", "42", False),
        ("forty-two", "42", False),
        ("", "42", False),
        ("1e999", "42", False),
        ("9" * 5000, "42", False),
        ("99999999999999999999999999999999999999", "99999999999999999999999999999999999998", False),
        ("friday", "Friday", True),
        (" FRIDAY. ", "Friday", True),
        ("Thursday", "Friday", False),
        ("2031-05-04", "2031-05-04", True),
        ("2031-5-4", "2031-05-04", False),
        ("0.1234567", "0.12345671", True),
        ("0.1235", "0.12345671", False),
        ("NaN", "42", False),
    ],
)
def test_answers_match(given, expected, match):
    assert answers_match(given, expected) is match


def test_code_blocks_are_read_out_of_replies():
    assert python_blocks("```python\nprint(1)\n```") == ["print(1)"]
    assert python_blocks("```py\na = 1\n```\ntext\n```\nb = 2\n```") == ["a = 1", "b = 2"]
    assert python_blocks("```json\n{}\n```") == []
    assert python_blocks("- item\n  ```python\n  x = 1\n  ```") == ["x = 1"]
    assert python_blocks("cut off: ```python\nprint(l[0]") == ["print(l[0]"]
    assert python_blocks("inline ```python print(2)``` here") == ["print(2)"]
    assert python_blocks("no code [42]") == []
    assert prose("```python\nprint(x[0])\n```\nso [3]").strip() == "so [3]"
    assert cut_head("a" * 10, 4) == "aaaa\n... [6 more characters cut]"
