"""Procedural tasks for the code interpreter: seeded generators with exact answers computed here.

Each family is one function ``(rng, difficulty) -> Task`` registered with :func:`family`;
difficulty runs from 1 (a few lines of code, or none) to 3 (needs a real algorithm or care
with big numbers). The answer is computed by the host with our own code and kept as text;
:func:`answers_match` compares a model's answer with it. Nothing here knows about prompts,
turns or sandboxes.

>>> import random
>>> task = generate("gcd_lcm", random.Random(0), 1)
>>> task.family, task.difficulty, task.answer.isdigit()
('gcd_lcm', 1, True)
>>> sorted(FAMILIES)[:3]
['big_arithmetic', 'calendar', 'collatz']
"""

from __future__ import annotations

import datetime
import functools
import itertools
import math
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

DIFFICULTIES = (1, 2, 3)


@dataclass(frozen=True)
class Task:
    """One question with its exact answer, computed on first use (so that drawing a task stays cheap)."""

    family: str
    difficulty: int
    statement: str
    solve: Callable[[], object] = field(repr=False, compare=False)
    """Computes the answer; :attr:`answer` calls it once."""

    @functools.cached_property
    def answer(self) -> str:
        """The exact answer as text."""
        return str(self.solve())


Generator = Callable[[random.Random, int], Task]
FAMILIES: dict[str, Generator] = {}
"""Family name -> generator, in registration order."""


def family(name: str) -> Callable[[Callable[[random.Random, int], tuple[str, object]]], Generator]:
    """Register ``fn(rng, difficulty) -> (statement, answer)`` as the task family ``name``.

    ``answer`` is the value, or a function computing it when that takes more than a moment;
    ``fn`` draws everything random before it returns, so the answer depends on the statement alone.
    """

    def wrap(fn: Callable[[random.Random, int], tuple[str, object]]) -> Generator:
        def generator(rng: random.Random, difficulty: int) -> Task:
            statement, answer = fn(rng, difficulty)
            return Task(name, difficulty, statement, answer if callable(answer) else lambda: answer)

        generator.__doc__ = fn.__doc__
        generator.__name__ = fn.__name__
        FAMILIES[name] = generator
        return generator

    return wrap


def generate(name: str, rng: random.Random, difficulty: int) -> Task:
    """A task of family ``name`` at ``difficulty`` (1..3), drawn from ``rng``."""
    if name not in FAMILIES:
        raise ValueError(f"unknown task family {name!r}; valid: {sorted(FAMILIES)}")
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"difficulty must be one of {list(DIFFICULTIES)}, got {difficulty!r}")
    return FAMILIES[name](rng, difficulty)


# --------------------------------------------------------------------------- helpers


def _digits(rng: random.Random, count: int) -> int:
    """A random integer with exactly ``count`` decimal digits."""
    return rng.randrange(10 ** (count - 1), 10**count)


def digit_sum(n: int) -> int:
    """Sum of the decimal digits of ``n >= 0``, without ``str(n)`` (which refuses more than 4300 digits).

    >>> digit_sum(math.factorial(10)), digit_sum(10**5000 + 7)
    (27, 8)
    """
    chunk = 10**1000
    total = 0
    while n:
        n, low = divmod(n, chunk)
        total += sum(map(int, str(low)))
    return total


