"""``gym_reason/TwentyQuestions-v0``: find a secret country or city by yes/no questions the graph answers exactly.

Entity-Deduction Arena, offline: the env holds a secret entity of the knowledge graph
(:mod:`gym_reason.envs.kg.graph`); the candidates are listed in the task (level 1: the split's countries of
one continent, named in the task; level 2: all the split's countries; level 3: the split's cities of a million
people or more; see below for the splits). The model calls two tools, as :mod:`gym_reason.envs.tool_calls`
documents:

* ``ask(question)``: a yes/no question in one of these forms (case and a trailing ``?`` are free),
  answered from the graph by the env, never by a model:

  ====================================  ===================================================
  form                                  yes when the secret ...
  ====================================  ===================================================
  ``continent = Europe``                lies on that continent (``in Europe`` also reads)
  ``currency = Euro (EUR)``             (or its country) uses that currency (``currency = EUR`` also reads)
  ``language = lang:de``                (or its country) lists that language (``language = de`` also reads)
  ``population > 50 million``           has more people (``<`` too; a number, optionally
                                        with ``thousand``, ``million`` or ``billion``)
  ``borders Germany``                   a country: shares a land border with that country
  ``area > 100000``                     a country: has a larger area in km2 (``<`` too)
  ``neighbours > 3``                    a country: borders more countries (``<`` and ``=`` too)
  ``in China``                          a city: lies in that country (``country = China`` also reads)
  ``capital``                           a city: is a country's capital (``is it a capital`` also reads)
  ====================================  ===================================================

  A question in no such form, of the other kind of secret, or naming an entity the graph lacks, is a tool
  error (no answer, no question spent). At most ``max_questions`` (20) questions are answered.
* ``guess(entity)``: the one guess; it ends the game, won if it names the secret.

Rewards (``info["reward_components"]``; every weight is a constructor ``weights`` entry):

=======================  =====================  ==============================================================
component                default weight         paid
=======================  =====================  ==============================================================
``success``              1.0                    a right guess
``question_cost``        -0.02                  every question answered
``information_gain``     0.01 per bit           every question answered: the weight x its exact information
                                                gain, the entropy in bits of its answer when the secret is
                                                uniform over the candidates still consistent with every
                                                answer so far (a question that halves them: 1 bit)
``tool_error``           -0.05                  a question the env cannot read
``invalid_action``       -0.1                   a reply with no readable call
=======================  =====================  ==============================================================

A yes/no answer carries at most one bit, so with the default weights every question costs more than it
gains: the most an episode can earn is 1.0, a right guess at once (:meth:`TwentyQuestionsEnv.oracle_reply`,
which reads the secret), and the information gain ranks questions by how well they split the candidates.
The fixed agent ``fixed:halving`` (:class:`HalvingAgent`) asks the question that splits the candidates
most evenly, and guesses when one is left.

``board=True`` is the Guess Who variant: as on that game's board, the candidates still consistent with every
answer stay in view: the observation lists them after each answer, and the state key is that board
(:meth:`TwentyQuestionsEnv.board_key`: the number left, the names left, questions and turns left, the universe),
a compact information state a small model can read. The action grammar then lists, turn by turn, the questions
(of :attr:`Universe.questions`) that still tell the candidates on the board apart and the names on the board
(:func:`board_grammar`), so constrained decoding asks only questions that narrow the board and guesses only
candidates still possible, as a Guess Who player turns the faces down. The rules and rewards are the same, and
the env still reads any reply: a question or guess off the grammar is scored as in the default variant.

``split="test"`` plays over a held-out half of the countries and of the big cities, ``"train"`` (default)
over the other half (:func:`~gym_reason.envs.kg.questions.split_of` with ``held_out=2`` of the ISO code or the
city's name: 113 and 139 countries, 278 and 282 cities, games of about one size): the candidates a game lists
are its split's, and the secret is one of them, uniformly. The prior the information gain assumes is then the
true one, and no guess is better than another before a question.
"""

from __future__ import annotations

