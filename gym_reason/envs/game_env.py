"""The one adapter from pure rules to a multi-agent text env.

:class:`GameEnv` turns any :class:`~gym_reason.envs.games.base.Game` plus its
text template into a PettingZoo :class:`~pettingzoo.AECEnv` that follows
:mod:`gym_reason.core`: it renders observations, reads the answer out of the
model's raw text, scores unreadable or illegal answers with the invalid-move
rule, samples chance with its own generator, and truncates at a turn limit.
It knows nothing about any particular game.
"""

from __future__ import annotations

import copy
import inspect
import random
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from gymnasium import spaces
from pettingzoo import AECEnv

from gym_reason.core import (
    ACTION_FORMAT,
    GAME_OBSERVATION,
    INVALID_ACTION,
    LEGAL_ACTIONS,
    METRICS,
    OUTCOME,
    PARSED_ACTION,
    REWARD_COMPONENTS,
    ROLE,
    STATE_KEY,
    AnswerFormat,
    InvalidMoveRule,
    Outcome,
    text_space,
    to_charset,
)
from gym_reason.envs.games.base import Game, State, resolve_chance
from gym_reason.envs.templates import Template

_QUOTE_LIMIT = 200  # characters of an invalid answer repeated back in an observation
_MEMO_LIMIT = 100_000  # memoised views (or legal-move sets) per env


