"""The agent protocol and agent spec strings.

An agent maps a batch of ``(observation, info)`` pairs to a batch of answers,
one raw text per pair: every backend, from a random bot to a served language
model, is faster batched, and a rollout gathers the pending prompts of many
games into one call.

Agents are named by spec strings (see :func:`make_agent`):
``random``, ``human``, ``fixed:<name>[:key=value...]`` (a bot that the env's game
declares, see :mod:`gym_reason.envs.games.bots`, e.g. ``fixed:nash:alpha=0.2``), ``runs/<run-id>`` or ``ckpt:PATH``
(a self-play checkpoint), ``hf:PATH`` (a local transformers model) and
``openai:MODEL@URL`` (an OpenAI-compatible server). Other backends plug into
:data:`AGENT_BACKENDS` with :func:`register_agent_backend`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from gym_reason.envs.games.bots import ScriptedAgent, game_bots, strongest_bot  # noqa: F401  (ScriptedAgent: re-exported)

Observation = tuple[str, dict[str, Any]]


@runtime_checkable
class Agent(Protocol):
    name: str

    def act(self, batch: Sequence[Observation]) -> list[str]:
        """One raw answer per ``(observation, info)`` pair, in order."""
        ...


class AgentError(RuntimeError):
    """An agent could not answer some observations of a batch (a server that stays down, say).

    Raised by ``act`` after the agent's own retries. ``answers`` holds one entry per
    observation of the batch: the answer where one was obtained, ``None`` where not;
    ``errors`` maps the index of each failed observation to what went wrong. Match
    runners report the games of the failed observations as *failed* (neither won nor
    lost) and go on with the others. A reply that arrives but cannot be parsed is not
    an ``AgentError``: it is an answer, and the env scores it as an invalid move.
    """

    def __init__(self, answers: Sequence[str | None], errors: dict[int, str]) -> None:
        self.answers = list(answers)
        self.errors = dict(errors)
        first = next(iter(self.errors.items()), (None, "no detail"))
        super().__init__(f"{len(self.errors)} of {len(self.answers)} requests failed; first (#{first[0]}): {first[1]}")


# --- fixed opponents: the bots each game declares in its register line (gym_reason.envs.games.bots) ----
def strongest_fixed_agent(game: str) -> str | None:
    """The spec (``fixed:<name>``) of the game's reference opponent, if it has one."""
    name = strongest_bot(game)
    return f"fixed:{name}" if name else None


def fixed_agent_names(game: str) -> list[str]:
    """The names of the fixed opponents of ``game`` (a ``Game.name``), sorted."""
    return sorted(game_bots(game))


# --- spec strings -----------------------------------------------------------------------------
AgentBackend = Callable[[str, Any, int | None], Agent]
"""``backend(rest_of_spec, env, seed) -> Agent``."""
AGENT_BACKENDS: dict[str, AgentBackend] = {}


def register_agent_backend(prefix: str, backend: AgentBackend) -> None:
    AGENT_BACKENDS[prefix] = backend


def make_agent(spec: str, env: Any, seed: int | None = None) -> Agent:
    """Build the agent named by ``spec`` to play ``env`` (an env instance: its game and answer format matter).

    >>> import gym_reason
    >>> agent = make_agent("fixed:nash:alpha=0.2", gym_reason.make("kuhn_poker"), seed=0)
    >>> agent.alpha
    0.2
    """
    if not isinstance(spec, str) or not spec:
        raise ValueError(f"agent spec must be a non-empty string, got {spec!r}; valid: {_spec_help(env)}")
    prefix, _, rest = spec.partition(":")
    if prefix not in AGENT_BACKENDS and prefix != "fixed" and ("/" in spec or spec.startswith(".")):
        prefix, rest = "ckpt", spec  # a path: a self-play run or checkpoint folder
    if prefix == "fixed":
        return _make_fixed(rest, env, seed)
    backend = AGENT_BACKENDS.get(prefix)
    if backend is None:
        valid = _spec_help(env)
        forms = {v.split(" ")[0].split(":")[0]: v.split(" ")[0] for v in valid}  # random -> random, hf -> hf:PATH
        close = [forms[c] for c in difflib.get_close_matches(prefix, list(forms), n=2, cutoff=0.6)]
        hint = f"; did you mean {' or '.join(close)}?" if close else "."
        raise ValueError(f"unknown agent {spec!r}{hint} Valid agents: {', '.join(valid)}")
    return backend(rest, env, seed)


def _game_name(env: Any) -> str | None:
    game = getattr(env, "game", None)
    return getattr(game, "name", None)


def _make_fixed(rest: str, env: Any, seed: int | None) -> Agent:
    name, *params = rest.split(":") if rest else [""]
    game = _game_name(env)
    bots = game_bots(game) if game else {}
    valid = sorted(bots)
    factory = bots.get(name)
    if factory is None:
        close = difflib.get_close_matches(name, valid, n=3)
        hint = f" Did you mean {', '.join('fixed:' + c for c in close)}?" if close else ""
        raise ValueError(
            f"unknown fixed opponent {name!r} for game {game!r}; valid: {['fixed:' + v for v in valid]}.{hint}"
        )
    kwargs = {}
    for param in params:
        key, sep, value = param.partition("=")
        if not sep:
            raise ValueError(f"fixed opponent parameter {param!r} must look like key=value (e.g. fixed:nash:alpha=0.2)")
        kwargs[key] = parse_value(value)
    try:
        return factory(answer_format=env.answer_format, seed=seed, **kwargs)
    except TypeError as exc:
        raise ValueError(f"bad parameters {kwargs} for fixed:{name}: {exc}") from None


def parse_value(text: str) -> Any:
    """A command-line value: ``true``/``false``, an int, a float, or the text itself.

    >>> parse_value("0.2"), parse_value("3"), parse_value("true"), parse_value("nash")
    (0.2, 3, True, 'nash')
    """
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


SPEC_FORMS = {
    "ckpt": "ckpt:PATH (a checkpoint folder)",
    "hf": "hf:PATH (a local transformers model or .gguf file)",
    "openai": "openai:MODEL@URL (an OpenAI-compatible server)",
}
"""How a user writes the backends that take an argument (the others are written bare: ``random``)."""


def _spec_help(env: Any) -> list[str]:
    """The agent specs a user can write for ``env``, in usable form (``hf:PATH``, not ``hf``)."""
    game = _game_name(env)
    fixed = [f"fixed:{n}" for n in fixed_agent_names(game)] if game else []
    backends = [SPEC_FORMS.get(prefix, prefix) for prefix in sorted(AGENT_BACKENDS)]
    return backends + fixed + ["runs/<run-id> (a selfplay run's latest checkpoint)"]