def count_primes(lo: int, hi: int) -> int:
    """Primes ``p`` with ``lo <= p <= hi`` (a segmented sieve).

    >>> count_primes(1, 100), count_primes(90, 100), count_primes(10**9, 10**9 + 100)
    (25, 1, 7)
    """
    lo = max(lo, 2)
    if hi < lo:
        return 0
    root = math.isqrt(hi)
    base = bytearray([1]) * (root + 1)
    base[:2] = b"\x00\x00"
    for p in range(2, math.isqrt(root) + 1):
        if base[p]:
            base[p * p :: p] = bytes(len(range(p * p, root + 1, p)))
    segment = bytearray([1]) * (hi - lo + 1)
    for p in itertools.compress(range(root + 1), base):
        start = max(p * p, (lo + p - 1) // p * p)
        segment[start - lo :: p] = bytes(len(range(start, hi + 1, p)))
    return segment.count(1)


def _lcg(seed: int, a: int, c: int, m: int, count: int) -> list[int]:
    values, x = [], seed
    for _ in range(count):
        values.append(x)
        x = (a * x + c) % m
    return values


def _collatz_steps(n: int) -> int:
    steps = 0
    while n != 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _date(rng: random.Random, first_year: int, last_year: int) -> datetime.date:
    start = datetime.date(first_year, 1, 1).toordinal()
    end = datetime.date(last_year, 12, 31).toordinal()
    return datetime.date.fromordinal(rng.randint(start, end))


def champernowne_digit(k: int) -> int:
    """The ``k``-th digit (1-based) of 123456789101112...

    >>> [champernowne_digit(k) for k in (1, 9, 10, 11, 12, 190)]
    [1, 9, 1, 0, 1, 1]
    """
    width, count, first = 1, 9, 1
    while k > width * count:
        k -= width * count
        width, count, first = width + 1, count * 10, first * 10
    number = first + (k - 1) // width
    return int(str(number)[(k - 1) % width])


# --------------------------------------------------------------------------- families


@family("big_arithmetic")
def _big_arithmetic(rng: random.Random, difficulty: int) -> tuple[str, object]:
    """Exact arithmetic on integers too long to do by hand."""
    size = {1: 12, 2: 30, 3: 60}[difficulty]
    a, b, c = (_digits(rng, size) for _ in range(3))
    if difficulty == 1:
        return f"Compute {a} * {b} + {c}. Give the exact integer.", a * b + c
    if difficulty == 2:
        d = _digits(rng, 5)
        statement = f"Compute ({a} * {b} - {c}) // {d}, where // is floor division. Give the exact integer."
        return statement, (a * b - c) // d
    return f"Compute {a}^3 - {b} * {c}, where ^ is exponentiation. Give the exact integer.", a**3 - b * c


@family("modular_power")
def _modular_power(rng: random.Random, difficulty: int) -> tuple[str, object]:
    """Powers modulo m with exponents far too large to expand."""
    if difficulty == 3:
        n = rng.randint(500, 3000)
        m = 10**10
        statement = f"Compute the remainder of 1^1 + 2^2 + 3^3 + ... + {n}^{n} divided by 10^10."
        return statement, lambda: sum(pow(i, i, m) for i in range(1, n + 1)) % m
    a = rng.randint(2, 10**6)
    b = _digits(rng, 7) if difficulty == 1 else _digits(rng, 30)
    m = rng.randint(10**5, 10**9)
    return f"Compute {a}^{b} mod {m} (the remainder of {a} to the power {b}, divided by {m}).", pow(a, b, m)


@family("prime_count")
def _prime_count(rng: random.Random, difficulty: int) -> tuple[str, object]:
    """How many primes lie in a range."""
    if difficulty == 1:
        hi = rng.randint(1000, 10_000)
        lo = 1
    elif difficulty == 2:
        lo = rng.randint(10**5, 10**6)
        hi = lo + rng.randint(10**5, 10**6)
    else:
        lo = rng.randint(10**8, 10**9)
        hi = lo + rng.randint(5 * 10**4, 10**5)
    return f"How many prime numbers p satisfy {lo} <= p <= {hi}?", lambda: count_primes(lo, hi)


@family("factorial_digits")
def _factorial_digits(rng: random.Random, difficulty: int) -> tuple[str, object]:
    """Digit sums of factorials (level 3 passes Python's 4300-digit str() limit)."""
    n = {1: rng.randint(10, 50), 2: rng.randint(100, 1000), 3: rng.randint(1500, 3000)}[difficulty]
    return f"What is the sum of the decimal digits of {n}! ({n} factorial)?", lambda: digit_sum(math.factorial(n))


@family("list_statistics")
def _list_statistics(rng: random.Random, difficulty: int) -> tuple[str, object]:
    """A statistic of a long list given by a recurrence."""
    count = {1: 51, 2: 2001, 3: 20_001}[difficulty]
    m = 2**31 - 1
    a, c, seed, bound = rng.randint(10_000, 60_000), rng.randint(1, 10**6), rng.randint(1, 10**6), 10**6
    question = rng.choice(("median", "kth", "top10", "distinct", "run"))
    k = rng.randint(2, count - 1) if question == "kth" else 0
    rule = (
        f"Let x_0 = {seed} and x_(k+1) = ({a} * x_k + {c}) mod {m}. The list L has the {count} values "
        f"x_k mod {bound} for k = 0, 1, ..., {count - 1}."
    )
    questions = {
        "median": "What is the median of L?",
        "kth": f"What is the {k}-th smallest value of L (counting duplicates, 1-based)?",
        "top10": "What is the sum of the 10 largest values of L (counting duplicates)?",
        "distinct": "How many distinct values does L contain?",
        "run": "What is the length of the longest run of consecutive elements of L that strictly increases?",
    }

    def solve() -> int:
        values = [x % bound for x in _lcg(seed, a, c, m, count)]
        ordered = sorted(values)
        if question == "median":
            return ordered[count // 2]
        if question == "kth":
            return ordered[k - 1]
        if question == "top10":
            return sum(ordered[-10:])
        if question == "distinct":
            return len(set(values))
        longest = run = 1
        for before, after in itertools.pairwise(values):
            run = run + 1 if after > before else 1
            longest = max(longest, run)
        return longest

    return f"{rule} {questions[question]}", solve


@family("lattice_paths")
def _lattice_paths(rng: random.Random, difficulty: int) -> tuple[str, object]:
    """Monotone lattice paths, around blocked points from level 2 on."""
    width, height = {1: (rng.randint(3, 10), rng.randint(3, 10)), 2: (rng.randint(10, 20), rng.randint(10, 20)),
                     3: (rng.randint(20, 30), rng.randint(20, 30))}[difficulty]  # fmt: skip
    blocked_count = {1: 0, 2: 1, 3: rng.randint(4, 8)}[difficulty]
    blocked: set[tuple[int, int]] = set()
    while len(blocked) < blocked_count:
        point = (rng.randint(0, width), rng.randint(0, height))
        if point not in ((0, 0), (width, height)):
            blocked.add(point)
    paths = [[0] * (height + 1) for _ in range(width + 1)]
    for x in range(width + 1):
        for y in range(height + 1):
            if (x, y) in blocked:
                continue
            if x == 0 and y == 0:
                paths[x][y] = 1
            else:
                paths[x][y] = (paths[x - 1][y] if x else 0) + (paths[x][y - 1] if y else 0)
    statement = (
        f"A path goes from (0, 0) to ({width}, {height}) on the integer grid, each step moving +1 in x or +1 in y."
    )
    if blocked:
        listed = ", ".join(f"({x}, {y})" for x, y in sorted(blocked))
        statement += f" It may not visit any of these points: {listed}."
    return f"{statement} How many such paths are there?", paths[width][height]


@family("gcd_lcm")
def _gcd_lcm(rng: random.Random, difficulty: int) -> tuple[str, object]:
    """Greatest common divisors and least common multiples."""
    if difficulty == 1:
        common = rng.randint(2, 10**4)
        a, b = common * rng.randint(10**4, 10**5), common * rng.randint(10**4, 10**5)
        return f"What is the greatest common divisor of {a} and {b}?", math.gcd(a, b)
    if difficulty == 2:
        numbers = [rng.randint(2, 10**4) for _ in range(6)]
        listed = ", ".join(map(str, numbers))
        return f"What is the least common multiple of {listed}?", math.lcm(*numbers)
    n = rng.randint(60, 120)
    k = rng.randint(2, 9)
    return (
        f"What is the greatest common divisor of lcm(1, 2, ..., {n}) and {k}^{n} - 1?",
        math.gcd(math.lcm(*range(1, n + 1)), k**n - 1),
    )


@family("calendar")
def _calendar(rng: random.Random, difficulty: int) -> tuple[str, object]:
    """Weekdays and day counts in the Gregorian calendar."""
    if difficulty == 1:
        day = _date(rng, 1900, 2100)
        return f"On which day of the week did (or will) {day.isoformat()} fall? Answer with the English name.", (
            WEEKDAYS[day.weekday()]
        )
    if difficulty == 2:
        first, second = sorted((_date(rng, 1800, 2200), _date(rng, 1800, 2200)))
        if rng.random() < 0.5:
            return (
                f"How many days are there from {first.isoformat()} to {second.isoformat()} "
                "(the second date minus the first)?",
                (second - first).days,
            )
        offset = rng.randint(1000, 100_000)
        later = first + datetime.timedelta(days=offset)
        return f"Which date is {offset} days after {first.isoformat()}? Answer as YYYY-MM-DD.", later.isoformat()
    start = rng.randint(1600, 2400)
    end = start + rng.randint(50, 400)
    weekday = rng.randrange(7)
    day_of_month = rng.choice((1, 13))
    return (
        f"In how many months from January {start} to December {end} (inclusive) did (or will) "
        f"day {day_of_month} of the month fall on a {WEEKDAYS[weekday]}?",
        lambda: sum(
            datetime.date(year, month, day_of_month).weekday() == weekday
            for year in range(start, end + 1)
            for month in range(1, 13)
        ),
    )


@family("digit_string")
def _digit_string(rng: random.Random, difficulty: int) -> tuple[str, object]:
    """Counting inside the string 123456789101112... of consecutive integers."""
    if difficulty == 1:
        n, digit = rng.randint(100, 1000), rng.randrange(10)
        return (
            f"Write the integers 1, 2, ..., {n} one after another: 12345678910111213... "
            f"How many times does the digit {digit} appear?",
            lambda: "".join(map(str, range(1, n + 1))).count(str(digit)),
        )
    if difficulty == 2:
        n = rng.randint(10_000, 50_000)
        first, second = rng.sample("0123456789", 2)
        return (
            f"Write the integers 1, 2, ..., {n} one after another: 12345678910111213... "
            f'How many times does the two-digit string "{first}{second}" occur in the result?',
            lambda: "".join(map(str, range(1, n + 1))).count(first + second),  # distinct digits: no overlaps
        )
    k = rng.randint(10**9, 10**13)
    return (
        f"Write all positive integers one after another: 123456789101112131415... What is digit number {k} "
        "(counting from 1)?",
        champernowne_digit(k),
    )


@family("collatz")
def _collatz(rng: random.Random, difficulty: int) -> tuple[str, object]:
    """Collatz chains: n -> n/2 if even, 3n+1 if odd, until 1."""
    rule = "The Collatz step maps n to n/2 when n is even and to 3n + 1 when n is odd."
    if difficulty < 3:
        n = rng.randint(100, 10_000) if difficulty == 1 else rng.randint(10**11, 10**13)
        return f"{rule} How many steps does it take to go from {n} to 1?", _collatz_steps(n)
    limit = rng.randint(5_000, 15_000)

    def solve() -> int:
        steps = [0] * limit  # steps[k] for 1 <= k < limit, filled in increasing k
        best, best_steps = 1, 0
        for start in range(2, limit):
            n, count = start, 0
            while n >= start:  # every smaller start is already known
                n = n // 2 if n % 2 == 0 else 3 * n + 1
                count += 1
            steps[start] = count + steps[n]
            if steps[start] > best_steps:
                best, best_steps = start, steps[start]
        return best

    return (
        f"{rule} Which starting number below {limit} takes the most steps to reach 1? "
        "(If several tie, give the smallest.)",
        solve,
    )


# --------------------------------------------------------------------------- answers

_NUMBER = re.compile(r"[+-]?(?:\d[\d,_]*)?(?:\.\d+)?(?:[eE][+-]?\d{1,3})?")
_NUMBER_TOKEN = re.compile(r"[+-]?\d[\d,_]*(?:\.\d+)?(?:[eE][+-]?\d{1,3})?")
_WRAPPERS = re.compile(r"^(?:\$+|\\\(|\*\*|`+)|(?:\$+|\\\)|\*\*|`+)$")
_SPACES = re.compile(r"\s+")
_MAX_NUMBER_CHARS = 4000  # int() refuses longer digit strings; no task has an answer that long


def _as_number(text: str) -> Fraction | None:
    """``text`` as an exact number (thousands separators allowed), or ``None``."""
    if not text or len(text) > _MAX_NUMBER_CHARS or not _NUMBER.fullmatch(text) or not any(c.isdigit() for c in text):
        return None
    cleaned = text.replace(",", "").replace("_", "")
    try:
        return Fraction(cleaned)
    except (ValueError, ZeroDivisionError):
        return None


def normalize_answer(text: str) -> str:
    """Trimmed, single-spaced, case-folded, without math/markdown wrappers or a final period.

    >>> normalize_answer("  $1,234$. ")
    '1,234'
    """
    text = _SPACES.sub(" ", text).strip()
    previous = None
    while previous != text:
        previous = text
        text = _WRAPPERS.sub("", text).strip().rstrip(".").strip()
    return text.casefold()


def answers_match(given: str, expected: str) -> bool:
    """Whether the model's answer ``given`` equals ``expected``.

    Numbers compare by value: integers exactly (``1,234`` = ``1234`` = ``1234.0``), other
    numbers within a relative 1e-6; text compares after :func:`normalize_answer`.

    >>> answers_match(" 12,345 ", "12345"), answers_match("12346", "12345"), answers_match("friday", "Friday")
    (True, False, True)
    >>> answers_match("0.3333333", "0.33333333333"), answers_match("2.0", "2")
    (True, True)
    """
    given_n, expected_n = normalize_answer(given), normalize_answer(expected)
    want = _as_number(expected_n)
    if want is not None:
        got = _as_number(given_n)
        if got is None:
            return False
        if want.denominator == 1:
            return got == want
        return abs(got - want) <= Fraction(1, 10**6) * max(abs(want), Fraction(1))
    return given_n == expected_n


def appears_in(answer: str, text: str) -> bool:
    """Whether ``answer`` stands in ``text``: as one of its numbers when it is a number, else as a substring.

    >>> appears_in("1234", "total: 1,234 items"), appears_in("12", "123"), appears_in("2031-05-04", "on 2031-05-04")
    (True, False, True)
    """
    if _as_number(normalize_answer(answer)) is not None:
        return any(answers_match(token, answer) for token in _NUMBER_TOKEN.findall(text))
    return normalize_answer(answer) in normalize_answer(text)
