"""``gym_reason/KGNav-v0``: answer multi-hop questions by walking a knowledge graph with tools.

Each episode poses one question of :mod:`gym_reason.envs.kg.questions` ("List the currencies used in
the countries bordering the country whose capital is Bern.") over the graph of
:mod:`gym_reason.envs.kg.graph`, whose answer is a set of entities. The model explores the graph with
four tools, called as :mod:`gym_reason.envs.tool_calls` documents (one JSON call in the answer marker,
or up to ``max_calls`` Hermes ``<tool_call>`` blocks run in order):

=================================  ==============================================================
tool                               result
=================================  ==============================================================
``search_entity(query)``           up to 10 entity names (with their kinds) whose words start with the query's
``get_relations(entity)``          the relations leaving the entity, with how many edges each has
``get_neighbors(entity, relation)`` the entities one ``relation`` edge away, as JSON
                                   ``{"entity", "relation", "neighbors"}`` (the first :data:`LIST_LIMIT`,
                                   sorted; ``"not_listed"`` counts the rest)
``answer(entities)``               the final answer: entity names separated by ``;`` (ends the episode;
                                   see :func:`answer_names`)
=================================  ==============================================================

Entity names are matched without regard to case, accents or extra spaces; an unknown entity is a tool
error. Difficulty is the number of hops, 1 to 4 (``difficulty=(1, 2)``: one or two).

Rewards (``info["reward_components"]``, summing to the step reward; every weight is a constructor
``weights`` entry):

==================  ======================  =================================================================
component           default weight          paid
==================  ======================  =================================================================
``answer``          1.0                     on the answer: weight x F1 of the answer set against the gold
                                            set, or 0 when the answer holds more wrong names than right ones
                                            (so listing every candidate earns nothing)
``on_gold_path``    0.2                     a ``get_neighbors`` call that expands a gold ``(entity,
                                            relation)`` pair not expanded before: weight / number of gold
                                            pairs, so a full walk of the gold path earns the weight once
                                            (KG-TRACES-style path supervision)
``tool_error``      -0.05                   a call that names an unknown entity
``invalid_action``  -0.1                    a reply with no readable call (see ``tool_calls``)
==================  ======================  =================================================================

The most an episode can earn is ``answer + on_gold_path`` (1.2 by default), which ``fixed:oracle``
(:class:`PathWalker`) reaches: it reads the question as data (start and relation path, which the text
states in words) and walks the path through the results it is shown. :meth:`KGNavEnv.oracle_reply`
reaches it too, reading the hidden frontiers. The outcome is a win when the answer set is exactly right.

``split="test"`` draws questions anchored at the held-out fifth of the countries
(:func:`~gym_reason.envs.kg.questions.split_of`); ``"train"`` (default) the rest.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from gym_reason.envs.games.bots import ScriptedAgent, declare_bots
from gym_reason.envs.kg.graph import RELATIONS, KnowledgeGraph, load_graph
from gym_reason.envs.kg.questions import HOPS, MAX_EXPANSIONS, Question, generate_question
from gym_reason.envs.tool_calls import Param, ToolCall, ToolError, ToolSpec
from gym_reason.envs.tools.base import TaskRules, ToolEpisode, ToolTaskEnv

GAME_NAME = "kg_nav"
LIST_LIMIT = 60
"""Entities one ``get_neighbors`` result lists (the rest are counted); every question's frontier is smaller."""
ANSWER_SEPARATOR = ";"

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "search_entity",
        "Find entities by name: up to 10 names whose words start with the words of the query, with their kinds.",
        (("query", Param("string", "part of an entity's name, e.g. 'united' or 'berl'", max_length=100)),),
    ),
    ToolSpec(
        "get_relations",
        "The relations leaving an entity, with the number of edges of each.",
        (("entity", Param("string", "an entity name exactly as the graph spells it", max_length=100)),),
    ),
    ToolSpec(
        "get_neighbors",
        "The entities one edge of the relation away from the entity.",
        (
            ("entity", Param("string", "an entity name exactly as the graph spells it", max_length=100)),
            ("relation", Param("string", "a relation name", enum=tuple(RELATIONS))),
        ),
    ),
    ToolSpec(
        "answer",
        "Give the final answer and end the episode: every entity of the answer, separated by '; '.",
        (("entities", Param("string", "entity names separated by '; '", max_length=2000)),),
        final=True,
    ),
)

DEFAULT_WEIGHTS: Mapping[str, float] = {
    "answer": 1.0,
    "on_gold_path": 0.2,
    "tool_error": -0.05,
    "invalid_action": -0.1,
}