import functools
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from gym_reason.core import ACTION_GRAMMAR, STATE_KEY, ActionGrammar, AnswerFormat
from gym_reason.envs.games.bots import ScriptedAgent, declare_bots
from gym_reason.envs.kg.graph import KnowledgeGraph, load_graph
from gym_reason.envs.kg.questions import SPLITS, split_of
from gym_reason.envs.tool_calls import Param, ToolCall, ToolError, ToolSpec, call_grammar
from gym_reason.envs.tools.base import TaskRules, ToolEpisode, ToolTaskEnv

GAME_NAME = "twenty_questions"
ALL = "all countries"
CITIES = "cities of a million people or more"
BIG_CITY = 1_000_000
MAX_QUESTIONS = 20
HELD_OUT = 2
"""About one country (and big city) in ``HELD_OUT`` is in the test split: the two splits' games are of about one size."""
MIN_CANDIDATES = 8
"""A continent with fewer countries in a split is not a level-1 game of that split."""

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "ask",
        "Ask a yes/no question about the secret country or city, in one of the forms the task lists "
        "(e.g. 'continent = Europe', 'borders Germany', 'population > 50 million', 'in China').",
        (("question", Param("string", "the question in one of the listed forms", max_length=200)),),
    ),
    ToolSpec(
        "guess",
        "Name the secret. The one guess: it ends the game.",
        (("entity", Param("string", "a candidate's name as the candidate list spells it", max_length=100)),),
        final=True,
    ),
)

DEFAULT_WEIGHTS: Mapping[str, float] = {
    "success": 1.0,
    "question_cost": -0.02,
    "information_gain": 0.01,
    "tool_error": -0.05,
    "invalid_action": -0.1,
}

# --------------------------------------------------------------------------- predicates

_UNITS = {"": 1, "thousand": 10**3, "million": 10**6, "billion": 10**9}
_NUMBER = r"(\d[\d,_]*(?:\.\d+)?)\s*(thousand|million|billion)?"
_FORMS = (
    ("continent", re.compile(r"continent\s*(?:=|is)\s*(.+)", re.I)),
    ("country", re.compile(r"(?:in\s+|country\s*(?:=|is)\s*)(.+)", re.I)),
    ("capital", re.compile(r"(?:is\s+(?:it\s+)?(?:a\s+)?)?capital", re.I)),
    ("borders", re.compile(r"borders\s+(.+)", re.I)),
    ("currency", re.compile(r"currency\s*(?:=|is)\s*(.+)", re.I)),
    ("language", re.compile(r"language\s*(?:=|is)\s*(.+)", re.I)),
    ("population", re.compile(rf"population\s*([<>])\s*{_NUMBER}", re.I)),
    ("area", re.compile(rf"area\s*([<>])\s*{_NUMBER}\s*(?:km2)?", re.I)),
    ("neighbours", re.compile(r"neighbou?rs\s*([<>=])\s*(\d{1,3})", re.I)),
)
_REFERENCE = {"continent": "continent", "borders": "borders", "currency": "currency", "language": "language"}
"""The relation of a country that answers each attribute naming an entity."""
_CITY_REFERENCE = {"continent": ("city_continent",), "country": ("country",), "currency": ("country", "currency"),
                   "language": ("country", "language")}  # fmt: skip
"""The relation path from a city that answers each attribute naming an entity (a city's currency is its country's)."""
_REFERENCE_KIND = {"continent": "continent", "borders": "country", "country": "country", "currency": "currency",
                   "language": "language"}  # fmt: skip
ATTRIBUTES = {
    "country": ("continent", "borders", "currency", "language", "population", "area", "neighbours"),
    "city": ("continent", "country", "currency", "language", "capital", "population"),
}
"""The questions that apply to a secret of each kind."""
FORMS = {
    "country": "'continent = Europe', 'borders Germany', 'currency = Euro (EUR)', 'language = lang:de', "
    "'population > 50 million' (or <), 'area > 100000' (km2, or <), 'neighbours > 3' (how many countries it borders; "
    "or < or =)",
    "city": "'continent = Asia', 'in China' (the city's country), 'currency = Yuan Renminbi (CNY)', "
    "'language = lang:zh' (its country's), 'capital' (is it a country's capital), 'population > 5 million' (or <)",
}
"""The question forms a task lists, by the kind of its secret."""


