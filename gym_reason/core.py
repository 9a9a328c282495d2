"""The environment contracts: what every gym-reason environment promises.

Observations and actions are ``str``. An action is the raw text a model wrote;
the environment owns its action grammar, parses that text itself, and treats a
text it cannot parse, or a move the rules forbid, as an **invalid move**: a
scored game event (see :class:`InvalidMoveRule`), never an exception. An
exception means the *caller* misused the API (stepping a finished env, an
unknown agent, a non-string action, bad constructor arguments) and its message
names the bad value, the valid options and the fix.

Two kinds of environment:

* **Single-agent tasks** subclass :class:`gymnasium.Env` and keep its 5-tuple:
  ``reset(seed=, options=) -> (obs, info)`` and
  ``step(action) -> (obs, reward, terminated, truncated, info)``.
* **Turn-based games** subclass :class:`pettingzoo.AECEnv` with agents
  ``player_0``, ``player_1``, ...: ``observe(agent) -> str``, ``last()``,
  per-agent ``rewards`` accumulated in ``_cumulative_rewards``, and the usual
  dead step (``step(None)``) for every agent once the game is over.

Both expose :func:`text_space` spaces: a :class:`gymnasium.spaces.Text` whose
charset (:data:`TEXT_CHARSET`) contains every observation the env can emit.
Text that came from a model (a negotiation message, say) is passed through
:func:`to_charset` before it appears in another observation.

Determinism: an env draws randomness only from its own generator, seeded in
``reset(seed=)``; the same seed and the same actions give the same transcript,
byte for byte. ``reset()`` without a seed continues the env's own stream.

Envs whose state can be copied implement ``snapshot() -> object`` and
``restore(snapshot)`` so step-level rewards can be estimated by Monte-Carlo
continuations from any state.

**Splits (held-out tasks).** A task env whose tasks a policy could memorise takes a constructor
keyword ``split``: ``"train"`` (the default) or ``"test"``, and exposes ``split`` and ``splits``
(``("train", "test")``). The two splits draw from disjoint pools of tasks *by construction* (the
code envs decide by a hash of the task's text or the problem's id), so no seed of one reaches a task
of the other. Training plays the train split; evaluation (``gym-reason eval`` on a task, the
trainer's evaluation) builds the env with ``split="test"`` unless told otherwise.

The ``info`` keys below are the whole vocabulary; an env may add its own keys,
but never gives one of these names another meaning.

**Action grammars.** Wherever an agent is to act, ``info[ACTION_GRAMMAR]`` holds an
:class:`ActionGrammar`: the language of the replies the env accepts at this turn, as data a
grammar engine (llguidance, xgrammar, vLLM's structured outputs) can hold a decoder to. It is
the *answer language*, what constrained decoding emits: for a game ``[bet]``, not
``"I hold a king, so [bet]"``. The env's parser reads a superset of it (thinking before the
answer, since the last marked answer counts; other case and spacing; the written variants a
game documents), so a model that thinks first is still read, but two promises hold, and the
checker (:mod:`gym_reason.checker`) tests both ways:

* every string of the grammar, played at that turn, is a valid move (never an invalid one);
* every string the env scores as an invalid move at that turn lies outside the grammar.

A listed game's grammar is exactly its legal answers; the others state canonical forms (an offer
in resource order, single spaces), a subset of what the parser reads. Free text inside an
answer (a message, a final answer) never holds a character of :attr:`AnswerFormat.reserved`,
so text written before a string of a game's grammar cannot change how that string is read:
a decoder may let a model think, then hold it to the grammar.

The grammar is declared per turn because it changes with the state (the legal moves, what a
player holds); envs derive it from their :class:`AnswerFormat` and memoise it with the views
they render (for a listed game declaring it costs a dict entry per step). The key is optional: an env that
cannot state its replies exactly (a TextArena game, whose parsers are its own) leaves it out,
and the checker says so; every built-in env of ``gym_reason/`` declares one.
"""

