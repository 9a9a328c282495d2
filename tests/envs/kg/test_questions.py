"""The multi-hop question generator: answers follow the gold path, limits hold, the splits are disjoint."""

from __future__ import annotations

import random

import pytest

from gym_reason.envs.kg.graph import RELATIONS, load_graph
from gym_reason.envs.kg.questions import (
    MAX_ANSWER,
    MAX_EXPANSIONS,
    MAX_FRONTIER,
    generate_question,
    split_countries,
    split_of,
)


@pytest.fixture(scope="module")
def graph():
    return load_graph()


@pytest.mark.parametrize("hops", [1, 2, 3, 4])
def test_the_answer_is_where_the_gold_path_leads(graph, hops):
    rng = random.Random(hops)
    for _ in range(60):
        q = generate_question(graph, rng, (hops,), "train")
        assert q.hops == hops and len(q.frontiers) == hops
        reached = {q.start}
        for frontier, relation in zip(q.frontiers, q.path, strict=True):
            assert frontier == reached and 0 < len(frontier) <= MAX_FRONTIER
            assert all(graph.entities[e].kind == RELATIONS[relation].domain for e in frontier)
            reached = {t for e in reached for t in graph.neighbors(e, relation)}
        assert q.answer == reached and 0 < len(q.answer) <= MAX_ANSWER
        assert q.expansions <= MAX_EXPANSIONS
        assert q.text.startswith("List ") and q.start in q.text


def test_questions_are_deterministic_under_a_seed(graph):
    first = [generate_question(graph, random.Random(5), (1, 2, 3, 4), "test") for _ in range(3)]
    again = [generate_question(graph, random.Random(5), (1, 2, 3, 4), "test") for _ in range(3)]
    assert first == again


def test_the_splits_partition_the_countries_and_questions_start_only_in_their_own(graph):
    train, test = set(split_countries(graph, "train")), set(split_countries(graph, "test"))
    assert not train & test and train | test == set(graph.by_kind["country"])
    assert 0.1 < len(test) / len(graph.by_kind["country"]) < 0.3
    starts = {}
    for split in ("train", "test"):
        rng = random.Random(0)
        questions = [generate_question(graph, rng, (1, 2, 3, 4), split) for _ in range(400)]
        assert all(split_of(graph.entities[q.anchor].code) == split for q in questions)
        starts[split] = {q.start for q in questions}
        # a capital start belongs to its anchor country
        assert all(q.start == q.anchor or graph.neighbors(q.start, "capital_of") == (q.anchor,) for q in questions)
    assert not starts["train"] & starts["test"]


def test_bad_arguments_name_the_valid_values(graph):
    with pytest.raises(ValueError, match=r"hops must be .*\[1, 2, 3, 4\]"):
        generate_question(graph, random.Random(0), (5,), "train")
    with pytest.raises(ValueError, match=r"split must be one of \['train', 'test'\]"):
        generate_question(graph, random.Random(0), (1,), "validation")
