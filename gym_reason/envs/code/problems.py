"""The problem set of ``gym_reason/CodeTests-v0``: statements, signatures, examples and hidden tests.

Data only, written for this repo. Each problem names one function; a test is
``(args, expected)`` where ``args`` is the tuple of positional arguments and ``expected``
the return value, both plain JSON data (``None``, bools, ints, floats, strings, lists and
dicts with string keys: tuples are not used, since JSON would turn them into lists).
Floats compare within a relative 1e-6. Examples are shown to the model; tests are not.
Reference solutions live in the test suite (``tests/envs/code/reference_solutions.py``),
which checks that each one passes every test of its problem in the sandbox.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

Case = tuple[tuple[Any, ...], Any]


@dataclass(frozen=True, slots=True)
class Problem:
    """One function to write."""

    id: str
    difficulty: int
    signature: str
    statement: str
    examples: tuple[Case, ...]
    tests: tuple[Case, ...]

    @property
    def entry_point(self) -> str:
        """The name of the function to define."""
        match = re.match(r"def (\w+)\(", self.signature)
        assert match is not None
        return match.group(1)


PROBLEMS: list[Problem] = []


def _problem(id: str, difficulty: int, signature: str, statement: str, examples: list[Case], tests: list[Case]) -> None:
    if not re.fullmatch(r"def \w+\(.*\) -> .+", signature):
        raise ValueError(f"{id}: signature {signature!r} must look like 'def name(arg: type) -> type'")
    if difficulty not in (1, 2, 3) or not 1 <= len(examples) <= 2 or len(tests) < 5:
        raise ValueError(f"{id}: needs difficulty 1..3, 1-2 examples and at least 5 tests")
    for args, expected in (*examples, *tests):
        if not isinstance(args, tuple):
            raise ValueError(f"{id}: arguments {args!r} must be a tuple (a 1-tuple is written (x,))")
        for value in (list(args), expected):
            if json.loads(json.dumps(value)) != value:
                raise ValueError(f"{id}: {value!r} is not plain JSON data")
    if any(p.id == id for p in PROBLEMS):
        raise ValueError(f"duplicate problem id {id!r}")
    PROBLEMS.append(Problem(id, difficulty, signature, statement, tuple(examples), tuple(tests)))


# --------------------------------------------------------------------------- difficulty 1

_problem(
    "fizzbuzz", 1, "def fizzbuzz(n: int) -> str",
    'Return "FizzBuzz" if n is divisible by both 3 and 5, "Fizz" if only by 3, "Buzz" if only by 5, '
    "and otherwise n written in decimal.",
    [((3,), "Fizz"), ((7,), "7")],
    [((15,), "FizzBuzz"), ((5,), "Buzz"), ((9,), "Fizz"), ((1,), "1"), ((0,), "FizzBuzz"), ((-10,), "Buzz"),
     ((98,), "98")],
)  # fmt: skip
_problem(
    "reverse_words", 1, "def reverse_words(s: str) -> str",
    "Return the words of s in reverse order, joined by single spaces. Words are separated by spaces; "
    "extra spaces (leading, trailing or repeated) are dropped.",
    [(("hello world",), "world hello")],
    [(("a b c",), "c b a"), (("  leading and trailing  ",), "trailing and leading"), (("single",), "single"),
     (("",), ""), (("x  y",), "y x"), (("Hello, World!",), "World! Hello,")],
)  # fmt: skip
_problem(
    "count_vowels", 1, "def count_vowels(s: str) -> int",
    "Count the vowels a, e, i, o and u in s, upper or lower case (y is not a vowel).",
    [(("hello",), 2)],
    [(("",), 0), (("AEIOU",), 5), (("rhythm",), 0), (("Programming is fun",), 5), (("yay",), 1),
     (("Queueing",), 5)],
)  # fmt: skip
_problem(
    "is_palindrome", 1, "def is_palindrome(s: str) -> bool",
    "Return True if s reads the same backwards once only its letters and digits are kept and case is ignored.",
    [(("A man, a plan, a canal: Panama",), True)],
    [(("race a car",), False), (("",), True), (("12321",), True), (("No 'x' in Nixon",), True), (("ab",), False),
     (("Was it a car or a cat I saw?",), True), (("0P",), False)],
)  # fmt: skip
_problem(
    "second_largest", 1, "def second_largest(nums: list[int]) -> int | None",
    "Return the second largest distinct value in nums, or None if nums has fewer than two distinct values.",
    [(([3, 1, 4, 1, 5],), 4)],
    [(([5, 5, 5],), None), (([],), None), (([1, 2],), 1), (([-3, -1, -2],), -2), (([10, 10, 9],), 9),
     (([7],), None), (([2, 9, 9, 3, 8],), 8)],
)  # fmt: skip
_problem(
    "celsius_to_fahrenheit", 1, "def celsius_to_fahrenheit(c: float) -> float",
    "Convert c degrees Celsius to degrees Fahrenheit: F = C * 9 / 5 + 32.",
    [((100,), 212.0)],
    [((0,), 32.0), ((-40,), -40.0), ((37,), 98.6), ((36.6,), 97.88), ((-273.15,), -459.67), ((1,), 33.8)],
)  # fmt: skip
_problem(
    "sum_of_digits", 1, "def sum_of_digits(n: int) -> int",
    "Return the sum of the decimal digits of n; the sign of a negative n is ignored.",
    [((123,), 6)],
    [((0,), 0), ((-456,), 15), ((9999,), 36), ((1000000,), 1), ((98765432123456789,), 89), ((7,), 7)],
)  # fmt: skip
_problem(
    "title_case", 1, "def title_case(s: str) -> str",
    "Return s with the first character of every word upper-cased and the rest of each word lower-cased. "
    "Words are separated by single spaces, which stay as they are. (Note: str.title() does something else.)",
    [(("hello world",), "Hello World")],
    [(("PYTHON is FUN",), "Python Is Fun"), (("",), ""), (("a",), "A"), (("123abc def",), "123abc Def"),
     (("mIxEd CaSe",), "Mixed Case"), (("o'neil x",), "O'neil X")],
)  # fmt: skip
_problem(
    "word_counts", 1, "def word_counts(text: str) -> dict[str, int]",
    "Count how often each word occurs in text. Lower-case the text first; a word is a maximal run of the "
    "letters a-z, and every other character separates words. Return a dict from each word to its count.",
    [(("The cat and the hat",), {"the": 2, "cat": 1, "and": 1, "hat": 1})],
    [(("",), {}), (("Hi! hi, HI?",), {"hi": 3}), (("one two3three",), {"one": 1, "two": 1, "three": 1}),
     (("a-b a_b",), {"a": 2, "b": 2}), (("Don't stop",), {"don": 1, "t": 1, "stop": 1}), (("x",), {"x": 1})],
)  # fmt: skip
_problem(
    "chunk_list", 1, "def chunk_list(items: list, size: int) -> list[list]",
    "Split items into consecutive chunks of length size (the last chunk may be shorter). size is at least 1.",
    [(([1, 2, 3, 4, 5], 2), [[1, 2], [3, 4], [5]])],
    [(([], 3), []), (([1, 2, 3], 1), [[1], [2], [3]]), (([1, 2, 3], 5), [[1, 2, 3]]),
     ((["a", "b", "c", "d"], 2), [["a", "b"], ["c", "d"]]), (([0] * 7, 3), [[0, 0, 0], [0, 0, 0], [0]])],
)  # fmt: skip
_problem(
    "dedupe", 1, "def dedupe(items: list) -> list",
    "Remove repeated elements from items, keeping the first occurrence of each, in their original order.",
    [(([3, 1, 3, 2, 1],), [3, 1, 2])],
    [(([],), []), (([1, 1, 1],), [1]), ((["b", "a", "b", "c"],), ["b", "a", "c"]), (([5, 4, 3],), [5, 4, 3]),
     (([2, 3, 2, 3, 4, 4, 2],), [2, 3, 4])],
)  # fmt: skip
_problem(
    "factorial", 1, "def factorial(n: int) -> int",
    "Return n! (the product 1 * 2 * ... * n) for n >= 0; 0! is 1.",
    [((5,), 120)],
    [((0,), 1), ((1,), 1), ((10,), 3628800), ((20,), 2432902008176640000),
     ((25,), 15511210043330985984000000), ((3,), 6)],
)  # fmt: skip
_problem(
    "gcd", 1, "def gcd(a: int, b: int) -> int",
    "Return the greatest common divisor of a and b. Either may be negative or zero; the result is never "
    "negative, and gcd(0, 0) is 0.",
    [((12, 18), 6)],
    [((0, 0), 0), ((0, 7), 7), ((-12, 18), 6), ((17, 13), 1), ((1071, 462), 21), ((-8, -12), 4),
     ((10**18, 10**12), 10**12)],
)  # fmt: skip
_problem(
    "is_leap_year", 1, "def is_leap_year(year: int) -> bool",
    "Whether year is a leap year in the Gregorian calendar: divisible by 4, except centuries, "
    "except centuries divisible by 400.",
    [((2024,), True)],
    [((1900,), False), ((2000,), True), ((2023,), False), ((2100,), False), ((1600,), True), ((4,), True),
     ((2400,), True)],
)  # fmt: skip
_problem(
    "hamming_distance", 1, "def hamming_distance(a: str, b: str) -> int",
    "The number of positions at which the equal-length strings a and b differ.",
    [(("karolin", "kathrin"), 3)],
    [(("", ""), 0), (("abc", "abc"), 0), (("abc", "xyz"), 3), (("1011101", "1001001"), 2), (("AaAa", "aAaA"), 4),
     (("toned", "roses"), 3)],
)  # fmt: skip
_problem(
    "rotate_right", 1, "def rotate_right(items: list, k: int) -> list",
    "Rotate items k places to the right (with k = 1 the last element moves to the front). k may be larger "
    "than the length of items, or negative (a negative k rotates to the left). Return a new list.",
    [(([1, 2, 3, 4, 5], 2), [4, 5, 1, 2, 3])],
    [(([], 3), []), (([1, 2, 3], 0), [1, 2, 3]), (([1, 2, 3], 3), [1, 2, 3]), (([1, 2, 3], 4), [3, 1, 2]),
     (([1, 2, 3, 4], -1), [2, 3, 4, 1]), ((["a"], 100), ["a"]), (([1, 2, 3, 4, 5], -7), [3, 4, 5, 1, 2])],
)  # fmt: skip
_problem(
    "digital_root", 1, "def digital_root(n: int) -> int",
    "Repeatedly replace n (n >= 0) by the sum of its decimal digits until a single digit remains; return it.",
    [((942,), 6)],
    [((0,), 0), ((9,), 9), ((10,), 1), ((99999,), 9), ((123456789,), 9), ((493193,), 2), ((38,), 2)],
)  # fmt: skip
_problem(
    "caesar_shift", 1, "def caesar_shift(text: str, shift: int) -> str",
    "Shift every letter of text by shift places in the alphabet, wrapping around from z to a and keeping its "
    "case; other characters stay as they are. shift may be negative or larger than 26.",
    [(("abc", 1), "bcd")],
    [(("xyz", 3), "abc"), (("Hello, World!", 13), "Uryyb, Jbeyq!"), (("abc", -1), "zab"), (("Zebra", 52), "Zebra"),
     (("", 5), ""), (("Python 3.11", 27), "Qzuipo 3.11")],
)  # fmt: skip
_problem(
    "running_sum", 1, "def running_sum(nums: list[int]) -> list[int]",
    "Return the running sums of nums: element i of the result is nums[0] + ... + nums[i].",
    [(([1, 2, 3, 4],), [1, 3, 6, 10])],
    [(([],), []), (([5],), [5]), (([1, -1, 1, -1],), [1, 0, 1, 0]), (([0, 0, 0],), [0, 0, 0]),
     (([10**12, 10**12],), [10**12, 2 * 10**12]), (([3, 1, 4, 1, 5],), [3, 4, 8, 9, 14])],
)  # fmt: skip
_problem(
    "are_anagrams", 1, "def are_anagrams(a: str, b: str) -> bool",
    "Whether a and b use the same letters the same number of times, ignoring case and every character "
    "that is not a letter.",
    [(("Listen", "Silent"), True)],
    [(("Dormitory", "dirty room"), True), (("abc", "abd"), False), (("", ""), True), (("aab", "abb"), False),
     (("Astronomer", "Moon starer!"), True), (("a", ""), False)],
)  # fmt: skip
_problem(
    "to_binary", 1, "def to_binary(n: int) -> str",
    'Return n in binary without any prefix; a negative n gets a leading minus sign, and 0 is "0".',
    [((5,), "101")],
    [((0,), "0"), ((1,), "1"), ((255,), "11111111"), ((-6,), "-110"), ((1024,), "10000000000"),
     ((2**40 + 1,), "1" + "0" * 39 + "1")],
)  # fmt: skip

# --------------------------------------------------------------------------- difficulty 2

_problem(
    "roman_to_int", 2, "def roman_to_int(s: str) -> int",
    "Return the value of the Roman numeral s, written with I, V, X, L, C, D, M and the subtractive pairs "
    "IV, IX, XL, XC, CD, CM. s is a valid numeral between 1 and 3999.",
    [(("XIV",), 14)],
    [(("I",), 1), (("MCMXCIV",), 1994), (("MMMCMXCIX",), 3999), (("LVIII",), 58), (("CDXLIV",), 444),
     (("IX",), 9)],
)  # fmt: skip
_problem(
    "int_to_roman", 2, "def int_to_roman(n: int) -> str",
    "Write n (1 <= n <= 3999) as a Roman numeral, using the subtractive pairs IV, IX, XL, XC, CD and CM.",
    [((14,), "XIV")],
    [((1,), "I"), ((4,), "IV"), ((1994,), "MCMXCIV"), ((3999,), "MMMCMXCIX"), ((444,), "CDXLIV"),
     ((2024,), "MMXXIV")],
)  # fmt: skip
_problem(
    "balanced_brackets", 2, "def balanced_brackets(s: str) -> bool",
    "Whether every (, [ and { in s is closed by its matching bracket, in the right order, and no closing "
    "bracket is left unmatched. Other characters are ignored.",
    [(("([]{})",), True)],
    [(("",), True), (("(]",), False), (("([)]",), False), (("((",), False), (("a(b[c]d)e",), True),
     ((")(",), False), (("{[()()]}",), True)],
)  # fmt: skip
_problem(
    "rle_encode", 2, "def rle_encode(s: str) -> str",
    'Run-length encode s: each maximal run of one repeated character becomes that character followed by '
    'the length of the run, e.g. "aaab" becomes "a3b1".',
    [(("aaabcc",), "a3b1c2")],
    [(("",), ""), (("a",), "a1"), (("abc",), "a1b1c1"), (("z" * 12,), "z12"), (("aabbaa",), "a2b2a2"),
     (("  !",), " 2!1")],
)  # fmt: skip
_problem(
    "rle_decode", 2, "def rle_decode(s: str) -> str",
    'Decode a run-length encoding: s is a sequence of letters, each followed by its count written with one '
    'or more digits (a count may be 0). For example "a3b1" decodes to "aaab".',
    [(("a3b1c2",), "aaabcc")],
    [(("",), ""), (("x1",), "x"), (("a10",), "a" * 10), (("a2b2a2",), "aabbaa"), (("q0z2",), "zz"),
     (("A1b12",), "A" + "b" * 12)],
)  # fmt: skip
_problem(
    "merge_intervals", 2, "def merge_intervals(intervals: list[list[int]]) -> list[list[int]]",
    "Merge overlapping intervals [start, end] (start <= end; both ends included). Intervals that touch (one "
    "ends where the next starts) merge too. Return the merged intervals sorted by start.",
    [(([[1, 3], [2, 6], [8, 10]],), [[1, 6], [8, 10]])],
    [(([],), []), (([[5, 5]],), [[5, 5]]), (([[1, 4], [4, 5]],), [[1, 5]]),
     (([[8, 10], [1, 3], [2, 6]],), [[1, 6], [8, 10]]), (([[1, 10], [2, 3], [4, 5]],), [[1, 10]]),
     (([[1, 2], [3, 4]],), [[1, 2], [3, 4]]), (([[-5, -1], [-2, 0]],), [[-5, 0]])],
)  # fmt: skip
_problem(
    "two_sum", 2, "def two_sum(nums: list[int], target: int) -> list[int]",
    "Return [i, j] with i < j and nums[i] + nums[j] == target. Exactly one such pair exists.",
    [(([2, 7, 11, 15], 9), [0, 1])],
    [(([3, 2, 4], 6), [1, 2]), (([3, 3], 6), [0, 1]), (([1, 4, -2, 8], 6), [2, 3]), (([0, 4, 3, 0], 0), [0, 3]),
     (([-1, -2, -3, -4, -5], -8), [2, 4]), (([5, 75, 25], 100), [1, 2])],
)  # fmt: skip
_problem(
    "common_prefix", 2, "def common_prefix(words: list[str]) -> str",
    'Return the longest string that every word starts with ("" for an empty list).',
    [((["flower", "flow", "flight"],), "fl")],
    [(([],), ""), ((["dog", "racecar", "car"],), ""), ((["same", "same"],), "same"), ((["a"],), "a"),
     ((["interview", "internet", "interval"],), "inter"), ((["", "abc"],), ""), ((["prefix", "pre"],), "pre")],
)  # fmt: skip
_problem(
    "is_prime", 2, "def is_prime(n: int) -> bool",
    "Whether n is a prime number. n may be negative, zero, or as large as 10**12.",
    [((7,), True)],
    [((1,), False), ((0,), False), ((-7,), False), ((2,), True), ((97,), True), ((561,), False),
     ((999999999989,), True), ((1000000007,), True), ((3000000021,), False), ((999966000289,), False)],
)  # fmt: skip
_problem(
    "primes_up_to", 2, "def primes_up_to(n: int) -> list[int]",
    "All prime numbers p <= n, in ascending order (an empty list when there are none).",
    [((10,), [2, 3, 5, 7])],
    [((1,), []), ((2,), [2]), ((0,), []), ((30,), [2, 3, 5, 7, 11, 13, 17, 19, 23, 29]), ((-5,), []),
     ((50,), [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47])],
)  # fmt: skip
_problem(
    "transpose", 2, "def transpose(matrix: list[list[int]]) -> list[list[int]]",
    "Return the transpose of matrix (its rows become columns). matrix is rectangular; [] stays [].",
    [(([[1, 2, 3], [4, 5, 6]],), [[1, 4], [2, 5], [3, 6]])],
    [(([],), []), (([[1]],), [[1]]), (([[1, 2]],), [[1], [2]]), (([[1], [2]],), [[1, 2]]),
     (([[1, 2], [3, 4]],), [[1, 3], [2, 4]])],
)  # fmt: skip
_problem(
    "spiral_order", 2, "def spiral_order(matrix: list[list[int]]) -> list[int]",
    "Return the elements of the rectangular matrix in clockwise spiral order, starting at the top left.",
    [(([[1, 2, 3], [4, 5, 6], [7, 8, 9]],), [1, 2, 3, 6, 9, 8, 7, 4, 5])],
    [(([],), []), (([[1]],), [1]), (([[1, 2, 3, 4]],), [1, 2, 3, 4]), (([[1], [2], [3]],), [1, 2, 3]),
     (([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]],), [1, 2, 3, 4, 8, 12, 11, 10, 9, 5, 6, 7]),
     (([[1, 2], [3, 4]],), [1, 2, 4, 3])],
)  # fmt: skip
_problem(
    "word_pattern", 2, "def word_pattern(pattern: str, text: str) -> bool",
    "Whether the words of text (separated by single spaces) follow pattern: the letters of pattern and the "
    "words correspond one to one, position by position (equal letters, equal words; different letters, "
    "different words), and there are as many words as letters.",
    [(("abba", "dog cat cat dog"), True)],
    [(("abba", "dog cat cat fish"), False), (("aaaa", "dog cat cat dog"), False),
     (("abba", "dog dog dog dog"), False), (("abc", "x y z"), True), (("ab", "x y z"), False),
     (("a", "hello"), True)],
)  # fmt: skip
_problem(
    "group_anagrams", 2, "def group_anagrams(words: list[str]) -> list[list[str]]",
    "Group the words that are anagrams of each other (the same characters the same number of times; case "
    "matters). Sort the words inside each group, then sort the groups by their first word. Repeated words "
    "stay repeated.",
    [((["eat", "tea", "tan", "ate", "nat", "bat"],), [["ate", "eat", "tea"], ["bat"], ["nat", "tan"]])],
    [(([],), []), (([""],), [[""]]), ((["a"],), [["a"]]),
     ((["abc", "bca", "cab", "xyz"],), [["abc", "bca", "cab"], ["xyz"]]), ((["ab", "ba", "ab"],), [["ab", "ab", "ba"]]),
     ((["Ab", "bA", "ab"],), [["Ab", "bA"], ["ab"]])],
)  # fmt: skip
_problem(
    "binary_search", 2, "def binary_search(nums: list[int], target: int) -> int",
    "nums is sorted in ascending order and has no repeated values. Return the index of target in nums, or -1 "
    "if it is not there.",
    [(([1, 3, 5, 7, 9], 7), 3)],
    [(([], 1), -1), (([5], 5), 0), (([5], 4), -1), (([1, 3, 5, 7, 9], 1), 0), (([1, 3, 5, 7, 9], 9), 4),
     (([1, 3, 5, 7, 9], 6), -1), ((list(range(0, 2000, 2)), 1998), 999)],
)  # fmt: skip
_problem(
    "pascal_row", 2, "def pascal_row(n: int) -> list[int]",
    "Return row n of Pascal's triangle, counting rows from 0 (row 0 is [1]).",
    [((3,), [1, 3, 3, 1])],
    [((0,), [1]), ((1,), [1, 1]), ((5,), [1, 5, 10, 10, 5, 1]), ((10,), [1, 10, 45, 120, 210, 252, 210, 120, 45, 10, 1]),
     ((2,), [1, 2, 1])],
)  # fmt: skip
_problem(
    "longest_unique_substring", 2, "def longest_unique_substring(s: str) -> int",
    "Return the length of the longest contiguous substring of s in which no character repeats.",
    [(("abcabcbb",), 3)],
    [(("",), 0), (("bbbbb",), 1), (("pwwkew",), 3), (("abcdef",), 6), (("dvdf",), 3), (("abba",), 2), ((" ",), 1)],
)  # fmt: skip
_problem(
    "max_subarray_sum", 2, "def max_subarray_sum(nums: list[int]) -> int",
    "Return the largest sum of a non-empty contiguous run of elements of nums (nums is not empty).",
    [(([-2, 1, -3, 4, -1, 2, 1, -5, 4],), 6)],
    [(([1],), 1), (([-3, -1, -2],), -1), (([5, 4, -1, 7, 8],), 23), (([0, 0],), 0), (([2, -1, 2, -1, 2],), 4),
     (([-2, -3, 4, -1, -2, 1, 5, -3],), 7)],
)  # fmt: skip
_problem(
    "count_islands", 2, "def count_islands(grid: list[str]) -> int",
    "grid is a list of equal-length strings of '1' (land) and '0' (water). Count the islands: groups of land "
    "cells joined horizontally or vertically (not diagonally).",
    [((["11000", "11000", "00100", "00011"],), 3)],
    [(([],), 0), ((["0"],), 0), ((["1"],), 1), ((["101", "010", "101"],), 5), ((["111", "101", "111"],), 1),
     ((["1100", "0110", "0011"],), 1), ((["10", "01"],), 2)],
)  # fmt: skip
_problem(
    "compress_ranges", 2, "def compress_ranges(nums: list[int]) -> str",
    'nums is sorted ascending without repeats. Write each run of two or more consecutive integers as "a-b" '
    'and every other number by itself, joined by commas without spaces.',
    [(([1, 2, 3, 5, 7, 8],), "1-3,5,7-8")],
    [(([],), ""), (([4],), "4"), (([1, 3, 5],), "1,3,5"), (([-3, -2, -1, 0, 2],), "-3-0,2"), (([10, 11],), "10-11"),
     (([1, 2, 3, 4, 5],), "1-5")],
)  # fmt: skip
_problem(
    "parse_duration", 2, "def parse_duration(text: str) -> int",
    'text looks like "1h30m15s": hours, minutes and seconds, each part optional but in that order, each a '
    "non-negative integer followed by h, m or s. Return the total number of seconds.",
    [(("1h30m15s",), 5415)],
    [(("45s",), 45), (("2h",), 7200), (("90m",), 5400), (("1h1s",), 3601), (("0h0m0s",), 0), (("10h59m59s",), 39599)],
)  # fmt: skip
_problem(
    "next_permutation", 2, "def next_permutation(nums: list[int]) -> list[int]",
    "Return the arrangement of nums that comes next in lexicographic order; after the last arrangement comes "
    "the first (ascending order). nums may contain repeated values.",
    [(([1, 2, 3],), [1, 3, 2])],
    [(([3, 2, 1],), [1, 2, 3]), (([1, 1, 5],), [1, 5, 1]), (([1],), [1]), (([1, 3, 2],), [2, 1, 3]),
     (([2, 3, 1],), [3, 1, 2]), (([1, 5, 1],), [5, 1, 1]), (([],), [])],
)  # fmt: skip
_problem(
    "can_form_palindrome", 2, "def can_form_palindrome(text: str) -> bool",
    "Whether the letters of text, ignoring case and every character that is not a letter, can be rearranged "
    "into a palindrome.",
    [(("Tact Coa",), True)],
    [(("",), True), (("ab",), False), (("aab",), True), (("abcabc",), True), (("abcd",), False),
     (("A man, a plan",), False)],
)  # fmt: skip
_problem(
    "to_base", 2, "def to_base(n: int, base: int) -> str",
    'Write n in base base (2 <= base <= 36) with the digits 0-9 then A-Z. A negative n gets a leading minus '
    'sign; 0 is "0".',
    [((255, 16), "FF")],
    [((0, 2), "0"), ((10, 2), "1010"), ((-255, 16), "-FF"), ((35, 36), "Z"), ((36, 36), "10"),
     ((123456789, 7), "3026236221")],
)  # fmt: skip
_problem(
    "mode", 2, "def mode(nums: list[int]) -> int",
    "Return the most frequent value of the non-empty list nums; when several values tie, the smallest of them.",
    [(([1, 2, 2, 3],), 2)],
    [(([7],), 7), (([3, 1, 3, 1],), 1), (([-1, -1, 2, 2, 2],), 2), (([5, 4, 3, 2, 1],), 1),
     (([0, 0, 0, 1, 1, 1, -5, -5, -5],), -5)],
)  # fmt: skip
_problem(
    "matrix_multiply", 2, "def matrix_multiply(a: list[list[int]], b: list[list[int]]) -> list[list[int]]",
    "Return the matrix product a x b of an m x n matrix a and an n x p matrix b (m, n, p >= 1).",
    [(([[1, 2], [3, 4]], [[5, 6], [7, 8]]), [[19, 22], [43, 50]])],
    [(([[1]], [[2]]), [[2]]), (([[1, 2, 3]], [[1], [2], [3]]), [[14]]), (([[1], [2]], [[3, 4]]), [[3, 4], [6, 8]]),
     (([[1, 0], [0, 1]], [[9, 8], [7, 6]]), [[9, 8], [7, 6]]), (([[2, -1], [0, 3]], [[1, 2], [3, 4]]), [[-1, 0], [9, 12]])],
)  # fmt: skip
_problem(
    "flatten", 2, "def flatten(nested: list) -> list",
    "Return every element of the arbitrarily nested list that is not itself a list, in order.",
    [(([1, [2, [3, 4]], 5],), [1, 2, 3, 4, 5])],
    [(([],), []), (([[], [[]]],), []), (([[[["deep"]]]],), ["deep"]), (([1, [2], [[3]], [[[4]]]],), [1, 2, 3, 4]),
     ((["a", ["b", "c"], "d"],), ["a", "b", "c", "d"])],
)  # fmt: skip
_problem(
    "max_profit", 2, "def max_profit(prices: list[int]) -> int",
    "prices[i] is a stock's price on day i. Return the best profit from buying on one day and selling on a "
    "later day, or 0 if no trade makes a profit.",
    [(([7, 1, 5, 3, 6, 4],), 5)],
    [(([7, 6, 4, 3, 1],), 0), (([],), 0), (([5],), 0), (([1, 2],), 1), (([2, 4, 1, 7],), 6), (([3, 8, 1, 2],), 5)],
)  # fmt: skip

# --------------------------------------------------------------------------- difficulty 3

_problem(
    "edit_distance", 3, "def edit_distance(a: str, b: str) -> int",
    "Return the Levenshtein distance between a and b: the fewest single-character insertions, deletions and "
    "substitutions that turn a into b.",
    [(("kitten", "sitting"), 3)],
    [(("", ""), 0), (("", "abc"), 3), (("flaw", "lawn"), 2), (("intention", "execution"), 5), (("abc", "abc"), 0),
     (("sunday", "saturday"), 3)],
)  # fmt: skip
_problem(
    "lis_length", 3, "def lis_length(nums: list[int]) -> int",
    "Return the length of the longest strictly increasing subsequence of nums (its elements need not be "
    "adjacent).",
    [(([10, 9, 2, 5, 3, 7, 101, 18],), 4)],
    [(([],), 0), (([7, 7, 7],), 1), (([0, 1, 0, 3, 2, 3],), 4), (([5, 4, 3, 2, 1],), 1),
     ((list(range(1000)),), 1000), (([3, 10, 2, 1, 20],), 3)],
)  # fmt: skip
_problem(
    "min_coins", 3, "def min_coins(coins: list[int], amount: int) -> int",
    "Return the fewest coins that add up to amount (amount >= 0), each coin value usable any number of "
    "times, or -1 if amount cannot be made.",
    [(([1, 2, 5], 11), 3)],
    [(([2], 3), -1), (([1], 0), 0), (([186, 419, 83, 408], 6249), 20), (([3, 7], 12), 4), (([5, 10], 3), -1),
     (([1, 3, 4], 6), 2)],
)  # fmt: skip
_problem(
    "count_change", 3, "def count_change(coins: list[int], amount: int) -> int",
    "coins holds distinct positive values, each usable any number of times. Return the number of ways to make "
    "amount, where the order of the coins does not matter (there is exactly one way to make 0).",
    [(([1, 2, 5], 5), 4)],
    [(([2], 3), 0), (([10], 10), 1), (([1, 2, 5], 0), 1), (([1, 5, 10, 25, 50, 100], 100), 293),
     (([2, 5, 3, 6], 10), 5), (([1, 2, 5, 10, 20, 50, 100, 200], 200), 73682)],
)  # fmt: skip
_problem(
    "knapsack", 3, "def knapsack(weights: list[int], values: list[int], capacity: int) -> int",
    "Item i weighs weights[i] and is worth values[i]. Return the largest total value of a set of items "
    "(each used at most once) whose total weight is at most capacity.",
    [(([1, 3, 4, 5], [1, 4, 5, 7], 7), 9)],
    [(([], [], 10), 0), (([5], [10], 4), 0), (([5], [10], 5), 10), (([10, 20, 30], [60, 100, 120], 50), 220),
     (([1, 1, 1], [1, 2, 3], 2), 5), (([4, 2, 3], [10, 4, 7], 5), 11)],
)  # fmt: skip
_problem(
    "shortest_path", 3, "def shortest_path(n: int, edges: list[list[int]], source: int, target: int) -> int",
    "A directed graph has nodes 0..n-1; each edge [u, v, w] goes from u to v with weight w >= 0. Return the "
    "least total weight of a path from source to target (0 when they are equal), or -1 if there is none.",
    [((4, [[0, 1, 4], [0, 2, 1], [2, 1, 2], [1, 3, 1]], 0, 3), 4)],
    [((1, [], 0, 0), 0), ((2, [], 0, 1), -1), ((2, [[1, 0, 5]], 0, 1), -1),
     ((3, [[0, 1, 1], [1, 2, 1], [0, 2, 5]], 0, 2), 2), ((3, [[0, 1, 0], [1, 2, 0]], 0, 2), 0),
     ((5, [[0, 1, 10], [0, 2, 3], [2, 1, 4], [1, 3, 2], [2, 3, 8], [3, 4, 7]], 0, 4), 16)],
)  # fmt: skip
_problem(
    "evaluate", 3, "def evaluate(expression: str) -> int",
    "Return the value of an integer expression with +, -, *, / and parentheses, with the usual precedence "
    "(* and / before + and -, left to right otherwise). / divides integers and truncates toward zero, so "
    "7 / -2 would be -3. Spaces may appear anywhere; there is no unary minus.",
    [(("1 + 2 * 3",), 7)],
    [(("(1+2)*3",), 9), (("7/2",), 3), (("10 - 4 - 3",), 3), (("2*(3+4)*5",), 70), (("(1-8)/2",), -3), (("42",), 42),
     (("100/(2*5)-(3-1)*4",), 2)],
)  # fmt: skip
_problem(
    "topo_order", 3, "def topo_order(n: int, edges: list[list[int]]) -> list[int]",
    "Nodes are 0..n-1 (n >= 1) and an edge [u, v] means u must come before v. Return the ordering of all nodes "
    "that respects every edge and is smallest in lexicographic order, or [] if the edges contain a cycle.",
    [((4, [[1, 0], [2, 0], [3, 1], [3, 2]]), [3, 1, 2, 0])],
    [((1, []), [0]), ((3, []), [0, 1, 2]), ((2, [[0, 1], [1, 0]]), []), ((3, [[2, 1], [1, 0]]), [2, 1, 0]),
     ((5, [[0, 3], [1, 3], [3, 4], [2, 4]]), [0, 1, 2, 3, 4]), ((4, [[3, 0], [2, 0], [1, 2]]), [1, 2, 3, 0])],
)  # fmt: skip
_problem(
    "decode_ways", 3, "def decode_ways(digits: str) -> int",
    "Letters are encoded as numbers: A = 1, B = 2, ..., Z = 26. Return the number of ways to decode the digit "
    'string (a code never starts with 0; the empty string has exactly one decoding).',
    [(("226",), 3)],
    [(("",), 1), (("0",), 0), (("06",), 0), (("10",), 1), (("11106",), 2), (("1111111111",), 89), (("27",), 1)],
)  # fmt: skip
_problem(
    "n_queens", 3, "def n_queens(n: int) -> int",
    "Return the number of ways to place n queens on an n x n chessboard so that no two attack each other "
    "(share a row, column or diagonal).",
    [((4,), 2)],
    [((1,), 1), ((2,), 0), ((3,), 0), ((5,), 10), ((6,), 4), ((8,), 92)],
)  # fmt: skip
_problem(
    "word_break", 3, "def word_break(text: str, words: list[str]) -> bool",
    "Whether the non-empty text can be split into a sequence of one or more words from words (a word may be "
    "used any number of times). Some texts are long enough that trying every split is too slow.",
    [(("leetcode", ["leet", "code"]), True)],
    [(("applepenapple", ["apple", "pen"]), True), (("catsandog", ["cats", "dog", "sand", "and", "cat"]), False),
     (("a", []), False), (("a" * 40 + "b", ["a", "aa", "aaa", "aaaa", "aaaaa"]), False),
     (("cars", ["car", "ca", "rs"]), True)],
)  # fmt: skip
_problem(
    "longest_palindrome", 3, "def longest_palindrome(text: str) -> str",
    "Return the longest contiguous substring of text that is a palindrome; if several are equally long, the "
    'one that starts first ("" for an empty text).',
    [(("babad",), "bab")],
    [(("cbbd",), "bb"), (("a",), "a"), (("",), ""), (("forgeeksskeegfor",), "geeksskeeg"), (("abcde",), "a"),
     (("abacdfgdcaba",), "aba")],
)  # fmt: skip
_problem(
    "trap_water", 3, "def trap_water(heights: list[int]) -> int",
    "Bars of width 1 have these heights, side by side. Return how many units of rain water stay trapped "
    "between them.",
    [(([0, 1, 0, 2, 1, 0, 1, 3, 2, 1, 2, 1],), 6)],
    [(([],), 0), (([4, 2, 0, 3, 2, 5],), 9), (([1, 2, 3],), 0), (([3, 0, 3],), 3), (([5, 0, 0, 0, 5],), 15),
     (([2, 1, 0, 1, 3],), 4)],
)  # fmt: skip
_problem(
    "count_inversions", 3, "def count_inversions(nums: list[int]) -> int",
    "Return the number of pairs i < j with nums[i] > nums[j]. nums may have 20000 elements, too many to "
    "compare every pair in time.",
    [(([2, 4, 1, 3, 5],), 3)],
    [(([],), 0), (([1, 2, 3],), 0), (([3, 2, 1],), 3), (([1, 1, 1],), 0), (([5, 4, 3, 2, 1, 0],), 15),
     ((list(range(20000, 0, -1)),), 199990000)],
)  # fmt: skip


def problem(problem_id: str) -> Problem:
    """The problem with this id."""
    for found in PROBLEMS:
        if found.id == problem_id:
            return found
    raise KeyError(f"unknown problem {problem_id!r}; valid ids: {[p.id for p in PROBLEMS]}")