from __future__ import annotations

import copy
import enum
import functools
import json
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from gymnasium import spaces

# --------------------------------------------------------------------------- info keys

LEGAL_ACTIONS = "legal_actions"
"""``list[str]``: every valid answer, exactly as the agent may return it (already
in the answer format, e.g. ``"[bet]"``), present wherever the set is finite and
it is the agent's turn."""

ACTION_FORMAT = "action_format"
"""``str``: one line telling the model how to write its answer."""

INVALID_ACTION = "invalid_action"
"""``bool``: whether this agent's most recent action was an invalid move."""

PARSED_ACTION = "parsed_action"
"""``str | None``: the canonical move read from this agent's most recent action
(``None`` when it could not be parsed)."""

ROLE = "role"
"""``str``: the seat or role the agent plays (``player_0``, ...), the key of
role-conditioned baselines."""

REWARD_COMPONENTS = "reward_components"
"""``dict[str, float]``: named parts of the most recent reward; the reward is
exactly their sum. Trainers may re-weight them (step-level process rewards)."""

STATE_KEY = "state_key"
"""Hashable canonical key of what the acting agent knows (its information
state), for grouping steps that start from the same situation."""

OUTCOME = "outcome"
""":class:`Outcome` value, present once the agent's episode is over."""

GAME_OBSERVATION = "game_observation"
"""``dict``: the agent's private view as structured data (JSON-able), for
scripted opponents and exact analysis. Never holds information the agent may
not see. It may be the env's own memo of that view, shared across turns:
treat it as read-only (copy it before changing it)."""

METRICS = "metrics"
"""``dict[str, float]``: facts about the episode that are *not* part of the
reward (chips won over a match, raw value changes in a negotiation, ...)."""

ACTION_GRAMMAR = "action_grammar"
""":class:`ActionGrammar`: the language of the valid replies at this turn (see the module docstring),
present wherever the agent is to act and the env declares one."""

REQUIRED_INFO_KEYS = (ROLE, ACTION_FORMAT, STATE_KEY)
"""Keys every info dict carries whenever the agent is to act."""

AFTER_ACTION_INFO_KEYS = (INVALID_ACTION, PARSED_ACTION)
"""Keys an info dict carries once its agent has acted at least once."""


class Outcome(enum.StrEnum):
    """How an episode ended for one agent."""

    WIN = "win"
    LOSS = "loss"
    DRAW = "draw"
    FORFEIT = "forfeit"
    """The agent made an invalid move that ended the game."""
    TRUNCATED = "truncated"
    """The turn limit ended the episode before the game did."""


# --------------------------------------------------------------------------- invalid moves


@dataclass(frozen=True, slots=True)
class InvalidMoveRule:
    """What an invalid move costs.

    ``offender`` and ``other`` are the rewards of the player who made the invalid
    move and of every other player. With ``ends_game`` the game stops there;
    without it the offender gets ``offender`` as an immediate penalty and must
    move again (the turn still counts toward the turn limit).

    >>> InvalidMoveRule.named("spiral")
    InvalidMoveRule(offender=-1.5, other=0.5, ends_game=True)
    """

    offender: float = -1.0
    other: float = 1.0
    ends_game: bool = True

    @classmethod
    def named(cls, name: str) -> InvalidMoveRule:
        """The rule of that name in :data:`INVALID_MOVE_RULES`."""
        if name not in INVALID_MOVE_RULES:
            raise ValueError(
                f"unknown invalid-move rule {name!r}; valid: {sorted(INVALID_MOVE_RULES)}. "
                "Pass one of those names or an InvalidMoveRule(offender=..., other=..., ends_game=...)."
            )
        return INVALID_MOVE_RULES[name]


INVALID_MOVE_RULES: Mapping[str, InvalidMoveRule] = MappingProxyType(
    {"default": InvalidMoveRule(), "spiral": InvalidMoveRule(offender=-1.5, other=0.5)}
)
"""The named invalid-move rules (``invalid_move="spiral"``, ``--invalid-move spiral``): ``default`` for
evaluation, ``spiral`` as SPIRAL trains (offender -1.5, other +0.5)."""


