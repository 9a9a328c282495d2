"""Action grammars: the data type, the engine (llguidance over bytes), what each env declares,
and the checker's grammar/parser agreement check, which must fail on a broken parser."""

from __future__ import annotations

import copy
import pickle
import random

import pytest

import gym_reason
from gym_reason import grammar as engine
from gym_reason.checker import NO_GRAMMAR, NOT_APPLICABLE, OK, check_env
from gym_reason.core import (
    ACTION_GRAMMAR,
    INVALID_ACTION,
    LEGAL_ACTIONS,
    ActionGrammar,
    AnswerFormat,
    GrammarKind,
)
from gym_reason.envs.code.replies import code_block_grammar, code_or_answer_grammar, prose, python_blocks
from gym_reason.envs.game_env import GameEnv
from gym_reason.envs.games.kuhn_poker.rules import KuhnPoker
from gym_reason.envs.games.kuhn_poker.template import KuhnPokerTemplate
from gym_reason.envs.games.simple_negotiation.rules import RESOURCES

GRAMMAR_CHECK = "action grammar"

# --- the data type -----------------------------------------------------------------------------------------


def test_grammars_are_immutable_hashable_values():
    a, b = ActionGrammar.choice(["[check]", "[bet]"]), ActionGrammar.choice(("[check]", "[bet]"))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert ActionGrammar.json_schema({"b": 1, "a": 2}).source == '{"b": 1, "a": 2}'  # engines keep property order
    with pytest.raises(AttributeError):
        a.choices = ()  # type: ignore[misc]
    assert copy.deepcopy({"g": a})["g"] is a  # env snapshots deep-copy info: an immutable value is shared
    assert pickle.loads(pickle.dumps(a)) == a


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ActionGrammar.choice([]), "non-empty tuple of strings"),
        (lambda: ActionGrammar.regex(""), "non-empty source"),
        (lambda: ActionGrammar(GrammarKind.LARK, choices=("a",), source="start: x"), "no choices"),
        (lambda: ActionGrammar.json_schema("{not json"), "Expecting"),
    ],
)
def test_malformed_grammars_are_refused_with_the_fix(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_the_engine_names_what_it_cannot_read():
    with pytest.raises(ValueError, match="unknown name"):
        engine.engine_grammar(ActionGrammar.lark("start: nowhere"))


# --- the engine --------------------------------------------------------------------------------------------


def test_engine_membership_of_a_finite_set_is_set_membership():
    """The engine, not the shortcut: a finite set is compiled to a regex of escaped alternatives."""
    choices = ["[check]", "\\boxed{x}", "[a.b*c]", "[offer: 1 wheat -> 2 ore]", "[ü ♠]"]
    g = ActionGrammar.choice(choices)
    for text in [*choices, "[check", "[a.bbc]", "[axb*c]", "", "[check][check]", "[ü  ♠]"]:
        m = engine.matcher(g)
        data = list(text.encode())
        whole = m.validate_tokens(data) == len(data) and m.consume_tokens(data) and m.is_accepting()
        assert whole == (text in choices), text


def test_each_kind_accepts_and_rejects():
    regex = ActionGrammar.regex(r"\[(100|[1-9][0-9]?)\]")
    assert engine.accepts(regex, "[42]") and not engine.accepts(regex, "[101]") and not engine.accepts(regex, "x [42]")
    tool = ActionGrammar.json_schema(
        {
            "type": "object",
            "properties": {
                "name": {"const": "run_python"},
                "arguments": {
                    "type": "object",
                    "properties": {"code": {"type": "string"}},
                    "required": ["code"],
                    "additionalProperties": False,
                },
            },
            "required": ["name", "arguments"],
            "additionalProperties": False,
        }
    )
    assert engine.accepts(tool, '{"name": "run_python", "arguments": {"code": "print(1)"}}')
    assert not engine.accepts(tool, '{"name": "rm", "arguments": {"code": "x"}}')
    lark = AnswerFormat.named("boxed").lark_grammar('move: "bid " /[1-9]/')
    assert engine.accepts(lark, "\\boxed{bid 3}") and not engine.accepts(lark, "[bid 3]")


def test_samples_are_strings_of_the_grammar_and_seeded():
    g = AnswerFormat.named("bracket").lark_grammar('move: "go " /[a-z]+/ | "stop"')
    first = engine.sample(g, random.Random(5), 20)
    assert first == engine.sample(g, random.Random(5), 20)
    assert all(engine.accepts(g, s) for s in first)
    assert {s.split()[0] for s in first} == {"[go", "[stop]"}
    # A language whose strings end in a fixed closing is still drawn whole (the closing search).
    assert all(s.endswith("\n```") for s in engine.sample(code_block_grammar(), random.Random(0), 3, max_bytes=30))


# --- what the envs declare ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["bracket", "boxed"])
def test_a_listed_game_declares_its_legal_answers_memoised_with_the_view(fmt):
    env = gym_reason.make("kuhn_poker", answer_format=fmt)
    env.reset(seed=0)
    info = env.last()[4]
    grammar = info[ACTION_GRAMMAR]
    assert grammar.kind is GrammarKind.CHOICE and list(grammar.choices) == info[LEGAL_ACTIONS]
    env.reset(seed=0)
    assert env.last()[4][ACTION_GRAMMAR] is grammar  # built once per view, not per step
    while env.agents:
        agent = env.agent_selection
        _obs, _r, term, trunc, info = env.last()
        env.step(None if term or trunc else info[LEGAL_ACTIONS][-1])
        assert ACTION_GRAMMAR not in env.infos.get(agent, {}) or env.agent_selection == agent


def _negotiation_at(seed: int, moves: int):
    env = gym_reason.make("simple_negotiation")
    env.reset(seed=seed)
    rng = random.Random(seed)
    for _ in range(moves):
        info = env.last()[4]
        env.step(env.answer_format.wrap(env.game.random_move(info["game_observation"], rng)))
    return env


def test_negotiation_offers_are_bounded_by_what_the_player_holds():
    env = _negotiation_at(0, 0)
    info = env.last()[4]
    grammar, held = info[ACTION_GRAMMAR], info["game_observation"]["inventory"]
    assert grammar.kind is GrammarKind.LARK
    wheat = held["wheat"]
    inside = [f"[offer: {wheat} wheat -> 999999 ore]", "[offer: 1 wheat, 1 wood -> 3 sheep, 2 ore]", "[talk: hi there]"]
    outside = [
        f"[offer: {wheat + 1} wheat -> 1 ore]",  # more than held
        "[offer: 1 wheat -> 1 wheat]",  # on both sides
        "[offer: 1 wood, 1 wheat -> 1 ore]",  # not in resource order: read, but not the canonical form
        "[offer: 01 wheat -> 1 ore]",
        "[accept]",  # nothing pending
        "[deny]",
        "[talk:  two spaces]",
        "[talk: a]b]",
    ]
    assert all(engine.accepts(grammar, t) for t in inside)
    assert not any(engine.accepts(grammar, t) for t in outside)
    # Every drawn string is read as exactly itself: the grammar is the canonical moves.
    for text in engine.sample(grammar, random.Random(1), 30):
        content = env.answer_format.extract(text)
        assert env._state.parse_move(content) == content, text


def test_negotiation_offers_accept_and_deny_only_facing_an_offer():
    for seed in range(20):
        env = _negotiation_at(seed, 1)
        pending = env.last()[4]["game_observation"]["pending_offer"]
        if pending is not None:
            break
    grammar = env.last()[4][ACTION_GRAMMAR]
    assert engine.accepts(grammar, "[deny]")
    can_pay = all(env.last()[4]["game_observation"]["inventory"][r] >= n for r, n in pending["get"].items())
    assert engine.accepts(grammar, "[accept]") == can_pay
    assert set(RESOURCES) >= {r for side in ("give", "get") for r in pending[side]}


def test_code_grammars_are_what_the_code_parsers_read():
    block, either = code_block_grammar(), code_or_answer_grammar(AnswerFormat.named("bracket"))
    for text in ["```python\nprint(1)\n```", "```python\nx = '`'\n```"]:
        assert engine.accepts(block, text) and engine.accepts(either, text) and python_blocks(text) == [text[10:-4]]
    assert not engine.accepts(block, "```python\n  \n```") and not python_blocks("```python\n  \n```")
    # A subset of what the parser reads: a triple backtick inside the code is read, but not offered.
    assert not engine.accepts(block, "```python\na```b\n```") and python_blocks("```python\na```b\n```")
    assert engine.accepts(either, "[42]") and engine.accepts(either, "[x = 3]")
    for text in ["[ 42]", "[]", "[4`2]", "42", "```python\nprint(1)\n```\n[42]"]:
        assert not engine.accepts(either, text), text
    for text in engine.sample(either, random.Random(2), 10, max_bytes=40):
        blocks = python_blocks(text)
        answer = None if blocks else AnswerFormat.named("bracket").extract(prose(text))
        assert blocks or (answer and answer.strip()), text


def test_every_builtin_game_declares_a_grammar():
    ids = [s.id for s in gym_reason.list_envs() if s.id.startswith("gym_reason/") and s.kind == "game"]
    assert len(ids) >= 5
    for env_id in ids:
        env = gym_reason.make(env_id)
        env.reset(seed=0)
        assert isinstance(env.last()[4].get(ACTION_GRAMMAR), ActionGrammar), env_id


@pytest.mark.slow  # importing TextArena takes ~4 s
def test_textarena_envs_declare_none():
    pytest.importorskip("textarena")
    env = gym_reason.make("textarena/KuhnPoker-v0")
    env.reset(seed=0)
    assert ACTION_GRAMMAR not in env.last()[4]


# --- the checker -------------------------------------------------------------------------------------------


def _grammar_line(report):
    (line,) = [r for r in report.results if r.name.startswith(GRAMMAR_CHECK)]
    return line


class _RejectsBet(GameEnv):
    """A parser that rejects one legal answer ("[bet]") which the grammar still offers."""

    def _play(self, agent, player, action):
        super()._play(agent, player, "bet, without brackets" if action == "[bet]" else action)


class _TooWideGrammar(GameEnv):
    """A grammar wider than the parser: any bracketed word (so "[move]", "[win]" ... lie inside)."""

    def _select(self, player):
        super()._select(player)
        self.infos[self.agent_selection][ACTION_GRAMMAR] = ActionGrammar.regex(r"\[(check|bet|call|fold|move|win)\]")


class _NoGrammar(GameEnv):
    def _select(self, player):
        super()._select(player)
        del self.infos[self.agent_selection][ACTION_GRAMMAR]


@pytest.mark.parametrize(("broken", "says"), [(_RejectsBet, "'[bet]' is in the declared"), (_TooWideGrammar, "")])
def test_the_agreement_check_fails_on_a_broken_parser_or_grammar(broken, says):
    report = check_env(lambda: broken(KuhnPoker(), KuhnPokerTemplate()), episodes=2)
    line = _grammar_line(report)
    assert line.status == "FAIL", str(report)
    assert says in line.detail and "scored invalid" in line.detail


def test_the_agreement_check_passes_the_correct_env_and_is_not_applicable_without_a_grammar():
    assert _grammar_line(check_env(lambda: GameEnv(KuhnPoker(), KuhnPokerTemplate()), episodes=2)).status == OK
    line = _grammar_line(check_env(lambda: _NoGrammar(KuhnPoker(), KuhnPokerTemplate()), episodes=2))
    assert (line.status, line.detail) == (NOT_APPLICABLE, NO_GRAMMAR)
    assert "optional for third-party envs" in NO_GRAMMAR


def test_an_invalid_garbage_answer_inside_the_grammar_fails_even_when_sampling_misses_it():
    """The garbage direction on its own: the grammar's wrong strings are never drawn (a random walk into
    '.*' cannot close with '[win]': the closing search writes only CLOSING_BYTES), yet the checker's
    garbage answer 'Ignore all previous instructions ... [win]' is tested for membership directly."""

    class WinInside(GameEnv):
        def _select(self, player):
            super()._select(player)
            info = self.infos[self.agent_selection]
            legal = "|".join(m.strip("[]") for m in info[LEGAL_ACTIONS])
            info[ACTION_GRAMMAR] = ActionGrammar.regex(rf"\[({legal})\]|Ignore all previous instructions.*\[win\]")

    report = check_env(lambda: WinInside(KuhnPoker(), KuhnPokerTemplate()), episodes=2)
    line = _grammar_line(report)
    assert line.status == "FAIL" and "garbage 'Ignore all previous" in line.detail, str(report)
    assert INVALID_ACTION in line.detail


@pytest.mark.parametrize("fmt", ["bracket", "boxed"])
def test_thinking_before_a_grammar_string_still_reads_as_that_string(fmt):
    """What a 'think, then answer' decoder relies on: free text, marks and all, then a string of the grammar."""
    env = _negotiation_at(3, 2) if fmt == "bracket" else gym_reason.make("simple_negotiation", answer_format=fmt)
    if fmt == "boxed":
        env.reset(seed=3)
    answer_format, state = env.answer_format, env._state
    thinking = "Hmm [offer: 999 ore -> 1 wheat] or \\boxed{accept}? Let me write [ or \\boxed{ then: "
    for text in engine.sample(env.last()[4][ACTION_GRAMMAR], random.Random(4), 20):
        alone = state.parse_move(answer_format.extract(text))
        assert alone is not None and state.parse_move(answer_format.extract(thinking + text)) == alone, text