class GameEnv(AECEnv):
    """A turn-based game as a text env: agents ``player_0`` .. ``player_{n-1}``.

    Args:
        game: the rules.
        template: how the rules and states read (see :mod:`gym_reason.envs.templates`).
        answer_format: ``"bracket"`` (``[move]``, default) or ``"boxed"`` (``\\boxed{move}``).
        invalid_move: an :class:`~gym_reason.core.InvalidMoveRule` or a preset name
            (``"default"``: offender -1, other +1, game over; ``"spiral"``: -1.5 / +0.5).
        max_turns: moves (valid or not) after which the episode is truncated and scored
            as a draw; defaults to the game's own bound, so only a smaller value truncates.
        render_mode: ``None``, ``"ansi"`` (``render()`` returns the full state) or ``"human"`` (prints it).
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "is_parallelizable": False}

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
        super().__init__()
        self.game = game
        self.template = template
        self.answer_format = AnswerFormat.named(answer_format)
        self.invalid_move = (
            invalid_move if isinstance(invalid_move, InvalidMoveRule) else InvalidMoveRule.named(invalid_move)
        )
        if max_turns is None:
            max_turns = game.max_game_length
        if not isinstance(max_turns, int) or max_turns < 1:
            raise ValueError(f"max_turns must be a positive integer, got {max_turns!r}")
        self.max_turns = max_turns
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"unknown render_mode {render_mode!r}; valid: None, {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "name": game.name}
        self.possible_agents = [f"player_{i}" for i in range(game.num_players)]
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        self._space = text_space()
        self.observation_spaces = dict.fromkeys(self.possible_agents, self._space)
        self.action_spaces = dict.fromkeys(self.possible_agents, self._space)
        example = self.answer_format.wrap("move")
        self._instruction = self.answer_format.instruction.format(example=example)
        self._rules = [template.rules(game, i) for i in range(game.num_players)]
        self._view_memo: dict[tuple[int, Any], tuple[dict[str, Any], str]] = {}
        self._legal_memo: dict[tuple[str, ...], tuple[list[str], str]] = {}
        self._finite = game.finite_actions
        self._footer = self._instruction
        self._rng = random.Random()
        self._state = None  # set by reset()

    @classmethod
    def factory(cls, game_cls: type[Game], template_cls: Callable[[], Template]) -> Callable[..., GameEnv]:
        """An entry point that builds ``GameEnv(game_cls(**game_kwargs), template_cls(), **env_kwargs)``.

        Keyword arguments of ``game_cls`` go to the game, the rest to :class:`GameEnv`;
        its signature lists both, so bad keyword arguments are named with the valid ones.
        """
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

        def make_env(**kwargs: Any) -> GameEnv:
            game_kwargs = {k: v for k, v in kwargs.items() if k in game_names}
            env_kwargs = {k: v for k, v in kwargs.items() if k not in game_names}
            return cls(game_cls(**game_kwargs), template_cls(), **env_kwargs)

        params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in game_params] + env_params
        make_env.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        make_env.__name__ = f"make_{game_cls.name}_env"
        make_env.__doc__ = f"Build the {game_cls.name} text env ({game_cls.__doc__ or ''})".strip()
        make_env.env_kind = "game"  # type: ignore[attr-defined]
        make_env.env_players = game_cls.num_players  # type: ignore[attr-defined]
        return make_env

    # --- spaces ------------------------------------------------------------------------------
    def observation_space(self, agent: str) -> spaces.Text:
        self._check_agent(agent)
        return self._space

    def action_space(self, agent: str) -> spaces.Text:
        self._check_agent(agent)
        return self._space

    def _check_agent(self, agent: str) -> int:
        try:
            return self._index[agent]
        except (KeyError, TypeError):
            raise ValueError(f"unknown agent {agent!r}; valid: {self.possible_agents}") from None

    # --- episode -----------------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        if seed is not None:
            self._rng.seed(seed)
        if options:
            raise ValueError(f"{type(self).__name__}.reset takes no options, got {sorted(options)}")
        agents = self.possible_agents[:]
        self.agents = agents
        self.rewards = dict.fromkeys(agents, 0.0)
        self._cumulative_rewards = dict.fromkeys(agents, 0.0)
        self.terminations = dict.fromkeys(agents, False)
        self.truncations = dict.fromkeys(agents, False)
        self.infos = {a: {ROLE: a, ACTION_FORMAT: self._instruction} for a in agents}
        self._turn = 0
        self._over = False
        self._paid = False  # whether self.rewards holds non-zero rewards of the last step
        self._notes = [""] * len(agents)  # what each player is told about its own last answer
        self._ending = ""
        self._bodies: dict[str, str] = {}
        self._obs_cache: dict[str, str] = {}
        state = self.game.new_initial_state()
        resolve_chance(state, self._rng)
        self._state = state
        self._select(state.current_player())

    def set_state(self, state: State) -> None:
        """Start an episode at ``state``, a decision node of this env's game, so ``last()`` shows what
        the player to move there would see (for exact analysis of text policies, e.g. exploitability)."""
        player = state.current_player()
        if state.is_terminal() or not 0 <= player < self.game.num_players:
            raise ValueError(
                f"set_state needs a state where a player is to move; player {player} is to move in {state}"
            )
        self.reset()
        self._state = state.clone()
        self._select(player)

    def _select(self, player: int) -> None:
        """Make ``player`` the agent to act and give it a fresh info dict."""
        agent = self.possible_agents[player]
        self.agent_selection = agent
        state = self._state
        view, body = self._view(state, player)
        self._bodies = {agent: body}
        self._obs_cache = {}
        info = self.infos[agent]
        info[STATE_KEY] = state.information_state(player)
        info[GAME_OBSERVATION] = view
        if self._finite:
            legal = tuple(state.legal_actions())
            hit = self._legal_memo.get(legal)
            if hit is None:
                wrapped = [self.answer_format.wrap(m) for m in legal]
                hit = (wrapped, f"Your legal moves: {', '.join(wrapped)}.\n{self._instruction}")
                self._remember(self._legal_memo, legal, hit)
            info[LEGAL_ACTIONS], self._footer = hit
        else:
            self._footer = self._instruction

    def _view(self, state: State, player: int) -> tuple[dict[str, Any], str]:
        """The player's view and its text (rules + state), memoised on ``State.observation_key``.

        Games revisit the same few positions millions of times in training; the rules contract says equal
        observation keys give equal views, and the checker verifies it.
        """
        key = (player, state.observation_key(player))
        hit = self._view_memo.get(key)
        if hit is None:
            view = state.observation(player)
            hit = (view, f"{self._rules[player]}\n{self.template.state(view)}")
            self._remember(self._view_memo, key, hit)
        return hit

    @staticmethod
    def _remember(memo: dict, key: Any, value: Any) -> None:
        if len(memo) >= _MEMO_LIMIT:  # games with huge state spaces gain nothing from a memo; keep it bounded
            memo.clear()
        memo[key] = value

    def agent_iter(self, max_iter: int = 2**63) -> Iterator[str]:
        """The agent to act, until every agent is done (PettingZoo's ``agent_iter``, as a generator)."""
        while self.agents and max_iter > 0:
            max_iter -= 1
            yield self.agent_selection

    def last(self, observe: bool = True) -> tuple[str | None, float, bool, bool, dict[str, Any]]:
        agent = self.agent_selection
        return (
            self.observe(agent) if observe else None,
            self._cumulative_rewards[agent],
            self.terminations[agent],
            self.truncations[agent],
            self.infos[agent],
        )

    def step(self, action: str | None) -> None:
        if self._over:
            self._dead_step(self.agent_selection, action)
            return
        if self._state is None:
            raise RuntimeError("step() called before reset(); call env.reset(seed=...) first")
        agent = self.agent_selection
        if not isinstance(action, str):
            raise TypeError(
                f"action for {agent} must be the model's text (str), got {type(action).__name__} {action!r}; "
                "pass None only for agents whose episode is over (terminated or truncated)"
            )
        player = self._index[agent]
        state = self._state
        if self._paid:  # rewards of the previous step are not this step's
            rewards = self.rewards
            for a in rewards:
                rewards[a] = 0.0
            self._paid = False
        self._cumulative_rewards[agent] = 0.0
        info = self.infos[agent]
        info.pop(LEGAL_ACTIONS, None)
        info.pop(GAME_OBSERVATION, None)

        content = self.answer_format.extract(action)
        move = None if content is None else state.parse_move(content)
        self._turn += 1
        info[PARSED_ACTION] = move
        info[INVALID_ACTION] = move is None
        if move is None:
            self._invalid_move(agent, player, info, self._why_invalid(action, content))
            return
        if self._notes[player]:
            self._notes[player] = ""
        state.apply(move)
        resolve_chance(state, self._rng)
        if state.is_terminal():
            returns = state.returns()
            self._end(returns, [_outcome(r) for r in returns], "game", "")
        elif self._turn >= self.max_turns:
            self._truncate()
        else:
            self._select(state.current_player())

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
        self.rewards[agent] = rule.offender
        self._cumulative_rewards[agent] += rule.offender
        self._paid = True
        info[REWARD_COMPONENTS] = {"invalid_move": rule.offender}
        self._notes[player] = f"Your last answer was an invalid move ({reason}). Try again."
        if self._turn >= self.max_turns:
            self._truncate()
        else:
            self._select(player)

    def _why_invalid(self, action: str, content: str | None) -> str:
        if content is None:
            return f"no answer written as {self.answer_format.wrap('...')}"
        quoted = to_charset(content[:_QUOTE_LIMIT]) + ("..." if len(content) > _QUOTE_LIMIT else "")
        return f"{self.answer_format.wrap(quoted)} is not a legal move"

    def _end(self, rewards: list[float], outcomes: list[Outcome], component: str, ending: str) -> None:
        """Finish the game: every agent terminates with ``rewards[player]``."""
        state = self._state
        self._over = True
        self._paid = True
        self._ending = ending
        self._bodies = {}
        self._obs_cache = {}
        for player, agent in enumerate(self.possible_agents):
            reward = float(rewards[player])
            self.rewards[agent] = reward
            self._cumulative_rewards[agent] += reward
            self.terminations[agent] = True
            info = self.infos[agent]
            info.pop(LEGAL_ACTIONS, None)
            info[OUTCOME] = outcomes[player]
            info[REWARD_COMPONENTS] = {component: reward}
            info[METRICS] = state.metrics(player)
        self.agent_selection = self.possible_agents[0]

    def _truncate(self) -> None:
        state = self._state
        self._over = True
        self._ending = f"The turn limit ({self.max_turns}) was reached; the game counts as a draw."
        self._bodies = {}
        self._obs_cache = {}
        for player, agent in enumerate(self.possible_agents):
            self.truncations[agent] = True
            info = self.infos[agent]
            info.pop(LEGAL_ACTIONS, None)
            info[OUTCOME] = Outcome.TRUNCATED
            info[REWARD_COMPONENTS] = {"truncated": 0.0}
            info[METRICS] = state.metrics(player)
        self.agent_selection = self.possible_agents[0]

    def _dead_step(self, agent: str, action: Any) -> None:
        if action is not None:
            raise ValueError(
                f"{agent}'s episode is over (terminated or truncated); the only valid action for it is None, "
                f"got {action!r}. Step None for each finished agent, or call reset()."
            )
        if not self.agents:
            raise RuntimeError("every agent's episode is over and was stepped; call reset() to start a new game")
        del self.terminations[agent]
        del self.truncations[agent]
        del self.rewards[agent]
        del self._cumulative_rewards[agent]
        del self.infos[agent]
        self.agents.remove(agent)
        if self._paid:
            for a in self.rewards:
                self.rewards[a] = 0.0
            self._paid = False
        if self.agents:
            self.agent_selection = self.agents[0]

    # --- observations ------------------------------------------------------------------------
    def observe(self, agent: str) -> str:
        text = self._obs_cache.get(agent)
        if text is not None:
            return text
        player = self._check_agent(agent)
        state = self._state
        if state is None:
            raise RuntimeError("observe() called before reset(); call env.reset(seed=...) first")
        body = self._bodies.get(agent)
        if body is None:
            body = self._view(state, player)[1]
        if self._over:
            footer = self._result_line(player)
        elif agent == self.agent_selection:
            footer = self._footer
        else:
            footer = "Waiting for the other player to move."
        note = self._notes[player]
        text = f"{body}\n{note}\n{footer}" if note else f"{body}\n{footer}"
        self._obs_cache[agent] = text
        return text

    def _result_line(self, player: int) -> str:
        if self._ending:
            return self._ending
        r = self._state.returns()[player]
        return f"The game is over. Your result: {'+' if r > 0 else ''}{r:g}."

    def render(self) -> str | None:
        if self._state is None:
            raise RuntimeError("render() called before reset()")
        text = f"turn {self._turn}/{self.max_turns}, to move: {self.agent_selection}\n{self._state}"
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def close(self) -> None:
        pass

    # --- snapshots ---------------------------------------------------------------------------
    _SNAPSHOT_FIELDS = (
        "agents", "rewards", "_cumulative_rewards", "terminations", "truncations", "infos",
        "agent_selection", "_turn", "_over", "_paid", "_notes", "_ending", "_footer", "_state", "_bodies", "_obs_cache",
    )  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        """A copy of the whole episode state, including the generator, for :meth:`restore`."""
        if self._state is None:
            raise RuntimeError("snapshot() called before reset()")
        snap = copy.deepcopy({k: getattr(self, k) for k in self._SNAPSHOT_FIELDS})
        snap["_rng"] = self._rng.getstate()
        return snap

    def restore(self, snapshot: dict[str, Any]) -> None:
        """Return to a state taken by :meth:`snapshot` (the snapshot stays usable)."""
        snap = copy.deepcopy({k: snapshot[k] for k in self._SNAPSHOT_FIELDS})
        for k, v in snap.items():
            setattr(self, k, v)
        self._rng.setstate(snapshot["_rng"])


def _outcome(reward: float) -> Outcome:
    if reward > 0:
        return Outcome.WIN
    if reward < 0:
        return Outcome.LOSS
    return Outcome.DRAW
