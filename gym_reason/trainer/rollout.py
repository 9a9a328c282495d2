"""Batched multi-turn rollouts: many episodes in flight, one generate call per round.

Each round gathers the pending turn of every live episode; the turns played by the
learning policy (every seat, in self-play) go to one batched :meth:`LMPolicy.sample`
call, the turns of fixed opponents to one ``act`` call per opponent. Works for any
registered env: turn-based games (PettingZoo AEC) and single-agent tasks (Gymnasium).

Rewards reach a turn the way the env pays them: the reward an agent receives
between its move and its next observation (or the end) belongs to that move, with
its ``reward_components``. An episode whose env raises is recorded with its error
and left out of training; it is counted, never scored as 0.
"""

from __future__ import annotations

import dataclasses
import traceback
from collections.abc import Sequence
from typing import Any

import torch

from gym_reason.core import INVALID_ACTION, OUTCOME, REWARD_COMPONENTS, AnswerFormat
from gym_reason.policy import Completion, LMPolicy, legal_answers

POLICY = None
"""The seat value meaning "played by the learning policy"."""


@dataclasses.dataclass
class Turn:
    """One move of the learning policy, with what it earned."""

    env_id: str
    role: str
    completion: Completion
    invalid: bool = False
    reward: float = 0.0
    components: dict[str, float] = dataclasses.field(default_factory=dict)
    advantage: float = 0.0


@dataclasses.dataclass
class Episode:
    """One game (or task episode) played to its end."""

    env_id: str
    seed: int
    seats: dict[str, str]
    """Agent name -> ``"policy"`` or the opponent's spec."""
    turns: list[Turn] = dataclasses.field(default_factory=list)
    returns: dict[str, float] = dataclasses.field(default_factory=dict)
    outcomes: dict[str, str] = dataclasses.field(default_factory=dict)
    moves: int = 0
    invalid: dict[str, int] = dataclasses.field(default_factory=dict)
    error: str | None = None

    def policy_agents(self) -> list[str]:
        return [agent for agent, who in self.seats.items() if who == "policy"]


@dataclasses.dataclass
class EpisodeRequest:
    """What to play: an env (built by the caller), its seed, and who sits where.

    ``seats`` maps agent names to :data:`POLICY` (``None``) or an opponent agent; agents
    not listed are played by the policy.
    """

    env_id: str
    env: Any
    seed: int
    seats: dict[str, Any] = dataclasses.field(default_factory=dict)
    opponent_specs: dict[str, str] = dataclasses.field(default_factory=dict)


class _Live:
    """An episode in flight over either env kind, exposing ``pending()`` and ``play(answer)``."""

    def __init__(self, request: EpisodeRequest) -> None:
        self.env = request.env
        self.multi = hasattr(self.env, "agent_iter")
        agents = list(self.env.possible_agents) if self.multi else ["agent"]
        self.seats = {a: request.seats.get(a, POLICY) for a in agents}
        self.episode = Episode(
            env_id=request.env_id,
            seed=request.seed,
            seats={
                a: ("policy" if s is POLICY else request.opponent_specs.get(a, getattr(s, "name", "opponent")))
                for a, s in self.seats.items()
            },
            returns=dict.fromkeys(agents, 0.0),
            invalid=dict.fromkeys(agents, 0),
        )
        self.answer_format = AnswerFormat.named(getattr(self.env, "answer_format", "bracket"))
        self.last_turn: dict[str, Turn | None] = dict.fromkeys(agents, None)
        self.done = False
        self._task_obs: tuple[str, dict[str, Any]] | None = None
        if self.multi:
            self.env.reset(seed=request.seed)
        else:
            self._task_obs = self.env.reset(seed=request.seed)

    def _credit(self, agent: str, reward: float, info: dict[str, Any]) -> None:
        self.episode.returns[agent] += reward
        turn = self.last_turn[agent]
        if turn is None or (reward == 0 and not info.get(REWARD_COMPONENTS)):
            return
        turn.reward += reward
        components = info.get(REWARD_COMPONENTS)
        if reward and not components:
            components = {"reward": reward}
        for name, value in (components or {}).items():
            turn.components[name] = turn.components.get(name, 0.0) + float(value)

    def pending(self) -> tuple[str, str, dict[str, Any]] | None:
        """The agent to act with its observation, or ``None`` once the episode is over."""
        if self.done:
            return None
        if not self.multi:
            assert self._task_obs is not None
            obs, info = self._task_obs
            return "agent", obs, info
        env = self.env
        while env.agents:
            agent = env.agent_selection
            obs, reward, terminated, truncated, info = env.last()
            self._credit(agent, reward, info)
            if terminated or truncated:
                if OUTCOME in info:
                    self.episode.outcomes[agent] = str(info[OUTCOME])
                env.step(None)
                continue
            return agent, obs, info
        self.done = True
        return None

    def play(self, agent: str, answer: str, turn: Turn | None) -> None:
        self.episode.moves += 1
        if turn is not None:
            self.episode.turns.append(turn)
        self.last_turn[agent] = turn
        if self.multi:
            self.env.step(answer)
            invalid = bool(self.env.infos.get(agent, {}).get(INVALID_ACTION))
        else:
            obs, reward, terminated, truncated, info = self.env.step(answer)
            invalid = bool(info.get(INVALID_ACTION))
            self._credit(agent, float(reward), info)
            if terminated or truncated:
                if OUTCOME in info:
                    self.episode.outcomes[agent] = str(info[OUTCOME])
                self.done = True
            self._task_obs = (obs, info)
        if invalid:
            self.episode.invalid[agent] += 1
            if turn is not None:
                turn.invalid = True

    def fail(self, error: BaseException) -> None:
        self.episode.error = "".join(traceback.format_exception_only(error)).strip()
        self.done = True


