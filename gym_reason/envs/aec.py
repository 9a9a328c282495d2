"""The text-AEC contract of :mod:`gym_reason.core`, kept in one place for every turn-based text env.

:class:`TextAECEnv` is a PettingZoo :class:`~pettingzoo.AECEnv` whose agents are ``player_0``
.. ``player_{n-1}``, whose observations and actions are ``str`` in a
:func:`~gym_reason.core.text_space`, and which does the bookkeeping the contract promises and
:func:`~gym_reason.checker.check_env` verifies, the same way for every game:

* ``reset(seed=, options=)`` seeds the env's own generator (``self._rng``; without a seed its
  stream goes on), refuses options, and starts fresh per-agent dicts and info dicts holding
  ``ROLE`` and ``ACTION_FORMAT``.
* ``step(None)`` is the dead step of a finished agent; any other action of a finished agent,
  a non-``str`` action, or a step before ``reset()`` raises with a message that says what to do.
* ``last()`` and ``agent_iter()`` are PettingZoo's; ``rewards`` holds the last step's rewards and
  ``_cumulative_rewards`` what each agent got since it last acted.
* An episode ends for every agent at once: terminated with an outcome, a reward and its reward
  components and metrics, or truncated at the turn limit as a draw.
* ``observe(agent)`` is cached until the state changes; ``render()`` heads the board with the turn
  count; ``snapshot()``/``restore()`` deep-copy the episode, the generator included.

A subclass supplies the game: ``reset`` (call :meth:`_begin_episode`, then set up the game and
select the first agent), :meth:`_play` (one answer of the agent to move), :meth:`_observation`
(an agent's text), :meth:`_board` (for ``render``) and ``_SNAPSHOT_FIELDS`` for its own state.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any, ClassVar

from gymnasium import spaces
from pettingzoo import AECEnv

from gym_reason.core import (
    ACTION_FORMAT,
    ACTION_GRAMMAR,
    LEGAL_ACTIONS,
    METRICS,
    OUTCOME,
    REWARD_COMPONENTS,
    ROLE,
    Outcome,
    text_space,
)

_WIN, _LOSS, _DRAW = Outcome.WIN, Outcome.LOSS, Outcome.DRAW  # an enum's attribute costs a lookup every game


def outcome_of(reward: float) -> Outcome:
    """A finished game's outcome for a player paid ``reward``."""
    if reward > 0:
        return _WIN
    if reward < 0:
        return _LOSS
    return _DRAW


