"""Questions over the knowledge graph: multi-hop paths from a named entity, with gold paths and answer sets.

A question starts at one entity, a country (``Germany``) or a capital city (``the country whose capital is
Berlin``), and follows a path of 1 to 4 relations; its answer is the set of entities the path reaches
(sets are followed as unions: "the countries bordering the countries bordering X" holds X itself). The
frontier of hop ``i`` is the set of entities the path has reached before its ``i``-th relation (hop 0:
the start), so the *gold expansions* are the pairs ``(entity of frontier i, relation i)``: the
``get_neighbors`` calls an agent that walks the path makes.

**Split.** Every question is anchored at one country: the start, or the country of the start capital.
The countries are divided once, by a hash of their ISO code, into a test fifth and a train rest
(:func:`split_of`), and a question of a split only ever starts from that split's countries or their
capitals: the held-out questions name no entity that a training question starts from.

Generation (:func:`generate_question`) draws an anchor, a start form, and at each hop one of the relations
allowed by the types (:data:`PATH_RELATIONS`) whose frontier is non-empty and new (no path returns to where
it was) and at most :data:`MAX_FRONTIER` entities wide; it redraws the whole question until there are at
most :data:`MAX_EXPANSIONS` gold expansions in all and at most :data:`MAX_ANSWER` answers.
"""

from __future__ import annotations

import functools
import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from gym_reason.envs.kg.graph import RELATIONS, KnowledgeGraph

SPLITS = ("train", "test")
HOPS = (1, 2, 3, 4)
MAX_FRONTIER = 12
MAX_EXPANSIONS = 16
MAX_ANSWER = 10

PATH_RELATIONS: dict[str, tuple[str, ...]] = {
    "country": (
        "capital",
        "continent",
        "borders",
        "currency",
        "language",
        "largest_city",
        "shares_currency_with",
        "shares_language_with",
    ),
    "city": ("country", "city_continent"),
    "currency": ("currency_of",),
    "language": ("spoken_in",),
    "continent": (),  # a continent's countries are too many to list as an answer
}
"""The relations a question path may take from an entity of each kind."""

_ONWARD = {"country": 4, "currency": 4, "language": 4, "city": 1, "continent": 0}
"""How many more hops a question path can usually take from an entity of each kind."""

_PHRASES: dict[str, str] = {
    "capital": "the capitals of {}",
    "continent": "the continents of {}",
    "borders": "the countries bordering {}",
    "currency": "the currencies used in {}",
    "language": "the languages spoken in {}",
    "largest_city": "the largest cities of {}",
    "shares_currency_with": "the other countries that use the currency of {}",
    "shares_language_with": "the other countries whose first language is that of {}",
    "country": "the countries of {}",
    "city_continent": "the continents of {}",
    "currency_of": "the countries that use {}",
    "spoken_in": "the countries where {} are spoken",
    "capital_of": "the country whose capital is {}",
}
_SINGULAR: dict[str, str] = {
    "capital": "the capital of {}",
    "continent": "the continent of {}",
    "currency": "the currency of {}",
    "largest_city": "the largest city of {}",
    "country": "the country of {}",
    "city_continent": "the continent of {}",
    "spoken_in": "the countries where {} is spoken",
}
"""Phrases for a relation taken from the named start entity (one entity, so singular where that reads better)."""


@dataclass(frozen=True, slots=True)
class Question:
    """One question: its text, where it starts, its gold relation path and the answer set."""

    text: str
    start: str
    path: tuple[str, ...]
    frontiers: tuple[frozenset[str], ...]
    """``frontiers[i]``: the entities reached before relation ``path[i]`` (``frontiers[0]`` is ``{start}``)."""
    answer: frozenset[str]
    anchor: str
    """The country that puts the question in its split."""

    @property
    def hops(self) -> int:
        return len(self.path)

    gold_expansions: frozenset[tuple[str, str]]
    """The ``(entity, relation)`` pairs that walk the gold path: ``(e, path[i])`` for ``e`` in ``frontiers[i]``."""

    @property
    def expansions(self) -> int:
        """The number of gold expansions (an entity may repeat across hops with another relation)."""
        return len(self.gold_expansions)