# --------------------------------------------------------------------------- answer formats


@dataclass(frozen=True, slots=True)
class AnswerFormat:
    """How a model marks its answer inside free text: ``[move]`` or ``\\boxed{move}``.

    The *last* marked answer in the text counts, so a model may think first.

    >>> fmt = AnswerFormat.named("bracket")
    >>> fmt.extract("I hold a king, so [bet]")
    'bet'
    >>> AnswerFormat.named("boxed").extract(r"so \\boxed{call} it is")
    'call'
    >>> fmt.extract("no answer here") is None
    True
    >>> fmt.wrap("check")
    '[check]'
    """

    name: str
    open: str
    close: str
    instruction: str
    stop_after: tuple[str, ...] | None = None
    """Texts after which a free-form reply is over (a sampler stops there); ``None``: the closing mark.
    An env whose replies hold code, where the closing mark also appears inside the code, sets its own."""

    @property
    def stops(self) -> tuple[str, ...]:
        """Where free-form sampling of a reply in this format stops.

        >>> AnswerFormat.named("boxed").stops
        ('}',)
        """
        return (self.close,) if self.stop_after is None else self.stop_after

    @classmethod
    def named(cls, name: str | AnswerFormat) -> AnswerFormat:
        """The format of that name in :data:`ANSWER_FORMATS` (an AnswerFormat is returned as it is)."""
        if isinstance(name, AnswerFormat):
            return name
        if name not in ANSWER_FORMATS:
            raise ValueError(
                f"unknown answer format {name!r}; valid: {sorted(ANSWER_FORMATS)}. "
                "Use 'bracket' for [move] (the default) or 'boxed' for \\boxed{move} as SPIRAL does."
            )
        return ANSWER_FORMATS[name]

    def wrap(self, move: str) -> str:
        return f"{self.open}{move}{self.close}"

    @property
    def reserved(self) -> str:
        """Characters that free text inside an answer (a message, a final answer) may not hold, so that
        the answer's end cannot be misread: the closing mark's and the last of the opening mark's.

        >>> AnswerFormat.named("boxed").reserved
        '{}'
        """
        return "".join(sorted(set(self.close) | {self.open[-1]}))

    def choice_grammar(self, moves: Iterable[str]) -> ActionGrammar:
        """The grammar of a finite set of moves, each written in this format.

        >>> AnswerFormat.named("bracket").choice_grammar(["check", "bet"]).choices
        ('[check]', '[bet]')
        """
        return ActionGrammar.choice(self.wrap(m) for m in moves)

    def lark_grammar(self, move_rules: str) -> ActionGrammar:
        """The grammar of one answer in this format whose content is the rule ``move`` of ``move_rules``
        (Lark rules and terminals; see :class:`ActionGrammar`)."""
        return ActionGrammar.lark(_lark_start(self.open, self.close) + move_rules)

    def extract(self, text: str) -> str | None:
        """The content of the last complete answer marker in ``text``, or ``None``."""
        end = text.rfind(self.close)
        while end != -1:
            start = text.rfind(self.open, 0, end)
            if start != -1:
                content = text[start + len(self.open) : end]
                # An answer never spans another marker: "[a] b]" holds the answer "a".
                if self.close not in content:
                    return content
            end = text.rfind(self.close, 0, end)
        return None


@functools.lru_cache(maxsize=64)
def _lark_start(open_mark: str, close_mark: str) -> str:
    return f"start: {lark_literal(open_mark)} move {lark_literal(close_mark)}\n"


ANSWER_FORMATS: Mapping[str, AnswerFormat] = MappingProxyType(
    {
        "bracket": AnswerFormat("bracket", "[", "]", "Write your move in square brackets, e.g. {example}."),
        "boxed": AnswerFormat("boxed", "\\boxed{", "}", "Write your move inside \\boxed{{}}, e.g. {example}."),
    }
)
"""The named answer formats (``answer_format="boxed"``, ``--answer-format boxed``)."""