@dataclass(frozen=True, slots=True)
class Predicate:
    """A yes/no question in canonical form: ``attribute`` (a relation of a country, or a number), and a value."""

    attribute: str
    op: str
    value: str | float

    @property
    def text(self) -> str:
        """The canonical question, e.g. ``continent = Europe`` or ``population > 50000000``."""
        if self.attribute == "borders":
            return f"borders {self.value}"
        if self.attribute == "country":
            return f"in {self.value}"
        if self.attribute == "capital":
            return "capital"
        value = f"{self.value:.15g}" if isinstance(self.value, float) else self.value
        return f"{self.attribute} {self.op} {value}"

    def holds(self, graph: KnowledgeGraph, entity: str) -> bool:
        """Whether the answer is yes for the country or city ``entity`` (no for a question of the other kind)."""
        kind = graph.entities[entity].kind
        if self.attribute not in ATTRIBUTES[kind]:
            return False
        if self.attribute == "capital":
            return bool(graph.neighbors(entity, "capital_of"))
        if kind == "city" and self.attribute in _CITY_REFERENCE:
            reached = {entity}
            for relation in _CITY_REFERENCE[self.attribute]:
                reached = graph.follow(reached, relation)
            return self.value in reached
        if self.attribute in _REFERENCE:
            return self.value in graph.neighbors(entity, _REFERENCE[self.attribute])
        number = number_of(graph, self.attribute, entity)
        assert isinstance(self.value, float)
        return (
            number > self.value if self.op == ">" else number < self.value if self.op == "<" else number == self.value
        )


def number_of(graph: KnowledgeGraph, attribute: str, name: str) -> float:
    """A country's or city's ``population``, a country's ``area`` (km2) or ``neighbours`` (how many it borders)."""
    if attribute == "neighbours":
        return float(len(graph.neighbors(name, "borders")))
    entity = graph.entities[name]
    return float((entity.population if attribute == "population" else entity.area_km2) or 0)


def parse_question(graph: KnowledgeGraph, text: str) -> Predicate:
    """The predicate a question states, or :class:`ToolError` saying which forms are understood.

    >>> parse_question(load_graph(), "Population > 1.5 million?")
    Predicate(attribute='population', op='>', value=1500000.0)
    >>> parse_question(load_graph(), "borders germany").text
    'borders Germany'
    """
    question = " ".join(text.split()).rstrip("?").strip()
    for attribute, form in _FORMS:
        match = form.fullmatch(question)
        if match is None:
            continue
        if attribute == "capital":
            return Predicate(attribute, "=", "yes")
        if attribute in _REFERENCE_KIND:
            value = match.group(1).strip()
            if attribute == "country" and (name := graph.lookup(value)) and graph.entities[name].kind == "continent":
                return Predicate("continent", "=", name)  # "in Europe"
            return Predicate(attribute, "=", _reference(graph, attribute, value))
        op = match.group(1)
        number = float(match.group(2).replace(",", "").replace("_", ""))
        return Predicate(
            attribute, op, number * _UNITS[(match.group(3) or "").lower()] if len(match.groups()) > 2 else number
        )
    raise ToolError(
        f"cannot read the question {text[:100]!r}; ask in one of the forms the task lists: about a country "
        f"{FORMS['country']}; about a city {FORMS['city']}"
    )


def _reference(graph: KnowledgeGraph, attribute: str, text: str) -> str:
    kind = _REFERENCE_KIND[attribute]
    name = graph.lookup(text)
    if name is None and kind == "currency":
        name = _currency_codes(graph).get(text.upper())
    if name is None and kind == "language":
        name = graph.lookup(f"lang:{text}")
    if name is None or graph.entities[name].kind != kind:
        raise ToolError(f"{text[:100]!r} is not a {kind} of the graph; for {attribute}, name a {kind}")
    return name


@functools.cache
def _currency_codes(graph: KnowledgeGraph) -> dict[str, str]:
    return {graph.entities[n].code: n for n in graph.by_kind["currency"]}


