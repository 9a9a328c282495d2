"""The agent protocol and the registry of scripted (fixed) opponents.

An agent maps a batch of ``(observation, info)`` pairs to a batch of answers,
one raw text per pair: every backend, from a random bot to a served language
model, is faster batched, and a rollout gathers the pending prompts of many
games into one call.

Agents are named by spec strings (see :func:`make_agent`):
``random``, ``human``, ``fixed:<name>[:key=value...]`` (a scripted opponent of
the env's game, e.g. ``fixed:nash:alpha=0.2``), ``runs/<run-id>`` or ``ckpt:PATH``
(a self-play checkpoint), ``hf:PATH`` (a local transformers model) and
``openai:MODEL@URL`` (an OpenAI-compatible server). Other backends plug into
:data:`AGENT_BACKENDS` with :func:`register_agent_backend`.
"""

from __future__ import annotations

import difflib
import random
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from gym_reason.core import GAME_OBSERVATION, LEGAL_ACTIONS, AnswerFormat

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


class ScriptedAgent:
    """An agent that reads the structured view (``info["game_observation"]``) and picks a move.

    Subclasses implement :meth:`policy`, a distribution over canonical moves; the
    agent samples from it with its own seeded generator and writes the move in the
    env's answer format. Because the distribution is explicit, exact analysis
    (expected values, exploitability) can read it without sampling.
    """

    name = "scripted"

    def __init__(self, answer_format: str | AnswerFormat = "bracket", seed: int | None = None) -> None:
        self.answer_format = AnswerFormat.named(answer_format)
        self.rng = random.Random(seed)

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        """Probability of each canonical move (the keys need not cover every legal move)."""
        raise NotImplementedError

    def legal_moves(self, info: dict[str, Any]) -> list[str]:
        wrapped = info.get(LEGAL_ACTIONS) or []
        return [m for m in (self.answer_format.extract(w) for w in wrapped) if m is not None]

    def act(self, batch: Sequence[Observation]) -> list[str]:
        answers = []
        for _obs, info in batch:
            view = info.get(GAME_OBSERVATION)
            if view is None:
                raise ValueError(
                    f"{self.name} needs info[{GAME_OBSERVATION!r}] (the structured view that gym-reason game envs "
                    "provide); it cannot play this env"
                )
            probs = self.policy(view, self.legal_moves(info))
            answers.append(self.answer_format.wrap(_sample(probs, self.rng)))
        return answers

    def action_probabilities(self, batch: Sequence[Observation]) -> list[dict[str, float]]:
        """The probability of each legal answer (``info["legal_actions"]``), read off :meth:`policy`."""
        out = []
        for _obs, info in batch:
            wrapped = list(info.get(LEGAL_ACTIONS) or [])
            moves = [self.answer_format.extract(w) for w in wrapped]
            probs = self.policy(info[GAME_OBSERVATION], [m for m in moves if m is not None])
            weights = [probs.get(m, 0.0) if m is not None else 0.0 for m in moves]
            total = sum(weights)
            if total <= 0:
                raise ValueError(f"{self.name} gives no probability to any legal move {wrapped}")
            out.append({w: p / total for w, p in zip(wrapped, weights, strict=True)})
        return out


def _sample(probs: dict[str, float], rng: random.Random) -> str:
    items = list(probs.items())
    x = rng.random() * sum(p for _, p in items)
    for move, p in items:
        x -= p
        if x < 0:
            return move
    return next(m for m, p in reversed(items) if p > 0)


# --- fixed opponents: game name -> opponent name -> factory(answer_format, seed, **params) -------
FIXED_AGENTS: dict[str, dict[str, Callable[..., Agent]]] = {}


STRONGEST_FIXED: dict[str, str] = {}
"""Game name -> the fixed opponent that training evaluates against by default."""


def register_fixed_agent(game: str, name: str, factory: Callable[..., Agent], *, strongest: bool = False) -> None:
    """Make ``fixed:<name>`` available for envs of ``game`` (a :attr:`Game.name`).

    ``strongest=True`` marks it as the game's reference opponent for evaluation during training.
    """
    table = FIXED_AGENTS.setdefault(game, {})
    if name in table:
        raise ValueError(f"fixed agent {name!r} is already registered for {game!r}")
    table[name] = factory
    if strongest:
        STRONGEST_FIXED[game] = name


def strongest_fixed_agent(game: str) -> str | None:
    """The spec (``fixed:<name>``) of the game's reference opponent, if it has one."""
    _import_builtin_fixed_agents()
    name = STRONGEST_FIXED.get(game)
    return f"fixed:{name}" if name else None


def fixed_agent_names(game: str) -> list[str]:
    _import_builtin_fixed_agents()
    return sorted(FIXED_AGENTS.get(game, {}))


def _import_builtin_fixed_agents() -> None:
    import gym_reason.agents.fixed  # noqa: F401  (registers the built-in opponents)


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
        raise ValueError(f"unknown agent {spec!r}; valid: {_spec_help(env)}")
    return backend(rest, env, seed)


def _game_name(env: Any) -> str | None:
    game = getattr(env, "game", None)
    return getattr(game, "name", None)


def _make_fixed(rest: str, env: Any, seed: int | None) -> Agent:
    name, *params = rest.split(":") if rest else [""]
    game = _game_name(env)
    valid = fixed_agent_names(game) if game else []
    factory = FIXED_AGENTS.get(game or "", {}).get(name)
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


def _spec_help(env: Any) -> list[str]:
    game = _game_name(env)
    fixed = [f"fixed:{n}" for n in fixed_agent_names(game)] if game else []
    return sorted(AGENT_BACKENDS) + fixed + ["runs/<run-id> (a selfplay run)"]
