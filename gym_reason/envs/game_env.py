"""The one adapter from pure rules to a multi-agent text env.

:class:`GameEnv` turns any :class:`~gym_reason.envs.games.base.Game` plus its
text template into a PettingZoo AEC env that follows :mod:`gym_reason.core`
(the bookkeeping every such env shares is :class:`~gym_reason.envs.aec.TextAECEnv`'s):
it renders observations, reads the answer out of the model's raw text, scores
unreadable or illegal answers with the invalid-move rule, samples chance with its
own generator, and truncates at a turn limit. It knows nothing about any particular game.

It is on the hot path of every rollout, so it renders each view once (memoised on the
game's observation keys, with its legal-move line, the usual end-of-game texts and the
exact answers that name a listed move) and does little more per step than the rules do.
"""

from __future__ import annotations

import contextlib
import inspect
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from gym_reason.core import (
    ACTION_GRAMMAR,
    GAME_OBSERVATION,
    INVALID_ACTION,
    LEGAL_ACTIONS,
    PARSED_ACTION,
    REWARD_COMPONENTS,
    ROLE,
    STATE_KEY,
    ActionGrammar,
    AnswerFormat,
    InvalidMoveRule,
    Outcome,
    to_charset,
)
from gym_reason.envs.aec import TextAECEnv, outcome_of
from gym_reason.envs.games.base import CHANCE, Game, State, Template, resolve_chance
from gym_reason.envs.games.bots import BotFactory, declare_bots

_QUOTE_LIMIT = 200  # characters of an invalid answer repeated back in an observation
_MEMO_LIMIT = 100_000  # memoised views per player and memo
_RESULTS_LIMIT = 64  # memoised end-of-game observations per view
_GRAMMAR_LIMIT = 4096  # memoised move grammars (a few kB each) of a game whose moves are not listed
_WAITING = "Waiting for the other player to move."
_plain_observation_key = State.observation_key
_plain_parse_move = State.parse_move


@dataclass(slots=True)
class _View:
    """A player's view at one observation key, rendered once: games revisit the same few positions
    millions of times in training."""

    state_key: str
    """``State.information_state(player)``, shown as ``info[STATE_KEY]`` (the observation key determines it)."""
    data: dict[str, Any]
    """``State.observation(player)``, shown as ``info[GAME_OBSERVATION]``."""
    body: str
    """The rules and the state as text."""
    footer: str
    """What follows the body when the player is to move: its legal moves (if listed) and the instruction."""
    prompt: str
    """``body`` and ``footer``: the observation of the player to move."""
    legal: list[str] | None = None
    """The legal moves that ``footer`` lists, ``None`` until the player is to move here."""
    wrapped: list[str] = field(default_factory=list)
    """``legal`` in the answer format: ``info[LEGAL_ACTIONS]``."""
    answers: dict[str, str] = field(default_factory=dict)
    """Answers that are exactly a listed legal move, and that move: read without parsing."""
    grammar: ActionGrammar | None = None
    """``info[ACTION_GRAMMAR]``: the answers of ``wrapped``, or the game's move grammar in the answer format."""
    results: dict[float | str, str] = field(default_factory=dict)
    """The observation at the usual end of the game, by the player's return (a zero by its repr,
    which keeps its sign)."""
    role: str | None = None
    """``State.role(player)``, shown as ``info[ROLE]`` when the game deals roles."""