class Universe:
    """The candidates of a game, with every question's answer as a bitmask over them (bit ``i``:
    ``candidates[i]``), computed once and cached: a split's countries on one continent (``name`` is the
    continent), all of them (:data:`ALL`), or its cities of a million people or more (:data:`CITIES`; cities are
    split by a hash of their own name, since a third of them lie in two countries)."""

    def __init__(self, graph: KnowledgeGraph, name: str, split: str) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        self.graph, self.name, self.split = graph, name, split
        self.kind = "city" if name == CITIES else "country"
        if self.kind == "city":
            # Two cities of one country with one population (Jos and Sokoto) no question could tell apart: the
            # first by name stays. Cities are split by their own name: big cities crowd into a few countries.
            found: dict[tuple[tuple[str, ...], int | None], str] = {}
            for c in graph.by_kind["city"]:
                if (graph.entities[c].population or 0) >= BIG_CITY and split_of(c, HELD_OUT) == split:
                    found.setdefault((graph.neighbors(c, "country"), graph.entities[c].population), c)
            self.candidates: tuple[str, ...] = tuple(sorted(found.values()))
        else:
            self.candidates = tuple(
                c
                for c in graph.by_kind["country"]
                if split_of(graph.entities[c].code, HELD_OUT) == split
                and (name == ALL or name in graph.neighbors(c, "continent"))
            )
        if not self.candidates:
            raise ValueError(f"no country or city of split {split!r} is in {name!r}")
        self.index = {c: i for i, c in enumerate(self.candidates)}
        self.full = (1 << len(self.candidates)) - 1
        self._masks: dict[Predicate, int] = {}

    def mask(self, predicate: Predicate) -> int:
        mask = self._masks.get(predicate)
        if mask is None:
            mask = sum(1 << i for i, c in enumerate(self.candidates) if predicate.holds(self.graph, c))
            self._masks[predicate] = mask
        return mask

    def consistent(self, history: Sequence[tuple[Predicate, bool]]) -> int:
        """The candidates consistent with every ``(question, answer)`` so far, as a bitmask."""
        alive = self.full
        for predicate, yes in history:
            alive &= self.mask(predicate) if yes else ~self.mask(predicate)
        return alive

    def names(self, alive: int) -> tuple[str, ...]:
        """The candidates of ``alive`` (a bitmask of :attr:`candidates`), in the candidates' order."""
        return tuple(c for i, c in enumerate(self.candidates) if alive >> i & 1)

    def splitting(self, alive: int) -> tuple[Predicate, ...]:
        """The :attr:`questions` that tell apart the candidates of ``alive`` (a bitmask): some answer yes, some no."""
        count = alive.bit_count()
        return tuple(
            q
            for q, mask in zip(self.questions, self.question_masks, strict=True)
            if 0 < (alive & mask).bit_count() < count
        )

    @functools.cached_property
    def question_masks(self) -> tuple[int, ...]:
        """:meth:`mask` of each of :attr:`questions`, in order."""
        return tuple(self.mask(q) for q in self.questions)

    @functools.cached_property
    def questions(self) -> tuple[Predicate, ...]:
        """Every question worth asking about these candidates, in a fixed order (what :class:`HalvingAgent` picks
        from): each continent, neighbour (country), currency and language any candidate has, and every threshold
        between two candidates' populations, areas and neighbour counts; for cities, each continent, country,
        currency and language, whether it is a capital, and the population thresholds."""
        graph, found = self.graph, []
        for attribute in ATTRIBUTES[self.kind]:
            if attribute == "capital":
                found.append(Predicate("capital", "=", "yes"))
            elif attribute in _REFERENCE_KIND:
                kind = _REFERENCE_KIND[attribute]
                values = sorted({v for c in self.candidates for v in _values(graph, attribute, c)})
                found += [Predicate(attribute, "=", v) for v in values if graph.entities[v].kind == kind]
            else:
                numbers = sorted({number_of(graph, attribute, c) for c in self.candidates})
                found += [Predicate(attribute, ">", v) for v in numbers[:-1]]
        return tuple(found)


def _values(graph: KnowledgeGraph, attribute: str, name: str) -> frozenset[str]:
    """The entities a country's or city's ``attribute`` names (its continent, its neighbours, its country, ...)."""
    if graph.entities[name].kind == "city":
        reached = frozenset({name})
        for relation in _CITY_REFERENCE[attribute]:
            reached = graph.follow(reached, relation)
        return reached
    return frozenset(graph.neighbors(name, _REFERENCE[attribute]))