# --------------------------------------------------------------------------- action grammars


class GrammarKind(enum.StrEnum):
    """The four ways an :class:`ActionGrammar` states a language."""

    CHOICE = "choice"
    """A finite set of strings (a game's legal answers)."""
    REGEX = "regex"
    """A regular expression matched against the whole reply (Rust ``regex`` syntax, as the engines use)."""
    JSON_SCHEMA = "json_schema"
    """A JSON schema of a JSON reply (a tool call in OpenAI function-calling form:
    ``{"name": ..., "arguments": {...}}``)."""
    LARK = "lark"
    """A context-free grammar in Lark syntax as llguidance reads it: rule ``start`` derives the reply;
    terminals may be ``"literals"`` or ``/regexes/``."""


@dataclass(frozen=True, slots=True)
class ActionGrammar:
    """The language of the valid replies at one turn: ``info[ACTION_GRAMMAR]``.

    Immutable and hashable, so engines can cache what they compile from it. Build one with
    :meth:`choice`, :meth:`regex`, :meth:`json_schema` or :meth:`lark` (or, from an answer
    format, :meth:`AnswerFormat.choice_grammar` / :meth:`AnswerFormat.lark_grammar`).
    :mod:`gym_reason.grammar` compiles it for llguidance, tests membership and samples from it.

    >>> g = ActionGrammar.choice(["[check]", "[bet]"])
    >>> g.kind, g.choices
    (<GrammarKind.CHOICE: 'choice'>, ('[check]', '[bet]'))
    >>> ActionGrammar.json_schema({"type": "integer"}).source
    '{"type": "integer"}'
    """

    kind: GrammarKind
    choices: tuple[str, ...] = ()
    """The strings of a ``choice`` grammar, in the env's order; empty for the other kinds."""
    source: str = ""
    """The regular expression, the JSON schema (as JSON text, key order kept) or the Lark grammar; empty for ``choice``."""

    def __post_init__(self) -> None:
        if self.kind is GrammarKind.CHOICE:
            if not self.choices or not all(isinstance(c, str) for c in self.choices) or self.source:
                raise ValueError(
                    f"a choice grammar needs a non-empty tuple of strings and no source, got choices={self.choices!r}, "
                    f"source={self.source!r}; build it with ActionGrammar.choice([...])"
                )
        elif not isinstance(self.source, str) or not self.source or self.choices:
            raise ValueError(
                f"a {self.kind} grammar needs a non-empty source string and no choices, got source={self.source!r}; "
                f"build it with ActionGrammar.{self.kind}(...)"
            )

    def __deepcopy__(self, memo: dict) -> ActionGrammar:
        return self  # immutable: env snapshots (deep copies of info) share it

    @classmethod
    def choice(cls, answers: Iterable[str]) -> ActionGrammar:
        return cls(GrammarKind.CHOICE, choices=tuple(answers))

    @classmethod
    def regex(cls, pattern: str) -> ActionGrammar:
        return cls(GrammarKind.REGEX, source=pattern)

    @classmethod
    def json_schema(cls, schema: Mapping | str) -> ActionGrammar:
        # Key order is kept: engines emit an object's properties in the schema's order.
        text = schema if isinstance(schema, str) else json.dumps(schema)
        json.loads(text)  # a schema that is not JSON fails here, not in the engine
        return cls(GrammarKind.JSON_SCHEMA, source=text)

    @classmethod
    def lark(cls, grammar: str) -> ActionGrammar:
        return cls(GrammarKind.LARK, source=grammar)


def lark_literal(text: str) -> str:
    """``text`` as a Lark string literal (JSON escapes).

    >>> print(lark_literal("\\boxed{"))
    "\\boxed{"
    """
    return json.dumps(text, ensure_ascii=False)


