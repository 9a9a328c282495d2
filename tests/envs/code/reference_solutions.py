"""Reference solutions of the CodeTests problem set (never shown to a model), as source text by problem id.

``test_problems.py`` runs each one against its problem's hidden tests in the sandbox.
"""

from __future__ import annotations

REFERENCE: dict[str, str] = {
    "fizzbuzz": """
def fizzbuzz(n):
    if n % 15 == 0:
        return "FizzBuzz"
    if n % 3 == 0:
        return "Fizz"
    if n % 5 == 0:
        return "Buzz"
    return str(n)
""",
    "reverse_words": """
def reverse_words(s):
    return " ".join(reversed(s.split()))
""",
    "count_vowels": """
def count_vowels(s):
    return sum(c in "aeiou" for c in s.lower())
""",
    "is_palindrome": """
def is_palindrome(s):
    kept = [c.lower() for c in s if c.isalnum()]
    return kept == kept[::-1]
""",
    "second_largest": """
def second_largest(nums):
    values = sorted(set(nums))
    return values[-2] if len(values) >= 2 else None
""",
    "celsius_to_fahrenheit": """
def celsius_to_fahrenheit(c):
    return c * 9 / 5 + 32
""",
    "sum_of_digits": """
def sum_of_digits(n):
    return sum(int(d) for d in str(abs(n)))
""",
    "title_case": """
def title_case(s):
    return " ".join(w[:1].upper() + w[1:].lower() for w in s.split(" "))
""",
    "word_counts": """
import re
from collections import Counter

def word_counts(text):
    return dict(Counter(re.findall(r"[a-z]+", text.lower())))
""",
    "chunk_list": """
def chunk_list(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]
""",
    "dedupe": """
def dedupe(items):
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out
""",
    "factorial": """
def factorial(n):
    result = 1
    for k in range(2, n + 1):
        result *= k
    return result
""",
    "gcd": """
def gcd(a, b):
    a, b = abs(a), abs(b)
    while b:
        a, b = b, a % b
    return a
""",
    "is_leap_year": """
def is_leap_year(year):
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
""",
    "hamming_distance": """
def hamming_distance(a, b):
    return sum(x != y for x, y in zip(a, b))
""",
    "rotate_right": """
def rotate_right(items, k):
    if not items:
        return []
    k %= len(items)
    return items[-k:] + items[:-k] if k else list(items)
""",
    "digital_root": """
def digital_root(n):
    while n >= 10:
        n = sum(int(d) for d in str(n))
    return n
""",
    "caesar_shift": """
def caesar_shift(text, shift):
    out = []
    for c in text:
        if "a" <= c <= "z":
            out.append(chr((ord(c) - 97 + shift) % 26 + 97))
        elif "A" <= c <= "Z":
            out.append(chr((ord(c) - 65 + shift) % 26 + 65))
        else:
            out.append(c)
    return "".join(out)
""",
    "running_sum": """
from itertools import accumulate

def running_sum(nums):
    return list(accumulate(nums))
""",
    "are_anagrams": """
def are_anagrams(a, b):
    key = lambda s: sorted(c for c in s.lower() if c.isalpha())
    return key(a) == key(b)
""",
    "to_binary": """
def to_binary(n):
    return ("-" if n < 0 else "") + bin(abs(n))[2:]
""",
    "roman_to_int": """
def roman_to_int(s):
    values = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
    total = 0
    for i, c in enumerate(s):
        v = values[c]
        total += -v if i + 1 < len(s) and values[s[i + 1]] > v else v
    return total
""",
    "int_to_roman": """
def int_to_roman(n):
    table = [(1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"),
             (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = []
    for value, letters in table:
        count, n = divmod(n, value)
        out.append(letters * count)
    return "".join(out)
""",
    "balanced_brackets": """
def balanced_brackets(s):
    pairs = {")": "(", "]": "[", "}": "{"}
    stack = []
    for c in s:
        if c in "([{":
            stack.append(c)
        elif c in pairs:
            if not stack or stack.pop() != pairs[c]:
                return False
    return not stack
""",
    "rle_encode": """
from itertools import groupby

def rle_encode(s):
    return "".join(f"{c}{len(list(run))}" for c, run in groupby(s))
""",
    "rle_decode": """
import re

def rle_decode(s):
    return "".join(c * int(n) for c, n in re.findall(r"(\\D)(\\d+)", s))
""",
    "merge_intervals": """
def merge_intervals(intervals):
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return merged
""",
    "two_sum": """
def two_sum(nums, target):
    seen = {}
    for j, x in enumerate(nums):
        if target - x in seen:
            return [seen[target - x], j]
        seen.setdefault(x, j)
""",
    "common_prefix": """
import os

def common_prefix(words):
    return os.path.commonprefix(words) if words else ""
""",
    "is_prime": """
def is_prime(n):
    if n < 2:
        return False
    if n % 2 == 0:
        return n == 2
    f = 3
    while f * f <= n:
        if n % f == 0:
            return False
        f += 2
    return True
""",
    "primes_up_to": """
def primes_up_to(n):
    if n < 2:
        return []
    sieve = bytearray([1]) * (n + 1)
    sieve[0] = sieve[1] = 0
    for p in range(2, int(n ** 0.5) + 1):
        if sieve[p]:
            sieve[p * p::p] = bytes(len(range(p * p, n + 1, p)))
    return [i for i in range(n + 1) if sieve[i]]
""",
    "transpose": """
def transpose(matrix):
    return [list(row) for row in zip(*matrix)]
""",
    "spiral_order": """
def spiral_order(matrix):
    out = []
    rows = [list(r) for r in matrix]
    while rows:
        out += rows.pop(0)
        rows = [list(r) for r in zip(*rows)][::-1]
    return out
""",
    "word_pattern": """
def word_pattern(pattern, text):
    words = text.split(" ")
    if len(words) != len(pattern):
        return False
    return len(set(pattern)) == len(set(words)) == len(set(zip(pattern, words)))
""",
    "group_anagrams": """
def group_anagrams(words):
    groups = {}
    for w in words:
        groups.setdefault("".join(sorted(w)), []).append(w)
    return sorted(sorted(g) for g in groups.values())
""",
    "binary_search": """
import bisect

def binary_search(nums, target):
    i = bisect.bisect_left(nums, target)
    return i if i < len(nums) and nums[i] == target else -1
""",
    "pascal_row": """
from math import comb

def pascal_row(n):
    return [comb(n, k) for k in range(n + 1)]
""",
    "longest_unique_substring": """
def longest_unique_substring(s):
    last, start, best = {}, 0, 0
    for i, c in enumerate(s):
        if last.get(c, -1) >= start:
            start = last[c] + 1
        last[c] = i
        best = max(best, i - start + 1)
    return best
""",
    "max_subarray_sum": """
def max_subarray_sum(nums):
    best = current = nums[0]
    for x in nums[1:]:
        current = max(x, current + x)
        best = max(best, current)
    return best
""",
    "count_islands": """
def count_islands(grid):
    seen, count = set(), 0
    for r, row in enumerate(grid):
        for c, cell in enumerate(row):
            if cell == "1" and (r, c) not in seen:
                count += 1
                stack = [(r, c)]
                seen.add((r, c))
                while stack:
                    y, x = stack.pop()
                    for ny, nx in ((y + 1, x), (y - 1, x), (y, x + 1), (y, x - 1)):
                        if 0 <= ny < len(grid) and 0 <= nx < len(grid[ny]) and grid[ny][nx] == "1" and (ny, nx) not in seen:
                            seen.add((ny, nx))
                            stack.append((ny, nx))
    return count
""",
    "compress_ranges": """
def compress_ranges(nums):
    parts, i = [], 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        parts.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return ",".join(parts)
""",
    "parse_duration": """
import re

def parse_duration(text):
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\\d+)([hms])", text))
""",
    "next_permutation": """
def next_permutation(nums):
    a = list(nums)
    i = len(a) - 2
    while i >= 0 and a[i] >= a[i + 1]:
        i -= 1
    if i >= 0:
        j = len(a) - 1
        while a[j] <= a[i]:
            j -= 1
        a[i], a[j] = a[j], a[i]
    a[i + 1:] = reversed(a[i + 1:])
    return a
""",
    "can_form_palindrome": """
from collections import Counter

def can_form_palindrome(text):
    counts = Counter(c for c in text.lower() if c.isalpha())
    return sum(v % 2 for v in counts.values()) <= 1
""",
    "to_base": """
def to_base(n, base):
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    if n == 0:
        return "0"
    sign, n, out = "-" if n < 0 else "", abs(n), []
    while n:
        n, d = divmod(n, base)
        out.append(digits[d])
    return sign + "".join(reversed(out))
""",
    "mode": """
from collections import Counter

def mode(nums):
    counts = Counter(nums)
    return min(counts, key=lambda v: (-counts[v], v))
""",
    "matrix_multiply": """
def matrix_multiply(a, b):
    return [[sum(x * y for x, y in zip(row, col)) for col in zip(*b)] for row in a]
""",
    "flatten": """
def flatten(nested):
    out = []
    for item in nested:
        if isinstance(item, list):
            out.extend(flatten(item))
        else:
            out.append(item)
    return out
""",
    "max_profit": """
def max_profit(prices):
    best, low = 0, float("inf")
    for p in prices:
        low = min(low, p)
        best = max(best, p - low)
    return best
""",
    "edit_distance": """
def edit_distance(a, b):
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]
""",
    "lis_length": """
import bisect

def lis_length(nums):
    tails = []
    for x in nums:
        i = bisect.bisect_left(tails, x)
        tails[i:i + 1] = [x]
    return len(tails)
""",
    "min_coins": """
def min_coins(coins, amount):
    inf = float("inf")
    best = [0] + [inf] * amount
    for a in range(1, amount + 1):
        for c in coins:
            if c <= a and best[a - c] + 1 < best[a]:
                best[a] = best[a - c] + 1
    return best[amount] if best[amount] != inf else -1
""",
    "count_change": """
def count_change(coins, amount):
    ways = [1] + [0] * amount
    for c in coins:
        for a in range(c, amount + 1):
            ways[a] += ways[a - c]
    return ways[amount]
""",
    "knapsack": """
def knapsack(weights, values, capacity):
    best = [0] * (capacity + 1)
    for w, v in zip(weights, values):
        for c in range(capacity, w - 1, -1):
            best[c] = max(best[c], best[c - w] + v)
    return best[capacity]
""",
    "shortest_path": """
import heapq

def shortest_path(n, edges, source, target):
    graph = [[] for _ in range(n)]
    for u, v, w in edges:
        graph[u].append((v, w))
    dist = {source: 0}
    queue = [(0, source)]
    while queue:
        d, u = heapq.heappop(queue)
        if u == target:
            return d
        if d > dist[u]:
            continue
        for v, w in graph[u]:
            if d + w < dist.get(v, float("inf")):
                dist[v] = d + w
                heapq.heappush(queue, (d + w, v))
    return -1
""",
    "evaluate": """
def evaluate(expression):
    tokens = []
    i, s = 0, expression.replace(" ", "")
    while i < len(s):
        if s[i].isdigit():
            j = i
            while j < len(s) and s[j].isdigit():
                j += 1
            tokens.append(int(s[i:j]))
            i = j
        else:
            tokens.append(s[i])
            i += 1
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def atom():
        if peek() == "(":
            take()
            value = expr()
            take()
            return value
        return take()

    def term():
        value = atom()
        while peek() in ("*", "/"):
            op, rhs = take(), atom()
            if op == "*":
                value *= rhs
            else:
                q = abs(value) // abs(rhs)
                value = q if (value >= 0) == (rhs > 0) else -q
        return value

    def expr():
        value = term()
        while peek() in ("+", "-"):
            op, rhs = take(), term()
            value = value + rhs if op == "+" else value - rhs
        return value

    return expr()
""",
    "topo_order": """
import heapq

def topo_order(n, edges):
    indegree = [0] * n
    graph = [[] for _ in range(n)]
    for u, v in edges:
        graph[u].append(v)
        indegree[v] += 1
    ready = [v for v in range(n) if indegree[v] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        u = heapq.heappop(ready)
        order.append(u)
        for v in graph[u]:
            indegree[v] -= 1
            if indegree[v] == 0:
                heapq.heappush(ready, v)
    return order if len(order) == n else []
""",
    "decode_ways": """
def decode_ways(digits):
    prev, cur = 1, 1  # ways for digits[:i-1], digits[:i]
    for i, d in enumerate(digits):
        new = cur if d != "0" else 0
        if i > 0 and digits[i - 1] != "0" and 10 <= int(digits[i - 1:i + 1]) <= 26:
            new += prev
        prev, cur = cur, new
    return cur
""",
    "n_queens": """
def n_queens(n):
    def place(row, cols, diag1, diag2):
        if row == n:
            return 1
        total = 0
        for c in range(n):
            if c not in cols and row + c not in diag1 and row - c not in diag2:
                total += place(row + 1, cols | {c}, diag1 | {row + c}, diag2 | {row - c})
        return total
    return place(0, frozenset(), frozenset(), frozenset())
""",
    "word_break": """
def word_break(text, words):
    vocabulary = set(words)
    ok = [True] + [False] * len(text)
    for end in range(1, len(text) + 1):
        ok[end] = any(ok[start] and text[start:end] in vocabulary for start in range(end))
    return ok[-1]
""",
    "longest_palindrome": """
def longest_palindrome(text):
    best = ""
    for center in range(2 * len(text) - 1):
        lo, hi = center // 2, center // 2 + center % 2
        while lo >= 0 and hi < len(text) and text[lo] == text[hi]:
            lo, hi = lo - 1, hi + 1
        candidate = text[lo + 1:hi]
        if len(candidate) > len(best):  # later centres start later: ties keep the first
            best = candidate
    return best
""",
    "trap_water": """
def trap_water(heights):
    left, right, left_max, right_max, water = 0, len(heights) - 1, 0, 0, 0
    while left < right:
        if heights[left] < heights[right]:
            left_max = max(left_max, heights[left])
            water += left_max - heights[left]
            left += 1
        else:
            right_max = max(right_max, heights[right])
            water += right_max - heights[right]
            right -= 1
    return water
""",
    "count_inversions": """
def count_inversions(nums):
    def sort(a):
        if len(a) <= 1:
            return a, 0
        mid = len(a) // 2
        left, x = sort(a[:mid])
        right, y = sort(a[mid:])
        merged, i, j, count = [], 0, 0, x + y
        while i < len(left) and j < len(right):
            if left[i] <= right[j]:
                merged.append(left[i])
                i += 1
            else:
                merged.append(right[j])
                count += len(left) - i
                j += 1
        merged += left[i:] + right[j:]
        return merged, count
    return sort(list(nums))[1]
""",
}