@functools.cache
def universe(name: str, split: str) -> Universe:
    """The :class:`Universe` of ``name`` (a continent, or :data:`ALL`) in ``split``, built once per process."""
    return Universe(load_graph(), name, split)


@functools.lru_cache(maxsize=4096)
def board_grammar(
    name: str, split: str, alive: int, answer_format: AnswerFormat, *, asking: bool = True
) -> ActionGrammar:
    """The replies of the board variant in one state: ``ask`` one of the universe's :attr:`Universe.questions` that
    still tells apart the candidates on the board (``alive``, a bitmask of :attr:`Universe.candidates`: some of them
    would answer yes, some no), or ``guess`` a candidate on the board, as one JSON call in the answer marker (the
    tools' grammar with both arguments enumerated). With ``asking=False`` (no question left), or where no question
    tells the board apart (one candidate left), only a guess. As on a Guess Who board, the faces turned down are
    not offered: a question every candidate on it answers alike would spend a question for nothing, and a guess off
    the board is sure to lose. The env still reads (and scores) any reply.

    >>> world = universe("Oceania", "train")
    >>> g = board_grammar("Oceania", "train", world.full, AnswerFormat.named("bracket"))
    >>> '"Niue"' in g.source, '"Fiji"' in g.source, '"continent = Oceania"' in g.source  # Fiji: test split
    (True, False, False)
    >>> niue = 1 << world.candidates.index("Niue")
    >>> '"ask"' in board_grammar("Oceania", "train", niue, AnswerFormat.named("bracket")).source  # one left: guess
    False
    """
    world = universe(name, split)
    on_board = world.names(alive)
    if not on_board:
        raise ValueError(f"the board of {name}:{split} must hold a candidate; got the empty mask {alive!r}")
    questions = tuple(q.text for q in world.splitting(alive)) if asking else ()
    ask, guess = TOOLS
    listed = (ToolSpec(guess.name, guess.description, (("entity", Param("string", "a candidate", enum=on_board)),),
                       final=True),)  # fmt: skip
    if questions:
        listed = (ToolSpec(ask.name, ask.description, (("question", Param("string", "a question", enum=questions)),)),
                  *listed)  # fmt: skip
    return call_grammar(listed, answer_format)


def entropy(yes: int, total: int) -> float:
    """Bits of information in the answer to a question that ``yes`` of ``total`` equally likely candidates satisfy.

    >>> entropy(4, 8), entropy(0, 8), round(entropy(1, 4), 4)
    (1.0, 0.0, 0.8113)
    """
    if total <= 0 or yes <= 0 or yes >= total:
        return 0.0
    p = yes / total
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


# --------------------------------------------------------------------------- the env


@dataclass(frozen=True, slots=True)
class SecretTask:
    """A game: the secret (hidden), the candidates' universe and the level."""

    secret: str
    universe: str
    split: str
    level: int
    questions: int = MAX_QUESTIONS
    """The questions answered in this game (the env's ``max_questions``)."""

    @property
    def statement(self) -> str:
        world = universe(self.universe, self.split)
        where = {ALL: "a country", CITIES: "a city of a million people or more"}.get(
            self.universe, f"a country in {self.universe}"
        )
        return (
            f"I am thinking of {where}: one of the {len(world.candidates)} candidates below. Find it with yes/no "
            f"questions, then guess it. Call ask(question) with a question in one of these forms: {FORMS[world.kind]}. "
            f"At most {self.questions} questions are answered. Then call guess(entity) once: it ends the game. "
            "Candidates: " + "; ".join(world.candidates) + "."
        )


@dataclass
class _Progress:
    asked: list[tuple[Predicate, bool]]
    alive: int
    """Bitmask of the candidates consistent with every answer so far."""


def _asked(history: Sequence[Mapping[str, Any]]) -> list[tuple[Predicate, bool]]:
    """The answered questions of a ``GAME_OBSERVATION`` history, as ``(predicate, yes)``."""
    return [
        (_parsed(entry["call"]["arguments"]["question"]), entry["result"].startswith("yes"))
        for entry in history
        if entry["ok"] and entry["call"]["name"] == "ask"
    ]