@dataclass(frozen=True, slots=True)
class NavTask:
    """A question as a task: the statement shown, the level (hops) and the hidden gold."""

    question: Question
    level: int

    @property
    def statement(self) -> str:
        return (
            f"{self.question.text} Walk the knowledge graph of countries, cities, continents, currencies and "
            f"languages (languages are named like lang:en) with the tools, then answer with every entity that "
            f"fits, names separated by '{ANSWER_SEPARATOR} '."
        )


def _random_move(view: dict[str, Any], rng: random.Random) -> str:
    """A random well-formed call: a tool at random with names drawn from the graph (answers one time in four)."""
    graph = load_graph()
    tool = rng.choice(("search_entity", "get_relations", "get_neighbors", "answer"))
    entity = rng.choice(graph.names)
    if tool == "search_entity":
        arguments: dict[str, Any] = {"query": entity.split()[0][:100]}
    elif tool == "get_relations":
        arguments = {"entity": entity}
    elif tool == "get_neighbors":
        arguments = {"entity": entity, "relation": rng.choice(graph.relations_of(entity) or tuple(RELATIONS))}
    else:
        arguments = {"entities": f"{ANSWER_SEPARATOR} ".join(rng.sample(graph.names, rng.randint(1, 3)))}
    return ToolCall(tool, arguments).to_json()


class KGNavEnv(ToolTaskEnv):
    """Multi-hop questions over the geography knowledge graph, answered by walking it with tools.

    Args:
        difficulty: hops, 1..4, or a sequence of them to draw from (default all).
        split: ``"train"`` (default) or ``"test"``: questions anchored at disjoint sets of countries.
        max_turns: replies before the episode is truncated (a walk of every question fits in
            :data:`~gym_reason.envs.kg.questions.MAX_EXPANSIONS` + 1 single-call replies).
        answer_format: ``"bracket"`` (default) or ``"boxed"``: the marker around a JSON call.
        weights: overrides of :data:`DEFAULT_WEIGHTS`.
        max_calls: parallel calls per reply (Hermes blocks).
    """

    tools: ClassVar[tuple[ToolSpec, ...]] = TOOLS
    rules: ClassVar[TaskRules] = TaskRules(GAME_NAME, _random_move)
    default_weights: ClassVar[Mapping[str, float]] = DEFAULT_WEIGHTS
    levels: ClassVar[tuple[int, ...]] = HOPS

    def __init__(
        self,
        difficulty: int | tuple[int, ...] | list[int] | None = None,
        split: str = "train",
        max_turns: int = MAX_EXPANSIONS + 4,
        answer_format: str = "bracket",
        weights: Mapping[str, float] | None = None,
        max_calls: int = 4,
    ) -> None:
        super().__init__(difficulty, split, max_turns, answer_format, weights, max_calls)
        self.graph: KnowledgeGraph = load_graph()

    # ------------------------------------------------------------------ the task

    def _draw_task(self, level: int, options: dict[str, Any]) -> tuple[NavTask, set[tuple[str, str]]]:
        if options:
            raise ValueError(f"unknown reset option(s) {sorted(options)}; valid: ['difficulty']")
        question = generate_question(self.graph, self._rng, (level,), self.split)
        return NavTask(question, level), set()

    def _task_view(self, task: NavTask) -> dict[str, Any]:
        # The question as data: its start and relation path, which its text states in words (not the answer).
        question = task.question
        return {"question": question.text, "hops": task.level, "start": question.start, "path": list(question.path)}

    def _entity(self, text: str) -> str:
        name = self.graph.lookup(text)
        if name is None:
            near = self.graph.search(text, limit=3)
            hint = f"; did you mean {', '.join(map(repr, near))}?" if near else "; search_entity finds names"
            raise ToolError(f"no entity is named {text[:100]!r}{hint}")
        return name

    def _run_call(self, call: ToolCall) -> Any:
        args = call.arguments
        if call.name == "search_entity":
            found = self.graph.search(args["query"])
            if not found:
                return f"no entity matches {args['query'][:100]!r}"
            return "; ".join(f"{n} ({self.graph.entities[n].kind})" for n in found)
        entity = self._entity(args["entity"])
        if call.name == "get_relations":
            listed = [f"{r} ({len(self.graph.neighbors(entity, r))})" for r in self.graph.relations_of(entity)]
            return f"{entity}: " + ("; ".join(listed) if listed else "no relations")
        tails = self.graph.neighbors(entity, args["relation"])
        result: dict[str, Any] = {"entity": entity, "relation": args["relation"], "neighbors": list(tails[:LIST_LIMIT])}
        if len(tails) > LIST_LIMIT:
            result["not_listed"] = len(tails) - LIST_LIMIT
        return result

    def _score_call(self, episode: ToolEpisode, call: ToolCall, ok: bool, result: Any) -> dict[str, float]:
        if not ok or call.name != "get_neighbors":
            return {}
        pair = (self.graph.lookup(call.arguments["entity"]), call.arguments["relation"])
        gold = episode.task.question.gold_expansions
        if pair not in gold or pair in episode.progress:
            return {}
        episode.progress.add(pair)
        return {"on_gold_path": self.weights["on_gold_path"] / len(gold)}

    def _score_final(self, episode: ToolEpisode, call: ToolCall) -> tuple[dict[str, float], bool, str]:
        gold = episode.task.question.answer
        given = answer_names(self.graph, call.arguments["entities"])
        score, precision, recall = answer_score(given, gold)
        correct = given == gold
        verdict = (
            f"answer: {len(given)} name(s), {len(given & gold)} right; precision {precision:.2f}, recall "
            f"{recall:.2f}, score {score:.2f}. "
            + ("Correct." if correct else "The gold answer: " + "; ".join(sorted(gold)) + ".")
        )
        return {"answer": self.weights["answer"] * score}, correct, verdict

    # ------------------------------------------------------------------ the oracle

    def oracle_reply(self) -> str:
        """The next reply of a perfect agent that reads the hidden gold path (for tests and benchmarks): the
        gold expansions of the first hop not fully expanded yet, up to ``max_calls`` at a time as Hermes blocks,
        then the answer."""
        episode = self._require_started()
        question = episode.task.question
        todo: list[tuple[str, str]] = []
        for frontier, relation in zip(question.frontiers, question.path, strict=True):
            todo = [(e, relation) for e in sorted(frontier) if (e, relation) not in episode.progress]
            if todo:  # one hop per reply: the next hop's entities come from this one's results
                break
        todo = todo[: self.max_calls]
        if not todo:
            call = ToolCall("answer", {"entities": f"{ANSWER_SEPARATOR} ".join(sorted(question.answer))})
            return self.answer_format.wrap(call.to_json())
        calls = [ToolCall("get_neighbors", {"entity": e, "relation": r}).to_json() for e, r in todo]
        return "".join(f"<tool_call>{c}</tool_call>" for c in calls)


