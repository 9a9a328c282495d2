"""Where environments are registered and made.

``register(id=..., entry_point=...)`` adds an env under a versioned id such as
``gym_reason/KuhnPoker-v0`` (optionally with a short ``alias`` for the CLI);
``make(id_or_alias, **kwargs)`` builds one; ``list_envs()`` lists them.
Single-agent tasks are registered in Gymnasium's registry too, so
``gymnasium.make("gym_reason/...")`` works.

Third-party packages add envs without touching this repo: declare an entry point
in the ``gym_reason.envs`` group whose object is a function that calls
:func:`register` (or a module that does so on import)::

    [project.entry-points."gym_reason.envs"]
    my_games = "my_package.envs:register_all"

A whole family of ids can be served by one factory (``textarena/<TextArena id>``)
through :func:`register_namespace`.

An env registered by a module of the user's own is reached, as with Gymnasium's
``gymnasium.make("module:Env-v0")``, by naming the module before the id:
``make("my_games:my_games/Nim-v0")`` imports ``my_games`` (which calls
:func:`register`) and then makes ``my_games/Nim-v0``.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import inspect
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import gymnasium
from pettingzoo import AECEnv, ParallelEnv

ENTRY_POINT_GROUP = "gym_reason.envs"
_ID = re.compile(r"^(?:[A-Za-z0-9_.-]+/)?[A-Za-z0-9_.-]+-v\d+$")
_KINDS = ("game", "task")


@dataclass(frozen=True)
class EnvSpec:
    """Everything needed to build one registered env."""

    id: str
    entry_point: str | Callable[..., Any]
    kind: str
    """``"game"`` (multi-agent, PettingZoo) or ``"task"`` (single-agent, Gymnasium)."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    alias: str | None = None
    description: str = ""
    players: int = 1
    training: dict[str, Any] = field(default_factory=dict)
    """Self-play/train config values a run of this env alone starts from (flags and config files override them)."""

    def load(self) -> Callable[..., Any]:
        return _load(self.entry_point)

    def make(self, **kwargs: Any) -> Any:
        factory = self.load()
        merged = {**self.kwargs, **kwargs}
        _check_kwargs(self.id, factory, merged)
        return factory(**merged)


_REGISTRY: dict[str, EnvSpec] = {}
_ALIASES: dict[str, str] = {}
_NAMESPACES: dict[str, tuple[Callable[..., Any], str]] = {}
_plugins_loaded = False


def _load(entry_point: str | Callable[..., Any]) -> Callable[..., Any]:
    if callable(entry_point):
        return entry_point
    module_name, _, attr = entry_point.partition(":")
    if not attr:
        raise ValueError(f"entry_point {entry_point!r} must look like 'package.module:ClassOrFunction'")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def _infer_kind(factory: Callable[..., Any]) -> tuple[str | None, int | None]:
    """Kind and player count of a class or of a factory that declares them (``env_kind``/``env_players``)."""
    if inspect.isclass(factory):
        if issubclass(factory, (AECEnv, ParallelEnv)):
            return "game", None
        if issubclass(factory, gymnasium.Env):
            return "task", 1
    return getattr(factory, "env_kind", None), getattr(factory, "env_players", None)


def register(
    id: str,
    entry_point: str | Callable[..., Any],
    *,
    kwargs: dict[str, Any] | None = None,
    alias: str | None = None,
    description: str = "",
    kind: str | None = None,
    players: int | None = None,
    training: dict[str, Any] | None = None,
) -> EnvSpec:
    """Register an env under a versioned ``id`` (``namespace/Name-v0``).

    ``entry_point`` is a class, a factory, or ``"module:attr"`` naming one; it is
    called with ``kwargs`` merged with those given to :func:`make`. ``kind``
    (``"game"`` or ``"task"``) and ``players`` are read from the class when it is a
    PettingZoo or Gymnasium env, or from a factory's ``env_kind``/``env_players``
    attributes (as :meth:`GameEnv.factory <gym_reason.envs.game_env.GameEnv.factory>` sets);
    otherwise pass them. ``training`` holds config values (:class:`~gym_reason.trainer.config.SelfPlayConfig`
    keys) that a self-play or train run of this env alone uses unless the run's config file or flags set them.
    """
    if not isinstance(id, str) or not _ID.match(id):
        raise ValueError(
            f"env id {id!r} is not versioned; ids look like 'namespace/Name-v0' (e.g. 'gym_reason/KuhnPoker-v0')"
        )
    if id in _REGISTRY:
        raise ValueError(f"env id {id!r} is already registered; bump its version (e.g. -v1) or pick another id")
    if alias is not None and (alias in _ALIASES or alias in _REGISTRY):
        taken = _ALIASES.get(alias, alias)
        raise ValueError(f"alias {alias!r} is already taken by {taken!r}; choose another alias")
    inferred_kind, inferred_players = _infer_kind(_load(entry_point))
    kind = kind or inferred_kind
    if kind not in _KINDS:
        raise ValueError(
            f"cannot tell whether {entry_point!r} is a game or a task; pass kind='game' (multi-agent PettingZoo env) "
            "or kind='task' (single-agent Gymnasium env) to register()"
        )
    players = players or inferred_players or (1 if kind == "task" else 2)
    spec = EnvSpec(
        id=id, entry_point=entry_point, kind=kind, kwargs=dict(kwargs or {}), alias=alias,
        description=description, players=players, training=dict(training or {}),
    )  # fmt: skip
    _REGISTRY[id] = spec
    if alias is not None:
        _ALIASES[alias] = id
    if kind == "task" and id not in gymnasium.registry:
        gymnasium.register(id=id, entry_point=entry_point, kwargs=dict(kwargs or {}))
    return spec