@functools.lru_cache(maxsize=65536)
def _parsed(question: str) -> Predicate:
    return parse_question(load_graph(), question)


def _random_move(view: dict[str, Any], rng: random.Random) -> str:
    """A random question of the level's list (a guess of a random candidate one time in eight)."""
    world = universe(view["task"]["universe"], view["task"]["split"])
    if rng.random() < 0.125:
        return ToolCall("guess", {"entity": rng.choice(world.candidates)}).to_json()
    return ToolCall("ask", {"question": rng.choice(world.questions).text}).to_json()


class TwentyQuestionsEnv(ToolTaskEnv):
    """Twenty Questions over the knowledge graph's countries and cities (see the module docstring).

    Args:
        difficulty: 1 (the split's countries of one continent, named in the task), 2 (all the split's
            countries) or 3 (the split's cities of a million people or more), or a sequence of them to draw
            from (default all three).
        split: ``"train"`` (default) or ``"test"``: games over disjoint halves of the countries.
        max_turns: replies before the episode is truncated.
        answer_format: ``"bracket"`` (default) or ``"boxed"``: the marker around a JSON call.
        weights: overrides of :data:`DEFAULT_WEIGHTS`.
        max_calls: parallel calls per reply (Hermes blocks).
        max_questions: questions answered per game.
        board: the Guess Who variant (see the module docstring): the candidates still possible are shown, and are
            the state key; the action grammar lists the questions and candidates.
    """

    tools: ClassVar[tuple[ToolSpec, ...]] = TOOLS
    rules: ClassVar[TaskRules] = TaskRules(GAME_NAME, _random_move)
    default_weights: ClassVar[Mapping[str, float]] = DEFAULT_WEIGHTS
    levels: ClassVar[tuple[int, ...]] = (1, 2, 3)
    role: ClassVar[str] = "questioner"

    def __init__(
        self,
        difficulty: int | tuple[int, ...] | list[int] | None = None,
        split: str = "train",
        max_turns: int = MAX_QUESTIONS + 4,
        answer_format: str = "bracket",
        weights: Mapping[str, float] | None = None,
        max_calls: int = 4,
        max_questions: int = MAX_QUESTIONS,
        board: bool = False,
    ) -> None:
        super().__init__(difficulty, split, max_turns, answer_format, weights, max_calls)
        if not isinstance(max_questions, int) or isinstance(max_questions, bool) or not 1 <= max_questions <= 100:
            raise ValueError(f"max_questions must be an integer in 1..100, got {max_questions!r}")
        self.max_questions = max_questions
        if not isinstance(board, bool):
            raise ValueError(f"board must be true or false, got {board!r}")
        self.board = board
        self.graph = load_graph()
        self._continents = tuple(
            c
            for c in self.graph.by_kind["continent"]
            if sum(
                split_of(self.graph.entities[n].code, HELD_OUT) == split
                for n in self.graph.neighbors(c, "countries_in")
            )
            >= MIN_CANDIDATES
        )
        self._answer: tuple[Predicate, bool] | None = None

    def _draw_task(self, level: int, options: dict[str, Any]) -> tuple[SecretTask, _Progress]:
        if options:
            raise ValueError(f"unknown reset option(s) {sorted(options)}; valid: ['difficulty']")
        name = {2: ALL, 3: CITIES}.get(level) or self._rng.choice(self._continents)
        world = universe(name, self.split)
        task = SecretTask(self._rng.choice(world.candidates), name, self.split, level, self.max_questions)
        return task, _Progress([], world.full)

    def _task_view(self, task: SecretTask) -> dict[str, Any]:
        return {"universe": task.universe, "split": task.split, "level": task.level, "questions": task.questions}

    def _run_call(self, call: ToolCall) -> str:
        episode = self._require_started()
        if len(episode.progress.asked) >= self.max_questions:
            raise ToolError(f"all {self.max_questions} questions are used; call guess")
        predicate = parse_question(self.graph, call.arguments["question"])
        kind = self.graph.entities[episode.task.secret].kind
        if predicate.attribute not in ATTRIBUTES[kind]:
            raise ToolError(f"{predicate.text!r} is not a question about a {kind}; ask one of: {FORMS[kind]}")
        yes = predicate.holds(self.graph, episode.task.secret)
        self._answer = (predicate, yes)
        return f"{'yes' if yes else 'no'} ({predicate.text})"

    def _score_call(self, episode: ToolEpisode, call: ToolCall, ok: bool, result: Any) -> dict[str, float]:
        if not ok or self._answer is None:
            return {}
        predicate, yes = self._answer
        self._answer = None
        mask = universe(episode.task.universe, episode.task.split).mask(predicate)
        progress = episode.progress
        gain = entropy((progress.alive & mask).bit_count(), progress.alive.bit_count())
        progress.alive &= mask if yes else ~mask
        progress.asked.append((predicate, yes))
        return {
            "question_cost": self.weights["question_cost"],
            "information_gain": self.weights["information_gain"] * gain,
        }

    def _score_final(self, episode: ToolEpisode, call: ToolCall) -> tuple[dict[str, float], bool, str]:
        secret = episode.task.secret
        correct = self.graph.lookup(call.arguments["entity"]) == secret
        verdict = f"Right: it is {secret}." if correct else f"Wrong: it was {secret}."
        return {"success": self.weights["success"] if correct else 0.0}, correct, verdict

    def board_key(self) -> str:
        """The board variant's state key: ``NN|names left|qQ|tT|universe:split`` (``NN`` the candidates left, two
        digits, so the names start at a fixed place; ``Q`` questions and ``T`` turns left). Two states with one key
        have one universe, one set of candidates consistent with the answers (on which the secret is uniform: the
        agent's whole knowledge of it), and one budget, so every continuation plays out alike."""
        episode = self._require_started()
        task = episode.task
        world = universe(task.universe, task.split)
        left = world.names(episode.progress.alive)
        questions = self.max_questions - len(episode.progress.asked)
        return f"{len(left):02d}|{'; '.join(left)}|q{questions}|t{self.max_turns - episode.turn}|{task.universe}:{task.split}"

    def _info(self) -> dict[str, Any]:
        info = super()._info()
        if self.board:
            episode = self._require_started()
            info[STATE_KEY] = self.board_key()
            asking = len(episode.progress.asked) < self.max_questions
            info[ACTION_GRAMMAR] = board_grammar(
                episode.task.universe, episode.task.split, episode.progress.alive, self.answer_format, asking=asking
            )
        return info

    def _observation(self) -> str:
        text = super()._observation()
        episode = self._require_started()
        if not self.board or episode.done:
            return text
        world = universe(episode.task.universe, episode.task.split)
        left = world.names(episode.progress.alive)
        return f"{text}\n\nBoard: {len(left)} candidate(s) still possible: {'; '.join(left)}."

    def oracle_reply(self) -> str:
        """The reply of an agent that reads the hidden secret: the right guess at once (the most reward)."""
        secret = self._require_started().task.secret
        return self.answer_format.wrap(ToolCall("guess", {"entity": secret}).to_json())