def answer_names(graph: KnowledgeGraph, text: str) -> set[str]:
    """The entities an answer names: parts separated by ``;``, matched as :meth:`KnowledgeGraph.lookup` does; a
    part that names no entity but whose comma-separated pieces all do is read as those (models often list with
    commas; "Valencia, Venezuela" stays one city). Unknown names are kept, marked with ``?``, as wrong answers.

    >>> sorted(answer_names(load_graph(), "france, germany; Valencia, Venezuela; Atlantis"))
    ['?Atlantis', 'France', 'Germany', 'Valencia, Venezuela']
    """
    found: set[str] = set()
    for part in (p.strip() for p in text.split(ANSWER_SEPARATOR)):
        if not part:
            continue
        name = graph.lookup(part)
        pieces = [graph.lookup(piece) for piece in part.split(",")] if name is None and "," in part else []
        if pieces and all(pieces):
            found.update(p for p in pieces if p is not None)
        else:
            found.add(name or f"?{part}")
    return found


def answer_score(given: set[str] | frozenset[str], gold: frozenset[str]) -> tuple[float, float, float]:
    """``(score, precision, recall)`` of an answer set: the score is the F1, or 0 when precision is below 1/2.

    >>> answer_score({"a", "b"}, frozenset({"a", "c"}))
    (0.5, 0.5, 0.5)
    >>> answer_score({"a", "x", "y"}, frozenset({"a"}))[0]
    0.0
    """
    hits = len(given & gold)
    if not hits:
        return 0.0, 0.0, 0.0
    precision, recall = hits / len(given), hits / len(gold)
    f1 = 2 * precision * recall / (precision + recall)
    return (f1 if precision >= 0.5 else 0.0), precision, recall


class PathWalker(ScriptedAgent):
    """``fixed:oracle``: walks the question's relation path from its start (``info["game_observation"]``: the
    question as data), one ``get_neighbors`` call per entity and hop, reading each hop's entities from the
    results it was shown, then answers with the last hop's entities. It never reads the hidden answer."""

    name = "oracle"

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        task, shown = view["task"], {}
        for entry in view["history"]:
            result = entry["result"]
            if entry["ok"] and entry["call"]["name"] == "get_neighbors":
                shown[(result["entity"], result["relation"])] = result["neighbors"]
        reached = {task["start"]}
        for relation in task["path"]:
            missing = sorted(e for e in reached if (e, relation) not in shown)
            if missing:
                return {ToolCall("get_neighbors", {"entity": missing[0], "relation": relation}).to_json(): 1.0}
            reached = {t for e in reached for t in shown[(e, relation)]}
        answer = ToolCall("answer", {"entities": f"{ANSWER_SEPARATOR} ".join(sorted(reached))})
        return {answer.to_json(): 1.0}


declare_bots(GAME_NAME, {"oracle": PathWalker}, strongest="oracle")