class TextAECEnv(AECEnv):
    """A turn-based text env; see the module docstring for what it does and what a subclass adds.

    Args:
        max_turns: answers (valid or not) after which the episode is truncated as a draw.
        render_mode: ``None``, ``"ansi"`` (``render()`` returns the text) or ``"human"`` (prints it).
        name: ``metadata["name"]``.
        instruction: ``info[ACTION_FORMAT]``, one line telling the model how to answer.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "human"], "is_parallelizable": False}

    _SNAPSHOT_FIELDS: ClassVar[tuple[str, ...]] = (
        "agents", "rewards", "_cumulative_rewards", "terminations", "truncations", "infos",
        "agent_selection", "_turn", "_over", "_paid",
    )  # fmt: skip
    """The attributes :meth:`snapshot` copies; subclasses add their episode state."""

    def __init__(self, *, max_turns: int, render_mode: str | None, name: str, instruction: str) -> None:
        super().__init__()
        if not isinstance(max_turns, int) or isinstance(max_turns, bool) or max_turns < 1:
            raise ValueError(f"max_turns must be a positive integer, got {max_turns!r}")
        self.max_turns = max_turns
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"unknown render_mode {render_mode!r}; valid: None, {self.metadata['render_modes']}")
        self.render_mode = render_mode
        self.metadata = {**self.metadata, "name": name}
        self._instruction = instruction
        self._rng = random.Random()
        self._started = False
        self._over = False
        self._paid = False  # whether self.rewards holds non-zero rewards of the last step
        self._obs_cache: dict[str, str] = {}

    def _set_players(self, num_players: int) -> None:
        self.possible_agents = [f"player_{i}" for i in range(num_players)]
        self._index = {a: i for i, a in enumerate(self.possible_agents)}
        self._space = text_space()
        self.observation_spaces = dict.fromkeys(self.possible_agents, self._space)
        self.action_spaces = dict.fromkeys(self.possible_agents, self._space)
        self._zeros = dict.fromkeys(self.possible_agents, 0.0)  # copied by every reset
        self._falses = dict.fromkeys(self.possible_agents, False)

    # --- spaces ------------------------------------------------------------------------------
    def observation_space(self, agent: str) -> spaces.Text:
        self._check_agent(agent)
        return self._space

    def action_space(self, agent: str) -> spaces.Text:
        self._check_agent(agent)
        return self._space

    def _check_agent(self, agent: str) -> int:
        """The player number of ``agent``; a ValueError naming the valid agents if it is none."""
        try:
            return self._index[agent]
        except (KeyError, TypeError):
            raise ValueError(f"unknown agent {agent!r}; valid: {self.possible_agents}") from None

    # --- episode -----------------------------------------------------------------------------
    def _begin_episode(self, seed: int | None, options: dict | None) -> None:
        """The start of every ``reset``: seed, refuse options, fresh per-agent dicts."""
        if seed is not None:
            self._rng.seed(seed)
        if options:
            raise ValueError(f"{type(self).__name__}.reset takes no options, got {sorted(options)}")
        agents = self.possible_agents[:]
        self.agents = agents
        self.rewards = self._zeros.copy()
        self._cumulative_rewards = self._zeros.copy()
        self.terminations = self._falses.copy()
        self.truncations = self._falses.copy()
        instruction = self._instruction
        self.infos = {a: {ROLE: a, ACTION_FORMAT: instruction} for a in agents}
        self._turn = 0
        self._over = False
        self._paid = False
        self._obs_cache = {}
        self._started = True

    def agent_iter(self, max_iter: int = 2**63) -> Iterator[str]:
        """The agent to act, until every agent is done (PettingZoo's ``agent_iter``, as a generator)."""
        while self.agents and max_iter > 0:
            max_iter -= 1
            yield self.agent_selection

    def last(self, observe: bool = True) -> tuple[str | None, float, bool, bool, dict[str, Any]]:
        agent = self.agent_selection
        return (
            (self._obs_cache.get(agent) or self.observe(agent)) if observe else None,
            self._cumulative_rewards[agent],
            self.terminations[agent],
            self.truncations[agent],
            self.infos[agent],
        )

    def step(self, action: str | None) -> None:
        if self._over:
            self._dead_step(action)
            return
        if not self._started:
            raise RuntimeError("step() called before reset(); call env.reset(seed=...) first")
        agent = self.agent_selection
        if not isinstance(action, str):
            raise TypeError(
                f"action for {agent} must be the model's text (str), got {type(action).__name__} {action!r}; "
                "pass None only for agents whose episode is over (terminated or truncated)"
            )
        if self._paid:  # rewards of the previous step are not this step's
            self._clear_rewards()
        self._cumulative_rewards[agent] = 0.0
        self._turn += 1
        self._play(agent, self._index[agent], action)

    def _play(self, agent: str, player: int, action: str) -> None:
        """Apply ``action``, the text of ``agent`` (player number ``player``), who is to move.

        Called by :meth:`step` with the turn counted and the agent's cumulative reward cleared. It
        records ``INVALID_ACTION``/``PARSED_ACTION`` in the agent's info, pays rewards with
        :meth:`_pay` or ends the episode (:meth:`_terminate` then :meth:`_close_episode`, or
        :meth:`_truncate`), and selects the next agent.
        """
        raise NotImplementedError

    def _clear_rewards(self) -> None:
        rewards = self.rewards
        for a in rewards:
            rewards[a] = 0.0
        self._paid = False

    def _pay(self, agent: str, reward: float) -> None:
        """Give ``agent`` ``reward`` in this step (the episode goes on)."""
        self.rewards[agent] = reward
        self._cumulative_rewards[agent] += reward
        self._paid = True

    def _terminate(
        self, player: int, reward: float, outcome: Outcome, component: str, metrics: dict[str, float]
    ) -> dict[str, Any]:
        """End ``player``'s episode: it is paid ``reward`` (the reward component ``component``) with
        ``outcome``. Returns its info dict, for the subclass's own keys."""
        agent = self.possible_agents[player]
        self.rewards[agent] = reward
        self._cumulative_rewards[agent] += reward
        self.terminations[agent] = True
        info = self.infos[agent]
        info.pop(LEGAL_ACTIONS, None)
        info.pop(ACTION_GRAMMAR, None)
        info[OUTCOME] = outcome
        info[REWARD_COMPONENTS] = {component: reward}
        info[METRICS] = metrics
        return info

    def _truncate(self) -> None:
        """End the episode at the turn limit: a draw for everyone, this step's rewards left as they are
        (an agent paid in this step keeps that reward's components, beside ``truncated``)."""
        for player, agent in enumerate(self.possible_agents):
            self.truncations[agent] = True
            info = self.infos[agent]
            info.pop(LEGAL_ACTIONS, None)
            info.pop(ACTION_GRAMMAR, None)
            info[OUTCOME] = Outcome.TRUNCATED
            paid_now = info.get(REWARD_COMPONENTS) if self.rewards[agent] else None
            info[REWARD_COMPONENTS] = {**(paid_now or {}), "truncated": 0.0}
            info[METRICS] = self._metrics(player)
        self._close_episode()

    @property
    def _turn_limit_line(self) -> str:
        return f"The turn limit ({self.max_turns}) was reached; the game counts as a draw."

    def _metrics(self, player: int) -> dict[str, float]:
        """``info[METRICS]`` of ``player`` at the end of a truncated episode."""
        return {}

    def _close_episode(self) -> None:
        """After every agent terminated or truncated: only dead steps are left, first agent first."""
        self._over = True
        self._paid = True
        self._obs_cache = {}
        self.agent_selection = self.possible_agents[0]

    def _dead_step(self, action: Any) -> None:
        agent = self.agent_selection
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
            self._clear_rewards()
        if self.agents:
            self.agent_selection = self.agents[0]

    # --- observations ------------------------------------------------------------------------
    def observe(self, agent: str) -> str:
        text = self._obs_cache.get(agent)
        if text is None:
            player = self._check_agent(agent)
            if not self._started:
                raise RuntimeError("observe() called before reset(); call env.reset(seed=...) first")
            text = self._obs_cache[agent] = self._observation(agent, player)
        return text

    def _observation(self, agent: str, player: int) -> str:
        """What ``agent`` (player number ``player``) sees now; cached by :meth:`observe` until the
        next selection or the end of the episode."""
        raise NotImplementedError

    def render(self) -> str | None:
        if not self._started:
            raise RuntimeError("render() called before reset()")
        text = f"turn {self._turn}/{self.max_turns}, to move: {self.agent_selection}\n{self._board()}"
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def _board(self) -> str:
        """The whole state, for ``render()``."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    # --- snapshots ---------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """A copy of the whole episode state, including the generator, for :meth:`restore`."""
        if not self._started:
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
        self._obs_cache = {}
        self._started = True  # a fresh env can take a snapshot of another env of the same id

    def reseed(self, seed: int) -> None:
        """Draw chance from here on with a generator seeded by ``seed``: Monte-Carlo continuations of one
        restored snapshot then see fresh cards and dice, not the ones the snapshot's generator would deal."""
        self._rng.seed(seed)