class HalvingAgent(ScriptedAgent):
    """``fixed:halving``: asks the question of :attr:`Universe.questions` that splits the candidates still possible
    most evenly (the first such, so it is deterministic), and guesses when one candidate is left (or when the
    questions are spent: the first candidate still possible). It reads only what the model sees: the level's
    candidates, the question budget and the answers so far (``info["game_observation"]``)."""

    name = "halving"

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        world = universe(view["task"]["universe"], view["task"]["split"])
        asked = _asked(view["history"])
        alive = world.consistent(asked)
        count = alive.bit_count()
        best, best_split = None, 0
        if count > 1 and len(asked) < view["task"]["questions"]:
            for question, mask in zip(world.questions, world.question_masks, strict=True):
                yes = (alive & mask).bit_count()
                split = yes if 2 * yes <= count else count - yes  # the smaller side
                if split > best_split:
                    best, best_split = question, split
                    if 2 * split >= count - 1:
                        break
        if best is None:  # one candidate left, no question left, or none of the questions tells the rest apart
            first = world.names(alive)[0]
            return {ToolCall("guess", {"entity": first}).to_json(): 1.0}
        return {ToolCall("ask", {"question": best.text}).to_json(): 1.0}


declare_bots(GAME_NAME, {"halving": HalvingAgent}, strongest="halving")