def split_of(iso_code: str, held_out: int = 5) -> str:
    """``"test"`` for a fixed one in ``held_out`` of the countries (by a CRC-32 of the ISO code), ``"train"`` for
    the rest.

    >>> split_of("DE"), split_of("JP")
    ('train', 'test')
    """
    return "test" if zlib.crc32(f"kg-split:{iso_code}".encode()) % held_out == 0 else "train"


@functools.cache
def split_countries(graph: KnowledgeGraph, split: str) -> tuple[str, ...]:
    """The countries of ``split``, sorted (memoised)."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
    return tuple(n for n in graph.by_kind["country"] if split_of(graph.entities[n].code) == split)


def phrase(relation: str, subject: str, named: bool) -> str:
    """The noun phrase of ``relation`` applied to ``subject`` (a phrase, or an entity's name when ``named``)."""
    template = _SINGULAR.get(relation, _PHRASES[relation]) if named else _PHRASES[relation]
    return template.format(subject)


def generate_question(graph: KnowledgeGraph, rng: random.Random, hops: Sequence[int], split: str) -> Question:
    """A question of ``split`` with a number of hops drawn from ``hops`` (see the module docstring)."""
    bad = [h for h in hops if h not in HOPS]
    if not hops or bad:
        raise ValueError(f"hops must be a non-empty sequence of values in {list(HOPS)}, got {list(hops)!r}")
    anchors = split_countries(graph, split)
    count = rng.choice(tuple(hops))  # drawn first: short paths succeed more often, so redraws would favour them
    for _ in range(10_000):
        question = _attempt(graph, rng, count, rng.choice(anchors))
        if question is not None:
            return question
    raise RuntimeError(f"no {list(hops)}-hop question of split {split!r} was found in 10,000 draws")


def _attempt(graph: KnowledgeGraph, rng: random.Random, hops: int, anchor: str) -> Question | None:
    capitals = graph.neighbors(anchor, "capital")
    path: list[str] = []
    if hops >= 2 and capitals and rng.random() < 0.5:
        start = capitals[0]
        path.append("capital_of")
        text = phrase("capital_of", start, True)
        named = False
    else:
        start, text, named = anchor, anchor, True
    frontiers = [frozenset({start})]
    reached = frontiers[0] if not path else graph.follow(frontiers[0], "capital_of")
    if path:
        frontiers.append(reached)
    kind = graph.entities[next(iter(reached))].kind
    while len(path) < hops:
        # Draw among the relations that lead somewhere new and not too wide: far fewer redraws than rejecting late.
        last = len(path) == hops - 1
        budget = MAX_EXPANSIONS - sum(map(len, frontiers))  # the new frontier is expanded next, unless it is the answer
        width = MAX_ANSWER if last else min(MAX_FRONTIER, budget)
        # Only relations into kinds a path can leave as often as it still has to: not a continent before the last
        # hop, nor a city before the last two (from a city a path goes back to its country, or to a continent).
        after = hops - len(path) - 1
        relations = [r for r in PATH_RELATIONS[kind] if after <= _ONWARD[RELATIONS[r].range]]
        steps = [(r, _follow_narrow(graph, reached, r, width)) for r in relations]
        steps = [(r, f) for r, f in steps if f and f not in frontiers]
        if not steps:
            return None
        relation, following = rng.choice(steps)
        text = phrase(relation, text, named)
        named = False
        path.append(relation)
        frontiers.append(following)
        reached, kind = following, RELATIONS[relation].range
    answer = frontiers.pop()
    gold = frozenset((e, r) for frontier, r in zip(frontiers, path, strict=True) for e in frontier)
    question = Question(f"List {text}.", start, tuple(path), tuple(frontiers), answer, anchor, gold)
    if len(answer) > MAX_ANSWER or question.expansions > MAX_EXPANSIONS:
        return None
    return question


def _follow_narrow(graph: KnowledgeGraph, reached: frozenset[str], relation: str, width: int) -> frozenset[str] | None:
    """``graph.follow(reached, relation)``, or ``None`` as soon as it is wider than ``width``."""
    found: set[str] = set()
    for entity in reached:
        tails = graph.neighbors(entity, relation)
        if len(tails) > width:
            return None
        found.update(tails)
        if len(found) > width:
            return None
    return frozenset(found)