def register_namespace(namespace: str, factory: Callable[..., Any], description: str) -> None:
    """Serve every id ``namespace/<name>`` with ``factory(name, **kwargs)``."""
    if namespace in _NAMESPACES:
        raise ValueError(f"namespace {namespace!r} is already registered")
    _NAMESPACES[namespace] = (factory, description)


def deregister(id: str) -> None:
    """Remove an env (mainly for tests and notebooks)."""
    spec = _REGISTRY.pop(id, None)
    if spec is None:
        raise KeyError(_unknown_message(id))
    if spec.alias:
        _ALIASES.pop(spec.alias, None)
    if spec.kind == "task":
        gymnasium.registry.pop(id, None)


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            if callable(obj):
                obj()
        except Exception as exc:  # a broken plugin must not take the built-in envs down with it
            warnings.warn(
                f"gym_reason: plugin entry point {ep.name!r} ({ep.value}) failed to load: {exc!r}",
                stacklevel=2,
            )


def _import_prefix(id: str) -> str:
    """``module:env_id`` -> import ``module`` (it registers its envs), return ``env_id``; other ids unchanged."""
    module, sep, rest = id.partition(":")
    if not sep:
        return id
    if not module or not rest:
        raise ValueError(f"env id {id!r} must look like 'module:env_id' (e.g. 'my_games:my_games/Nim-v0') or 'env_id'")
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise ValueError(
            f"cannot import module {module!r} named in env id {id!r} ({exc}); put the module on PYTHONPATH "
            f"(or run from its folder), or give the id alone: {rest!r}"
        ) from None
    return rest


def spec(id: str) -> EnvSpec:
    """The :class:`EnvSpec` of a registered id or alias (or ``module:id``, importing ``module`` first)."""
    _load_plugins()
    id = _import_prefix(id)
    if id in _REGISTRY:
        return _REGISTRY[id]
    if id in _ALIASES:
        return _REGISTRY[_ALIASES[id]]
    raise KeyError(_unknown_message(id))


def resolve_id(id_or_alias: str) -> str:
    """The full id for an id, alias or ``module:id`` (namespace ids pass through)."""
    id_or_alias = _import_prefix(id_or_alias)
    namespace = id_or_alias.split("/", 1)[0] if "/" in id_or_alias else None
    if namespace in _NAMESPACES and id_or_alias not in _REGISTRY:
        return id_or_alias
    return spec(id_or_alias).id


def make(id: str, **kwargs: Any) -> Any:
    """Build the env registered as ``id`` (a versioned id, an alias, or ``module:id`` to import the module
    that registers it first), passing ``kwargs`` on.

    >>> env = make("kuhn_poker")
    >>> env.reset(seed=0); env.agent_selection
    'player_0'
    """
    if not isinstance(id, str):
        raise TypeError(f"env id must be a string such as 'gym_reason/KuhnPoker-v0', got {id!r}")
    _load_plugins()
    id = _import_prefix(id)
    if id in _REGISTRY or id in _ALIASES:
        found = spec(id)
        return _tag(found.make(**kwargs), found.id)
    namespace, sep, name = id.partition("/")
    if sep and namespace in _NAMESPACES:
        return _tag(_NAMESPACES[namespace][0](name, **kwargs), id)
    raise KeyError(_unknown_message(id))


def _tag(env: Any, env_id: str) -> Any:
    """Record the id an env was made from in its (per-instance copy of) ``metadata["env_id"]``."""
    with contextlib.suppress(AttributeError):  # an env whose metadata is read-only keeps it
        env.metadata = {**(getattr(env, "metadata", None) or {}), "env_id": env_id}
    return env


def env_id_of(env: Any, default: str) -> str:
    """The id ``env`` was made from (recorded by :func:`make`), or ``default`` for an env built by hand.

    >>> env_id_of(make("kuhn_poker"), "?")
    'gym_reason/KuhnPoker-v0'
    """
    return (getattr(env, "metadata", None) or {}).get("env_id") or default


def list_envs() -> list[EnvSpec]:
    """Every registered env, built-in and from plugins, sorted by id."""
    _load_plugins()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def namespaces() -> dict[str, str]:
    """Registered id namespaces and what they serve."""
    return {k: d for k, (_, d) in _NAMESPACES.items()}


def _unknown_message(id: str) -> str:
    known = sorted(_REGISTRY) + sorted(_ALIASES)
    close = difflib.get_close_matches(id, known, n=5, cutoff=0.5)
    lowered = {k.lower(): k for k in known}
    if id.lower() in lowered and lowered[id.lower()] not in close:
        close.insert(0, lowered[id.lower()])
    unversioned = [k for k in _REGISTRY if k.rsplit("-v", 1)[0] == id]
    hint = f" Did you mean {', '.join(repr(c) for c in unversioned or close)}?" if unversioned or close else ""
    extra = "".join(f" '{ns}/<name>' ids are served by the {ns} namespace." for ns in _NAMESPACES)
    module = id.split("/", 1)[0] if "/" in id else "my_module"
    own = (
        " An env registered by your own module needs that module imported first: "
        f"'{module}:{id}' (gym_reason.make and the CLI) or the CLI flag --import {module}."
    )
    return f"unknown env id {id!r}.{hint} Run `gym-reason list` to see every env.{extra}{own}"


def _check_kwargs(env_id: str, factory: Callable[..., Any], kwargs: dict[str, Any]) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    params = signature.parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    valid = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise TypeError(
            f"{env_id} got unknown keyword argument(s) {unknown}; valid: {valid}. Remove them or check the spelling."
        )