class GameEnv(TextAECEnv):
    """A turn-based game as a text env: agents ``player_0`` .. ``player_{n-1}``.

    Args:
        game: the rules.
        template: how the rules and states read (a :class:`~gym_reason.envs.games.base.Template`).
        answer_format: ``"bracket"`` (``[move]``, default) or ``"boxed"`` (``\\boxed{move}``).
        invalid_move: an :class:`~gym_reason.core.InvalidMoveRule` or a preset name
            (``"default"``: offender -1, other +1, game over; ``"spiral"``: -1.5 / +0.5).
        max_turns: moves (valid or not) after which the episode is truncated and scored
            as a draw; defaults to the game's own bound, so only a smaller value truncates.
        render_mode: ``None``, ``"ansi"`` (``render()`` returns the full state) or ``"human"`` (prints it).
    """

    _SNAPSHOT_FIELDS: ClassVar[tuple[str, ...]] = (
        *TextAECEnv._SNAPSHOT_FIELDS, "_notes", "_ending", "_footer", "_answers", "_state",
    )  # fmt: skip

    def __init__(
        self,
        game: Game,
        template: Template,
        *,
        answer_format: str | AnswerFormat = "bracket",
        invalid_move: str | InvalidMoveRule = "default",
        max_turns: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.game = game
        self.template = template
        self.answer_format = AnswerFormat.named(answer_format)
        self.invalid_move = (
            invalid_move if isinstance(invalid_move, InvalidMoveRule) else InvalidMoveRule.named(invalid_move)
        )
        instruction = self.answer_format.instruction.format(example=self.answer_format.wrap("move"))
        super().__init__(
            max_turns=game.max_game_length if max_turns is None else max_turns,
            render_mode=render_mode,
            name=game.name,
            instruction=instruction,
        )
        self._set_players(game.num_players)
        self._rules = [template.rules(game, i) for i in range(game.num_players)]
        self._views = _Views({} for _ in range(game.num_players))  # per player, by observation key
        self._finite = game.finite_actions
        self._footer = instruction
        self._answers: dict[str, str] = {}
        self._grammars: dict[str, ActionGrammar] = {}  # by move rules, for games whose moves are not listed
        self._state: State | None = None  # set by reset()
        self._key_of: Callable[[State, int], Any] = State.observation_key  # set by reset() for its state's class

    @classmethod
    def factory(
        cls,
        game_cls: type[Game],
        template_cls: Callable[[], Template],
        *,
        bots: Mapping[str, BotFactory] | None = None,
        strongest_bot: str | None = None,
    ) -> Callable[..., GameEnv]:
        """An entry point that builds ``GameEnv(game_cls(**game_kwargs), template_cls(), **env_kwargs)``.

        Keyword arguments of ``game_cls`` go to the game, the rest to :class:`GameEnv`;
        its signature lists both, so bad keyword arguments are named with the valid ones.
        ``bots`` declares the game's fixed players (``{name: class}``, played as ``fixed:<name>``)
        and ``strongest_bot`` the one training evaluates against (see :mod:`gym_reason.envs.games.bots`).
        """
        if bots:
            declare_bots(game_cls.name, bots, strongest=strongest_bot)
        elif strongest_bot is not None:
            raise ValueError(f"strongest_bot={strongest_bot!r} names a bot, but {game_cls.name} declares no bots=")
        game_params = [
            p
            for p in inspect.signature(game_cls).parameters.values()
            if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD
        ]
        game_names = {p.name for p in game_params}
        # A game parameter shadows the env's of the same name (max_turns): the game then sets its own
        # length, which the env's default turn limit follows.
        env_params = [
            p for n, p in inspect.signature(cls).parameters.items() if p.kind is p.KEYWORD_ONLY and n not in game_names
        ]

        # Envs made with equal arguments render equal views, so the live ones share one memo of them: a pool
        # of 256 envs in flight renders each view once, not 256 times. The memo goes when its last env does.
        memos: weakref.WeakValueDictionary[tuple, _Views] = weakref.WeakValueDictionary()

        def make_env(**kwargs: Any) -> GameEnv:
            game_kwargs = {k: v for k, v in kwargs.items() if k in game_names}
            env_kwargs = {k: v for k, v in kwargs.items() if k not in game_names}
            env = cls(game_cls(**game_kwargs), template_cls(), **env_kwargs)
            key = tuple(sorted((k, type(v), v) for k, v in kwargs.items()))  # typed: True == 1, yet reads "True"
            with contextlib.suppress(TypeError):  # an unhashable argument: this env keeps its own memo
                env._views = memos.setdefault(key, env._views)
            return env

        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in game_params] + env_params
        make_env.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        make_env.__name__ = f"make_{game_cls.name}_env"
        make_env.__doc__ = f"Build the {game_cls.name} text env ({game_cls.__doc__ or ''})".strip()
        make_env.env_kind = "game"  # type: ignore[attr-defined]
        make_env.env_players = game_cls.num_players  # type: ignore[attr-defined]
        make_env.game_class = game_cls  # type: ignore[attr-defined]
        return make_env

    # --- episode -----------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        self._begin_episode(seed, options)
        state = self.game.new_initial_state()
        resolve_chance(state, self._rng)
        self._start(state)

    def set_state(self, state: State) -> None:
        """Start an episode at ``state``, a decision node of this env's game, so ``last()`` shows what
        the player to move there would see (for exact analysis of text policies, e.g. exploitability).
        The env's random stream is left as it was."""
        player = state.current_player()
        if state.is_terminal() or not 0 <= player < self.game.num_players:
            raise ValueError(
                f"set_state needs a state where a player is to move; player {player} is to move in {state}"
            )
        self._begin_episode(None, None)
        self._start(state.clone())

    def _start(self, state: State) -> None:
        """The episode's state is ``state``, with its player to move."""
        kind = type(state)
        # The observation key of a view; by default the information state, called directly (one call, not two).
        self._key_of = (
            kind.information_state if kind.observation_key is _plain_observation_key else kind.observation_key
        )
        self._notes = [""] * len(self.possible_agents)  # what each player is told about its own last answer
        self._ending = ""
        self._state = state
        self._select(state.current_player())

    def _select(self, player: int) -> None:
        """Make ``player`` the agent to act and fill in its info: its state key, its view (the memo's,
        read-only) and its legal moves (a copy: agents that strike moves off leave the memo alone)."""
        agent = self.possible_agents[player]
        self.agent_selection = agent
        state = self._state
        key = self._key_of(state, player)
        view = self._views[player].get(key) or self._new_view(state, player, key)
        info = self.infos[agent]
        info[STATE_KEY] = view.state_key
        info[GAME_OBSERVATION] = view.data
        if view.role is not None:
            info[ROLE] = view.role
        if self._finite:
            legal = state.legal_actions()
            if view.legal != legal:  # the first time the player is to move at this view
                self._list_moves(view, state, legal)
            info[LEGAL_ACTIONS] = view.wrapped[:]
        elif view.grammar is None:
            view.grammar = self._move_grammar(state)
        info[ACTION_GRAMMAR] = view.grammar
        self._footer = view.footer
        self._answers = view.answers
        self._obs_cache = {} if self._notes[player] else {agent: view.prompt}

    def _move_grammar(self, state: State) -> ActionGrammar:
        """The grammar of a game whose moves are not listed: its move rules in the answer format (memoised on
        the rules text, which repeats across views: a negotiator's holdings change only with a trade)."""
        rules = state.move_grammar(self.answer_format.reserved)
        grammar = self._grammars.get(rules)
        if grammar is not None:
            return grammar
        if rules is None:
            raise TypeError(
                f"{type(state).__name__} lists no moves (Game.finite_actions is False) and its move_grammar() "
                "returned None; override State.move_grammar to return Lark rules with a 'move' rule"
            )
        if len(self._grammars) >= _GRAMMAR_LIMIT:
            self._grammars.clear()
        grammar = self._grammars[rules] = self.answer_format.lark_grammar(rules)
        return grammar

    def _view(self, state: State, player: int) -> _View:
        """The player's view of ``state``, from the memo or rendered now."""
        key = self._key_of(state, player)
        return self._views[player].get(key) or self._new_view(state, player, key)

    def _new_view(self, state: State, player: int, key: Any) -> _View:
        """Render the player's view and memoise it on its observation key ``key``.

        Games revisit the same few positions millions of times in training; the rules contract says
        equal observation keys give equal views and information states, and the checker verifies it.
        """
        data = state.observation(player)
        body = f"{self._rules[player]}\n{self.template.state(data)}"
        view = _View(state.information_state(player), data, body, self._instruction, f"{body}\n{self._instruction}")
        view.role = state.role(player)
        memo = self._views[player]
        if len(memo) >= _MEMO_LIMIT:  # games with huge state spaces gain nothing from a memo; keep it bounded
            memo.clear()
        memo[key] = view
        return view

    def _list_moves(self, view: _View, state: State, legal: list[str]) -> None:
        """Fill in the legal moves of the player to move at ``view``."""
        wrap = self.answer_format.wrap
        view.wrapped = [wrap(m) for m in legal]
        view.grammar = self.answer_format.choice_grammar(legal)
        view.footer = f"Your legal moves: {', '.join(view.wrapped)}.\n{self._instruction}"
        view.prompt = f"{view.body}\n{view.footer}"
        if type(state).parse_move is _plain_parse_move:  # which reads a listed move as itself
            extract = self.answer_format.extract
            view.answers = {w: m for w, m in zip(view.wrapped, legal, strict=True) if extract(w) == m}
        else:
            view.answers = {}
        # Last, so an env in another thread that shares this memo never sees the new moves with old texts.
        view.legal = list(legal)  # a copy: a game may reuse its list

    def _play(self, agent: str, player: int, action: str) -> None:
        state = self._state
        info = self.infos[agent]
        info.pop(LEGAL_ACTIONS, None)
        info.pop(ACTION_GRAMMAR, None)
        info.pop(GAME_OBSERVATION, None)
        move = self._answers.get(action)
        if move is None:
            content = self.answer_format.extract(action)
            move = None if content is None else state.parse_move(content)
        info[PARSED_ACTION] = move
        info[INVALID_ACTION] = move is None
        if move is None:
            self._invalid_move(agent, player, info, self._why_invalid(action))
            return
        if self._notes[player]:  # a valid answer after an invalid one
            self._notes[player] = ""
            info.pop(REWARD_COMPONENTS, None)  # they named the invalid answer's penalty, not this answer's reward
        state.apply(move)
        next_player = state.current_player()
        if next_player == CHANCE:
            resolve_chance(state, self._rng)
            next_player = state.current_player()
        if state.is_terminal():
            self._game_over()
        elif self._turn >= self.max_turns:
            self._truncate()
        else:
            self._select(next_player)

    def _invalid_move(self, agent: str, player: int, info: dict[str, Any], reason: str) -> None:
        rule = self.invalid_move
        if rule.ends_game:
            n = len(self.possible_agents)
            self._end(
                [rule.offender if i == player else rule.other for i in range(n)],
                [Outcome.FORFEIT if i == player else Outcome.WIN for i in range(n)],
                "invalid_move",
                f"Player {player} made an invalid move ({reason}); the game is over.",
            )
            return
        self._pay(agent, rule.offender)
        info[REWARD_COMPONENTS] = {"invalid_move": rule.offender}
        self._notes[player] = f"Your last answer was an invalid move ({reason}). Try again."
        if self._turn >= self.max_turns:
            self._truncate()
        else:
            self._select(player)

    def _why_invalid(self, action: str) -> str:
        content = self.answer_format.extract(action)
        if content is None:
            return f"no answer written as {self.answer_format.wrap('...')}"
        quoted = to_charset(content[:_QUOTE_LIMIT]) + ("..." if len(content) > _QUOTE_LIMIT else "")
        return f"{self.answer_format.wrap(quoted)} is not a legal move"

    def _game_over(self) -> None:
        """The rules ended the game: everyone is paid its return."""
        self._end(self._state.returns(), None, "game", "")

    def _end(self, rewards: list[float], outcomes: list[Outcome] | None, component: str, ending: str) -> None:
        """Finish the game: every agent terminates with ``rewards[player]`` and ``outcomes[player]``
        (by default the outcome that reward means). After the usual end (no ``ending`` line) each
        agent's ``last()`` shows its result next, so those texts are rendered now."""
        state = self._state
        self._ending = ending
        notes = self._notes
        texts = {}
        for player, agent in enumerate(self.possible_agents):
            reward = float(rewards[player])
            outcome = outcome_of(reward) if outcomes is None else outcomes[player]
            self._terminate(player, reward, outcome, component, state.metrics(player))
            if not ending and not notes[player]:
                texts[agent] = self._final_text(player, reward)
        self._close_episode()
        self._obs_cache = texts

    def _truncate(self) -> None:
        self._ending = self._turn_limit_line
        super()._truncate()

    def _metrics(self, player: int) -> dict[str, float]:
        return self._state.metrics(player)

    # --- observations ------------------------------------------------------------------------
    def _observation(self, agent: str, player: int) -> str:
        note = self._notes[player]
        if self._over and not self._ending and not note:
            return self._final_text(player, self._state.returns()[player])
        body = self._body(player)
        if self._over:
            footer = self._ending or _result_line(self._state.returns()[player])
        elif agent == self.agent_selection:
            footer = self._footer
        else:
            footer = _WAITING
        return f"{body}\n{note}\n{footer}" if note else f"{body}\n{footer}"

    def _body(self, player: int) -> str:
        return self._view(self._state, player).body

    def _final_text(self, player: int, result: float) -> str:
        """The observation at the usual end of a game (no note, no special ending), memoised:
        games end in few ways."""
        view = self._view(self._state, player)
        result_key = result if result else repr(result)  # -0.0 == 0.0, but it reads "-0"
        text = view.results.get(result_key)
        if text is None:
            if len(view.results) >= _RESULTS_LIMIT:
                view.results.clear()
            text = view.results[result_key] = f"{view.body}\n{_result_line(result)}"
        return text

    def _board(self) -> str:
        return str(self._state)


class _Views(list):
    """One memo of views per player (``dict`` by observation key); a list the game factory can hold weakly."""


def _result_line(result: float) -> str:
    return f"The game is over. Your result: {'+' if result > 0 else ''}{result:g}."
