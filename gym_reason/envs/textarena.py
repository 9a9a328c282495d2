"""Any installed TextArena game as a gym-reason multi-agent text env.

:class:`TextArenaEnv` wraps one TextArena env id (``KuhnPoker-v0``, ``ConnectFour-v0``,
``LiarsDice-v0``, ...) in a PettingZoo :class:`~pettingzoo.AECEnv` that follows
:mod:`gym_reason.core`; ``gym_reason.make("textarena/ConnectFour-v0")`` builds one.
TextArena is an optional extra (``pip install "gym-reason[textarena]"``) and is imported
only when such an env is made.

What the adapter adds on top of TextArena, and why:

* **Observations** are what TextArena's own observation wrapper for that id renders
  (its LLM wrapper for most games: the whole message history of the player), but every
  episode starts from a fresh deep copy of the env and its wrappers. TextArena's
  wrappers keep their history across ``reset()``, so a reused TextArena env grows its
  prompt every episode; some games (Kuhn Poker's deck) also keep state across resets.
  Every agent can be observed at any time, not only the one to move. Model text that
  TextArena echoes to the other players is clipped, so a huge answer cannot blow up
  anyone's prompt, and everything passes through :func:`~gym_reason.core.to_charset`.
* **Determinism.** TextArena seeds and draws from the *process-global* ``random``
  module (and a few games from ``numpy.random``), in ``reset()`` and during play.
  The adapter seeds TextArena with a seed drawn from its own generator and runs every
  TextArena call on a private copy of those global generator states, saved and
  restored around the call: the same seed and actions give the same transcript
  whatever else the process does with ``random``, and the caller's ``random.getstate()``
  is never changed. The swap is not thread-safe: do not use ``random`` from another
  thread while a TextArena env steps.
* **Invalid moves** are TextArena's own (each game decides, with its error allowance:
  a player who errs may usually try once more, and loses on the next error). The
  adapter reports them as ``info[INVALID_ACTION]`` and, when they end the game, as
  ``Outcome.FORFEIT`` for the offender. An exception TextArena raises on strange model
  text becomes an invalid move of that player, never an error of the caller.
* **No action grammar** (``info[ACTION_GRAMMAR]`` is absent; the checker reports ``n/a``).
  TextArena's only shared format is "a move in square brackets"; which moves are legal, and
  how the bracketed text is read, is each game's own code (a regex per game, often only
  checked against the state after the move is taken, with no list of legal moves to read).
  A grammar of any bracketed text would break the contract's promise that every string of it
  is a valid move, so none is declared rather than a wrong one; the native games of
  :mod:`gym_reason.envs.games` (Kuhn Poker, Tic-Tac-Toe, Liar's Dice, ...) declare theirs.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import importlib
import inspect
import math
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any, ClassVar

import numpy as np

from gym_reason.core import (
    INVALID_ACTION,
    MAX_TEXT_LENGTH,
    PARSED_ACTION,
    STATE_KEY,
    Outcome,
    normalize_move,
    to_charset,
)
from gym_reason.envs.aec import TextAECEnv, outcome_of

INSTALL_HINT = 'pip install "gym-reason[textarena]"'

TEXTARENA_INFO = "textarena_game_info"
"""Info key (this env's own): TextArena's end-of-game record for the agent (role, reason, ...)."""

ACTION_INSTRUCTION = (
    "Answer with exactly one move in square brackets, as the rules above describe "
    "(e.g. [col 3] or [bet]); TextArena reads the bracketed move from your text."
)

_DEFAULT_PLAYER_COUNTS = (2, 1, 3, 4, 5, 6, 7, 8)  # 2 first: most TextArena games are duels
_SEED_BOUND = 2**32  # numpy's global generator takes seeds below 2**32
_PARSED_LIMIT = 200
_REASON_LIMIT = 500
_BRACKETED = re.compile(r"\[([^\[\]]*)\]")


def import_textarena() -> ModuleType:
    """The ``textarena`` module, or an ImportError that says how to install it."""
    # Importing textarena draws from the global `random` (one of its dependencies does),
    # so even the first import must not disturb the caller's generator.
    state = random.getstate()
    try:
        return importlib.import_module("textarena")
    except ImportError as exc:
        raise ImportError(
            f"TextArena envs need the optional textarena package, which is not installed: {INSTALL_HINT}"
        ) from exc
    finally:
        random.setstate(state)


def _registry() -> dict[str, Any]:
    return importlib.import_module("textarena.envs.registration").ENV_REGISTRY


def _unknown_id_message(env_id: str, known: list[str]) -> str:
    close = difflib.get_close_matches(env_id, known, n=5, cutoff=0.6)
    lowered = {k.lower(): k for k in known}
    if env_id.lower() in lowered and lowered[env_id.lower()] not in close:
        close.insert(0, lowered[env_id.lower()])
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return (
        f"unknown TextArena env id {env_id!r}.{hint} TextArena registers {len(known)} ids; "
        "list them with `textarena.envs.registration.ENV_REGISTRY` and use them as 'textarena/<id>'."
    )


class _GlobalRandom:
    """A private copy of the process-global generators (``random`` and ``numpy.random``) for TextArena."""

    def __init__(self, seed: int) -> None:
        self._py = random.Random(seed).getstate()
        self._np = np.random.RandomState(seed).get_state()

    @contextmanager
    def active(self) -> Iterator[None]:
        """Run the block with the global generators set to this copy, then give the caller's back."""
        saved_py = random.getstate()
        saved_np = np.random.get_state()
        random.setstate(self._py)
        np.random.set_state(self._np)
        try:
            yield
        finally:
            self._py = random.getstate()
            self._np = np.random.get_state()
            random.setstate(saved_py)
            np.random.set_state(saved_np)


def _clip(text: str, limit: int) -> str:
    """``text`` shortened to about ``limit`` characters, keeping its start and its end."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} ...({len(text) - 2 * half} characters omitted)... {text[-half:]}"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip(" *")]
    return _clip(lines[0].rstrip("."), _REASON_LIMIT) if lines else ""


def _as_number(value: Any, default: float) -> float:
    """``value`` as a finite float, else ``default``.

    Some TextArena games pass ``set_invalid_move`` its arguments in the wrong order, so a
    reward can be the reason string.
    """
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return default
    return number if math.isfinite(number) else default


def _result(r: float) -> str:
    return f"{'+' if r > 0 else ''}{r:g}"


def _parsed_move(action: str) -> str:
    """Best guess of the move TextArena read; it does not report it.

    The bracketed move when the answer holds exactly one distinct one, otherwise the
    whole answer (free-text games such as negotiations read the whole message).
    """
    moves = {normalize_move(m) for m in _BRACKETED.findall(action)}
    if len(moves) == 1:
        return moves.pop()
    return normalize_move(action[: _PARSED_LIMIT * 4])[:_PARSED_LIMIT]


class TextArenaEnv(TextAECEnv):
    """A TextArena game as a text env: agents ``player_0`` .. ``player_{n-1}``.

    Args:
        env_id: a TextArena env id, e.g. ``"ConnectFour-v0"`` (the id decides the
            observation wrapper too: ``-raw`` ids show the plain message history).
        num_players: seats; default 2, or the smallest count the game accepts.
        max_turns: answers (valid or not) after which the episode is truncated and
            scored as a draw, when TextArena has not ended the game before.
        render_mode: ``None``, ``"ansi"`` (``render()`` returns the board) or ``"human"`` (prints it).
        max_action_chars: longer answers reach TextArena shortened to their first and last
            ``max_action_chars // 2`` characters (``None``: never). Some TextArena parsers
            take time quadratic in the answer's length (ConnectFour's regex, which starts
            with ``.*``, needs seconds for 100k characters); start and end keep the move
            wherever the game looks for it (some read the first bracketed move, some the last).
        env_kwargs: keyword arguments for the TextArena env, for names that clash with
            the ones above (TextArena's own ``max_turns``, say).
        **kwargs: further keyword arguments for the TextArena env (``num_rows=8``).
    """

    echo_limit: int = 4_000
    """Characters of one answer that the other players see (TextArena shows them the whole answer)."""
    message_limit: int = 20_000
    """Characters of any other single TextArena message kept in an observation."""

    def __init__(
        self,
        env_id: str,
        *,
        num_players: int | None = None,
        max_turns: int = 100,
        render_mode: str | None = None,
        max_action_chars: int | None = 8_000,
        env_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(env_id, str):
            raise TypeError(f"env_id must be a TextArena env id such as 'ConnectFour-v0', got {env_id!r}")
        super().__init__(
            max_turns=max_turns, render_mode=render_mode, name=f"textarena/{env_id}", instruction=ACTION_INSTRUCTION
        )
        if num_players is not None and (
            not isinstance(num_players, int) or isinstance(num_players, bool) or num_players < 1
        ):
            raise ValueError(f"num_players must be a positive integer or None, got {num_players!r}")
        if max_action_chars is not None and (
            not isinstance(max_action_chars, int) or isinstance(max_action_chars, bool) or max_action_chars < 2
        ):
            raise ValueError(f"max_action_chars must be an integer >= 2 or None, got {max_action_chars!r}")
        ta = import_textarena()
        registry = _registry()
        if env_id not in registry:
            raise KeyError(_unknown_id_message(env_id, sorted(registry)))
        self._ta = ta
        self.env_id = env_id
        self.max_action_chars = max_action_chars
        self.env_kwargs = {**(env_kwargs or {}), **kwargs}

        # Game modules and constructors may draw randomness (word lists, puzzles): keep that
        # reproducible and away from the caller's generator.
        with _GlobalRandom(0).active():
            entry_point = self._entry_point(registry[env_id])
            self._check_env_kwargs(entry_point)
            try:
                self._pristine = ta.make(env_id, **self.env_kwargs)
            except Exception as exc:
                raise self._build_error(exc) from exc
        try:
            copy.deepcopy(self._pristine)
            self._copyable = True
        except Exception:  # an env holding a client or a lock: rebuild it for every episode instead
            self._copyable = False
        self.num_players = self._probe_players(num_players)
        self._set_players(self.num_players)
        self._chain: Any = None  # TextArena env with its wrappers; set by reset()
        self._raw: Any = None
        self._obs_wrappers: list[Any] = []

    def _entry_point(self, spec: Any) -> Any:
        entry = spec.entry_point
        if not isinstance(entry, str):
            return entry
        module_name, _, attr = entry.partition(":")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except Exception as exc:
            raise self._build_error(exc) from exc

    def _build_error(self, exc: Exception) -> RuntimeError:
        # Many TextArena games need more than TextArena installs (NLTK corpora, API keys,
        # data files) or do not import on every Python version: say whose failure it is.
        return RuntimeError(
            f"TextArena could not build {self.env_id!r}: {type(exc).__name__}: {_first_line(exc)}. "
            "This is TextArena's own failure (a missing dependency, data file or API key, "
            "or a bug in that game), not gym-reason's."
        )

    def _check_env_kwargs(self, entry: Any) -> None:
        try:
            params = inspect.signature(entry).parameters
        except (TypeError, ValueError):
            return
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return
        valid = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        unknown = sorted(set(self.env_kwargs) - set(valid))
        if unknown:
            ours = ["num_players", "max_turns", "render_mode", "max_action_chars", "env_kwargs"]
            raise TypeError(
                f"textarena/{self.env_id} got unknown keyword argument(s) {unknown}; "
                f"valid for the TextArena env: {valid}, for the adapter: {ours}. "
                "Remove them or check the spelling."
            )

    def _new_chain(self) -> Any:
        if self._copyable:
            return copy.deepcopy(self._pristine)
        return self._ta.make(self.env_id, **self.env_kwargs)

    def _probe_players(self, requested: int | None) -> int:
        """The player count: ``requested`` if the game accepts it, else the first of the defaults it does."""
        candidates = (requested,) if requested is not None else _DEFAULT_PLAYER_COUNTS
        errors: dict[int, Exception] = {}
        for n in candidates:
            try:
                with _GlobalRandom(0).active():
                    self._new_chain().reset(num_players=n, seed=0)
            except Exception as exc:  # TextArena says "wrong player count" with asserts and ValueErrors alike
                errors[n] = exc
                continue
            return n
        if requested is not None:
            raise ValueError(
                f"TextArena env {self.env_id!r} cannot be played by num_players={requested} "
                f"({errors[requested]!r}); pass a player count the game accepts"
            ) from errors[requested]
        raise ValueError(
            f"TextArena env {self.env_id!r} could not be reset with any of {list(candidates)} players "
            f"(with 2: {errors[2]!r}); pass num_players=..., "
            "or the env may be broken in this TextArena version"
        ) from errors[2]

    # --- episode -----------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        self._begin_episode(seed, options)
        ta_seed = self._rng.randrange(_SEED_BOUND)
        self._globals = _GlobalRandom(ta_seed)
        with self._globals.active():
            # A fresh copy each episode: TextArena's wrappers (and some games) keep state across reset().
            chain = self._new_chain()
            chain.reset(num_players=self.num_players, seed=ta_seed)
        self._chain = chain
        self._unwrap()
        self._views = [""] * self.num_players
        self._history: list[list[tuple[int, str, Any]]] = [[] for _ in range(self.num_players)]
        self._wrappers_ok = True
        self._result_lines: dict[str, str] = {}
        with self._globals.active():
            self._sync()
        self._select(self._raw.state.current_player_id)

    def _unwrap(self) -> None:
        """Find the bare TextArena env and its observation wrappers (innermost first) in the chain."""
        wrappers = []
        env = self._chain
        while isinstance(env, self._ta.Wrapper):
            wrappers.append(env)
            env = env.env
        self._raw = env
        self._obs_wrappers = [w for w in reversed(wrappers) if isinstance(w, self._ta.ObservationWrapper)]

    def _sync(self) -> None:
        """Move every player's new TextArena messages into its rendered view."""
        raw = self._raw
        state = raw.state
        pending: dict[int, list[Any]] = {pid: [] for pid in range(self.num_players)}
        if not state.done:
            # The game's own get_observation for the player to move: some games add a board to it.
            try:
                pid, messages = raw.get_observation()
                pending[pid].extend(messages)
            except Exception:
                pass
        # Other players' messages are drained too, so any agent can be observed at any time.
        for pid in range(self.num_players):
            queued = state.observations.get(pid)
            if queued:
                pending[pid].extend(queued)
                state.observations[pid] = []
        for pid, messages in pending.items():
            if messages:
                self._views[pid] = self._render(pid, [self._clean(m) for m in messages])

    def _clean(self, message: Any) -> tuple[int, str, Any]:
        ta = self._ta
        if isinstance(message, tuple) and len(message) == 3:
            sender, text, kind = message
        else:  # not TextArena's (sender, text, type) shape: show it as a game message
            sender, text, kind = ta.GAME_ID, message, ta.ObservationType.GAME_MESSAGE
        limit = self.echo_limit if kind == ta.ObservationType.PLAYER_ACTION else self.message_limit
        return sender, _clip(to_charset(str(text)), limit), kind

    def _render(self, pid: int, messages: list[tuple[int, str, Any]]) -> str:
        self._history[pid].extend(messages)
        if self._obs_wrappers and self._wrappers_ok:
            try:
                view: Any = messages
                for wrapper in self._obs_wrappers:
                    view = wrapper.observation(pid, view)
                if isinstance(view, str):
                    return view
            except Exception:
                pass
            # A wrapper that failed once has lost messages; render the plain history from now on.
            self._wrappers_ok = False
        return self._plain_history(pid)

    def _plain_history(self, pid: int) -> str:
        """The history as TextArena's LLMObservationWrapper writes it."""
        roles = getattr(self._raw.state, "role_mapping", None) or {}
        lines = []
        for sender, text, _ in self._history[pid]:
            name = "GAME" if sender == self._ta.GAME_ID else roles.get(sender, f"Player {sender}")
            lines.append(f"\n[{name}] {text}")
        return "".join(lines)

    def _select(self, player: int) -> None:
        agent = self.possible_agents[player]
        self.agent_selection = agent
        self._obs_cache = {}
        digest = hashlib.blake2b(self._views[player].encode("utf-8", "surrogatepass"), digest_size=16)
        self.infos[agent][STATE_KEY] = (agent, digest.hexdigest())

    def _play(self, agent: str, player: int, action: str) -> None:
        state = self._raw.state
        errors_before = getattr(state, "error_count", 0)
        flagged_before = self._invalid_flags()
        crashed = False
        limit = self.max_action_chars
        sent = action if limit is None else _clip(action, limit)
        with self._globals.active(), self._no_spin(player):
            try:
                self._chain.step(sent)
            except TimeoutError:
                raise  # the caller's own time limit (an alarm handler), never the game's parser
            except Exception:  # the game choked on the text: an invalid move, not the caller's error
                crashed = not self._recover(player)
            self._sync()
        state = self._raw.state
        newly_flagged = self._invalid_flags() - flagged_before
        invalid = crashed or player in newly_flagged or getattr(state, "error_count", 0) > errors_before
        info = self.infos[agent]
        info[INVALID_ACTION] = invalid
        info[PARSED_ACTION] = None if invalid else _parsed_move(action)
        if crashed:
            self._forfeit(agent)
        elif state.done:
            self._end_from_textarena()
        elif self._turn >= self.max_turns:
            self._truncate()
        else:
            self._select(state.current_player_id)

    @contextmanager
    def _no_spin(self, player: int) -> Iterator[None]:
        """Keep the last player standing from being eliminated during this step.

        ``FFAMultiPlayerState.step`` looks for the next player not eliminated and loops
        forever when there is none; games that do not end when all but one player are
        eliminated (PublicGoodsGame) reach that loop when the last one errs too. Here that
        player only gets TextArena's warning instead, until the game or the turn limit ends.
        """
        state = self._raw.state
        others = set(range(self.num_players)) - {player}
        if not (isinstance(state, self._ta.FFAMultiPlayerState) and others <= set(state.elimination_order)):
            yield
            return
        allowance = state.error_allowance
        state.error_allowance = state.error_count + 1
        try:
            yield
        finally:
            state.error_allowance = allowance

    def _invalid_flags(self) -> set[int]:
        game_info = getattr(self._raw.state, "game_info", None) or {}
        return {pid for pid, record in game_info.items() if isinstance(record, dict) and record.get("invalid_move")}

    def _recover(self, player: int) -> bool:
        """Score a crashed step as TextArena scores invalid moves; ``False`` when that is impossible."""
        state = self._raw.state
        if state.done or state.current_player_id != player or not hasattr(state, "set_invalid_move"):
            return False  # the crash came after the game moved on: nothing sound to resume from
        try:
            eliminated = state.set_invalid_move("the game could not process this answer.")
            if eliminated is True and not state.done:
                return False  # multi-player states leave eliminations to the game, which just crashed
            state.step()
        except Exception:
            return False
        return True

    def _end_from_textarena(self) -> None:
        state = self._raw.state
        returns = state.rewards or {}
        game_info = getattr(state, "game_info", None) or {}
        flagged = self._invalid_flags()
        for pid, agent in enumerate(self.possible_agents):
            # A garbled reward only comes from the invalid-move path: score it as the offender's loss.
            reward = _as_number(returns.get(pid, 0.0), -1.0 if pid in flagged else 0.0)
            record = game_info.get(pid) if isinstance(game_info.get(pid), dict) else {}
            outcome = Outcome.FORFEIT if pid in flagged and reward <= 0 else outcome_of(reward)
            reason = _clip(str(record.get("reason") or "").strip(), _REASON_LIMIT)
            line = f"The game is over{': ' + reason if reason else '.'} Your result: {_result(reward)}."
            metrics = {"turn_count": _as_number(record.get("turn_count"), 0.0)}
            info = self._terminate(pid, reward, outcome, "game", metrics)
            info[TEXTARENA_INFO] = copy.deepcopy(record)
            self._result_lines[agent] = line
        self._close_episode()

    def _forfeit(self, offender: str) -> None:
        for pid, agent in enumerate(self.possible_agents):
            reward = -1.0 if agent == offender else 1.0
            outcome = Outcome.FORFEIT if agent == offender else Outcome.WIN
            info = self._terminate(pid, reward, outcome, "invalid_move", {})
            info[TEXTARENA_INFO] = {}
            self._result_lines[agent] = (
                f"{offender} made an invalid move the game could not process; the game is over. "
                f"Your result: {_result(reward)}."
            )
        self._close_episode()

    def _truncate(self) -> None:
        super()._truncate()
        for agent in self.possible_agents:
            self.infos[agent][TEXTARENA_INFO] = {}
            self._result_lines[agent] = self._turn_limit_line

    # --- observations ------------------------------------------------------------------------
    def _observation(self, agent: str, player: int) -> str:
        parts = [self._views[player].lstrip("\n")]
        if agent in self._result_lines:
            parts.append(self._result_lines[agent])
        elif agent != self.agent_selection:
            parts.append(f"Waiting for {self.agent_selection} to move.")
        text = to_charset("\n".join(p for p in parts if p))
        # The space's bound: keep the rules at the start and the latest messages at the end.
        return _clip(text, MAX_TEXT_LENGTH - 100)

    def _board(self) -> str:
        try:
            with self._globals.active():
                board = str(self._raw.get_board_str())
        except Exception:  # not every TextArena game draws a board
            board = self.observe(self.agent_selection)
        return to_charset(board)

    # --- snapshots ---------------------------------------------------------------------------
    _SNAPSHOT_FIELDS: ClassVar[tuple[str, ...]] = (
        *TextAECEnv._SNAPSHOT_FIELDS, "_chain", "_globals", "_views", "_history", "_wrappers_ok", "_result_lines",
    )  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        """A copy of the whole episode state, TextArena's included, for :meth:`restore`."""
        if self._started and not self._copyable:
            raise NotImplementedError(f"TextArena env {self.env_id!r} cannot be deep-copied, so it has no snapshots")
        return super().snapshot()

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Return to a state taken by :meth:`snapshot` (the snapshot stays usable)."""
        super().restore(snapshot)
        self._unwrap()


def make_textarena_env(name: str, **kwargs: Any) -> TextArenaEnv:
    """Build ``textarena/<name>``: the TextArena env ``name`` as a :class:`TextArenaEnv`."""
    return TextArenaEnv(name, **kwargs)