def play_episodes(
    policy: LMPolicy,
    requests: Sequence[EpisodeRequest],
    generator: torch.Generator,
    max_rounds: int = 100_000,
) -> list[Episode]:
    """Play every requested episode to its end, batching all pending policy turns per round.

    Returns the episodes in request order; episodes whose env raised carry ``error``.
    """
    live = []
    episodes: list[Episode | None] = [None] * len(requests)
    for i, request in enumerate(requests):
        try:
            live.append((i, _Live(request)))
        except Exception as error:  # a crashing env is counted, not fatal
            episodes[i] = Episode(request.env_id, request.seed, seats={}, error=f"reset: {error!r}")
    for _ in range(max_rounds):
        policy_turns: list[tuple[_Live, str, str, dict[str, Any]]] = []
        opponent_turns: dict[int, tuple[Any, list[tuple[_Live, str, str, dict[str, Any]]]]] = {}
        still = []
        for i, game in live:
            try:
                turn = game.pending()
            except Exception as error:
                game.fail(error)
                turn = None
            if turn is None:
                episodes[i] = game.episode
                continue
            still.append((i, game))
            agent, obs, info = turn
            seat = game.seats[agent]
            if seat is POLICY:
                policy_turns.append((game, agent, obs, info))
            else:
                opponent_turns.setdefault(id(seat), (seat, []))[1].append((game, agent, obs, info))
        live = still
        if not live:
            break
        if policy_turns:
            prompts = [policy.prompt(g.episode.env_id, obs, info) for g, _, obs, info in policy_turns]
            legal = [legal_answers(info) for _, _, _, info in policy_turns]
            formats = [g.answer_format for g, _, _, _ in policy_turns]
            completions = policy.sample(prompts, legal, generator, formats)
            for (game, agent, _, info), completion in zip(policy_turns, completions, strict=True):
                turn_record = Turn(env_id=game.episode.env_id, role=str(info.get("role", agent)), completion=completion)
                _safe_play(game, agent, completion.text, turn_record)
        for seat, batch in opponent_turns.values():
            answers = seat.act([(obs, info) for _, _, obs, info in batch])
            for (game, agent, _, _), answer in zip(batch, answers, strict=True):
                _safe_play(game, agent, answer, None)
    else:
        for i, game in live:
            game.fail(RuntimeError(f"episode still running after {max_rounds} rounds"))
            episodes[i] = game.episode
    return episodes  # type: ignore[return-value]


def _safe_play(game: _Live, agent: str, answer: str, turn: Turn | None) -> None:
    try:
        game.play(agent, answer, turn)
    except Exception as error:
        game.fail(error)