_NOT_WORD = "\\x{0}-\\x{20}\\x{7F}-\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
# Control characters and every character str.split() treats as whitespace (\x1c-\x1f among them).


def word_char_regex(excluded: str = "") -> str:
    """A regex character class of the printable characters outside ``excluded``: no control character,
    nothing ``str.split()`` treats as whitespace (Rust ``regex`` syntax, as the grammar engines read it)."""
    return "[^" + _NOT_WORD + "".join(f"\\x{{{ord(c):X}}}" for c in excluded) + "]"


def text_regex(excluded: str = "") -> str:
    """A regex of non-empty free text that reads back unchanged after whitespace is normalised:
    words of :func:`word_char_regex` characters joined by single spaces."""
    word = word_char_regex(excluded) + "+"
    return f"{word}( {word})*"


def regex_literal(text: str) -> str:
    """A regex that matches exactly ``text``: every character but ASCII letters and digits escaped.

    >>> print(regex_literal("[a]"))
    \\x{5B}a\\x{5D}
    """
    return "".join(c if c.isascii() and c.isalnum() else f"\\x{{{ord(c):X}}}" for c in text)


_SPACES = re.compile(r"\s+")


def normalize_move(text: str) -> str:
    """Canonical comparison form of a move: trimmed, case-folded, single spaces.

    >>> normalize_move("  Call\\n")
    'call'
    """
    return _SPACES.sub(" ", text).strip().casefold()


# --------------------------------------------------------------------------- text spaces

TEXT_CHARSET: str = (
    string.ascii_letters
    + string.digits
    + string.punctuation
    + " \t\n"
    # Latin-1 letters and signs, typographic punctuation, arrows, box drawing,
    # card suits and chess pieces: what text boards and game messages use.
    + "".join(chr(c) for c in range(0xA0, 0x100))
    + "".join(chr(c) for c in range(0x2010, 0x2028))
    + "".join(chr(c) for c in range(0x2190, 0x21FF))
    + "".join(chr(c) for c in range(0x2500, 0x2600))
    + "".join(chr(c) for c in range(0x2654, 0x2670))
)
"""Every character an observation may contain."""

_CHARSET = frozenset(TEXT_CHARSET)

MAX_TEXT_LENGTH = 1_000_000
"""Upper bound on the length of an observation or action in a :func:`text_space`."""


def text_space(max_length: int = MAX_TEXT_LENGTH) -> spaces.Text:
    """The observation/action space of every gym-reason env: a new space with its own generator.

    Building a ``Text`` space indexes its charset (a third of a millisecond, most of the cost of
    making an env), so this copies a prototype built once; the copies share only its read-only
    character tables.
    """
    return copy.copy(_text_space_prototype(max_length))


@functools.cache
def _text_space_prototype(max_length: int) -> spaces.Text:
    return spaces.Text(max_length=max_length, min_length=0, charset=TEXT_CHARSET)


def to_charset(text: str) -> str:
    r"""``text`` with every character outside :data:`TEXT_CHARSET` escaped (``\uXXXX``).

    Use it on any model-written text that an observation repeats.

    >>> to_charset("caf\u00e9 \u2603")
    'café \\u2603'
    """
    if _CHARSET.issuperset(text):
        return text
    return "".join(c if c in _CHARSET else c.encode("unicode_escape").decode("ascii") for c in text)


def derive_seed(*parts: int) -> int:
    """A 31-bit seed from integers, stable across processes and runs (unlike ``hash``).

    Use it to give each consumer its own random stream: an env and an agent seeded with
    the same number draw the same sequence, which correlates the agent's dice with the deal.

    >>> derive_seed(0, 1) == derive_seed(0, 1), derive_seed(0, 1) == derive_seed(1, 0)
    (True, False)
    """
    value = 0xCBF29CE484222325
    for part in parts:
        value = ((value ^ (part & 0xFFFFFFFFFFFFFFFF)) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        value ^= value >> 29
    return value % 2**31
