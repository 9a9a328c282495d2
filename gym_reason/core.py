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

The ``info`` keys below are the whole vocabulary; an env may add its own keys,
but never gives one of these names another meaning.
"""

from __future__ import annotations

import copy
import enum
import functools
import re
import string
from collections.abc import Mapping
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


ANSWER_FORMATS: Mapping[str, AnswerFormat] = MappingProxyType(
    {
        "bracket": AnswerFormat("bracket", "[", "]", "Write your move in square brackets, e.g. {example}."),
        "boxed": AnswerFormat("boxed", "\\boxed{", "}", "Write your move inside \\boxed{{}}, e.g. {example}."),
    }
)
"""The named answer formats (``answer_format="boxed"``, ``--answer-format boxed``)."""

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
