"""Playing games between agents, many at once, and tallying what happened.

:func:`run_games` is the engine: it plays a list of :class:`Seating` (a seed and
who sits where) with a pool of envs in flight, and in each round gives every
agent the pending observations of all its games in one batched ``act`` call.
It returns one :class:`GameRecord` per seating, in order.

:func:`play_games` is the simple front for ``gym-reason play``: one env, a few
agents, ``games`` seeds, optional seat alternation, one :class:`Tally` per label.

A ``progress`` hook (:class:`ProgressHook`) hears of the start (how many games, which
agents: a display can read their live counters) and of every finished game.

A game whose agent could not answer (an :class:`~gym_reason.agents.base.AgentError`,
e.g. a server down after retries) or whose env raised is recorded as *failed*
(``record.error``), neither won nor lost; the other games go on.
"""

from __future__ import annotations

import math
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gym_reason.agents.base import Agent, AgentError
from gym_reason.core import INVALID_ACTION, OUTCOME, Outcome

StepHook = Callable[[str, str, dict[str, Any], str | None], None]
"""``on_step(agent_name, observation, info, action)``; ``action`` is ``None`` on an agent's final view."""


class ProgressHook(Protocol):
    """What :func:`run_games` tells a progress display (the CLI's is :class:`gym_reason.progress.GamesProgress`)."""

    def start(self, total: int, agents: Mapping[str, Agent]) -> None:
        """Before the first game: ``total`` games will be played by ``agents`` (label -> agent)."""

    def game_done(self, record: GameRecord) -> None:
        """After each game, played to its end or failed."""


@dataclass(frozen=True)
class Seating:
    """One game to play: the env seed and the agent label at each seat (``player_0`` first)."""

    seed: int
    seats: tuple[str, ...]


@dataclass
class GameRecord:
    seed: int
    seats: list[str]
    """Agent label for each seat, player_0 first."""
    rewards: list[float]
    outcomes: list[Outcome | None]
    """Each seat's outcome; ``None`` for every seat of a failed game."""
    invalid_moves: list[int]
    moves: list[int]
    """Moves made by each seat."""
    tokens: list[int | None]
    """Completion tokens each seat's agent reported (``None`` when it reports none)."""
    error: str | None = None
    """Why the game failed, or ``None`` when it was played to its end."""
    transcript: list[dict[str, Any]] | None = None

    @property
    def turns(self) -> int:
        return sum(self.moves)

    @property
    def failed(self) -> bool:
        return self.error is not None


class _Game:
    """One game in flight on a (reused) env."""

    def __init__(self, env: Any, index: int, seating: Seating, keep_transcript: bool) -> None:
        self.env = env
        self.index = index
        self.seating = seating
        n = len(seating.seats)
        self.seat_of = {a: i for i, a in enumerate(env.possible_agents)}
        self.record = GameRecord(
            seed=seating.seed,
            seats=list(seating.seats),
            rewards=[0.0] * n,
            outcomes=[Outcome.TRUNCATED] * n,
            invalid_moves=[0] * n,
            moves=[0] * n,
            tokens=[None] * n,
            transcript=[] if keep_transcript else None,
        )
        env.reset(seed=seating.seed)

    def pending(self, on_step: StepHook | None) -> tuple[str, str, dict[str, Any]] | None:
        """The agent to move with its view, after passing over finished agents; ``None`` at the end."""
        env, record = self.env, self.record
        while env.agents:
            agent = env.agent_selection
            obs, reward, terminated, truncated, info = env.last()
            seat = self.seat_of[agent]
            record.rewards[seat] += reward
            if not (terminated or truncated):
                return agent, obs, info
            record.outcomes[seat] = Outcome(info[OUTCOME]) if OUTCOME in info else Outcome.TRUNCATED
            if on_step is not None:
                on_step(agent, obs, info, None)
            env.step(None)
        return None

    def play(self, agent: str, obs: str, answer: str, tokens: int | None) -> None:
        record, seat = self.record, self.seat_of[agent]
        record.moves[seat] += 1
        if tokens is not None:
            record.tokens[seat] = (record.tokens[seat] or 0) + tokens
        self.env.step(answer)
        invalid = bool(self.env.infos.get(agent, {}).get(INVALID_ACTION))
        record.invalid_moves[seat] += invalid
        if record.transcript is not None:
            record.transcript.append({"agent": agent, "observation": obs, "action": answer, "invalid": invalid})

    def fail(self, error: str) -> None:
        self.record.error = error
        self.record.outcomes = [None] * len(self.record.outcomes)


def run_games(
    make_env: Callable[[], Any],
    seatings: Sequence[Seating],
    agents: Mapping[str, Agent],
    *,
    concurrency: int = 256,
    transcripts: bool = False,
    on_step: StepHook | None = None,
    on_game: Callable[[GameRecord], None] | None = None,
    progress: ProgressHook | None = None,
) -> list[GameRecord]:
    """Play every seating to its end with up to ``concurrency`` games in flight.

    Each round, every agent answers all of its pending turns in one ``act`` call.
    ``make_env()`` builds a multi-agent env; at most ``concurrency`` are built and
    each is reset for the next seating when its game ends. Exceptions an agent
    raises other than :class:`AgentError` (a refused API key, a closed terminal)
    stop the run: they are the caller's to fix.

    >>> import gym_reason
    >>> from gym_reason.agents import make_agent
    >>> env = gym_reason.make("kuhn_poker")
    >>> agents = {"nash": make_agent("fixed:nash", env, seed=1), "random": make_agent("random", env, seed=2)}
    >>> records = run_games(lambda: gym_reason.make("kuhn_poker"), [Seating(7, ("nash", "random"))], agents)
    >>> records[0].seats, sum(records[0].rewards)
    (['nash', 'random'], 0.0)
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    unknown = sorted({label for s in seatings for label in s.seats} - set(agents))
    if unknown:
        raise ValueError(f"seatings name agents {unknown} that are not in agents {sorted(agents)}")
    records: list[GameRecord | None] = [None] * len(seatings)
    free_envs: list[Any] = []
    if progress is not None:
        progress.start(len(seatings), agents)
    next_index = 0
    live: list[_Game] = []

    def store(index: int, record: GameRecord) -> None:
        records[index] = record
        if on_game is not None:
            on_game(record)
        if progress is not None:
            progress.game_done(record)

    def finish(game: _Game) -> None:
        free_envs.append(game.env)
        store(game.index, game.record)

    while live or next_index < len(seatings):
        while len(live) < concurrency and next_index < len(seatings):
            seating = seatings[next_index]
            env = free_envs.pop() if free_envs else _new_env(make_env, seating)
            try:
                live.append(_Game(env, next_index, seating, transcripts))
            except Exception as error:  # an env that cannot even reset: recorded, not fatal; the env is dropped
                n = len(seating.seats)
                empty = GameRecord(
                    seating.seed, list(seating.seats), [0.0] * n, [None] * n, [0] * n, [0] * n, [None] * n
                )
                empty.error = f"reset: {_describe(error)}"
                store(next_index, empty)
            next_index += 1
        turns: dict[str, list[tuple[_Game, str, str, dict[str, Any]]]] = {}
        still = []
        for game in live:
            try:
                turn = game.pending(on_step)
            except Exception as error:
                game.fail(_describe(error))
                turn = None
            if turn is None:
                finish(game)
                continue
            still.append(game)
            agent, obs, info = turn
            turns.setdefault(game.seating.seats[game.seat_of[agent]], []).append((game, agent, obs, info))
        live = still
        for label, batch in turns.items():
            actor = agents[label]
            try:
                answers: list[str | None] = list(actor.act([(obs, info) for _, _, obs, info in batch]))
                errors: dict[int, str] = {}
            except AgentError as error:
                answers, errors = error.answers, error.errors
            if len(answers) != len(batch):
                raise RuntimeError(f"agent {label!r} gave {len(answers)} answers for {len(batch)} observations")
            tokens = getattr(actor, "last_tokens", None) or [None] * len(batch)
            for k, ((game, agent, obs, info), answer) in enumerate(zip(batch, answers, strict=True)):
                if answer is None:
                    game.fail(f"agent {label!r} could not answer: {errors.get(k, 'no answer')}")
                    continue
                if on_step is not None:
                    on_step(agent, obs, info, answer)
                try:
                    game.play(agent, obs, answer, tokens[k] if k < len(tokens) else None)
                except Exception as error:
                    game.fail(_describe(error))
        failed = [g for g in live if g.record.failed]
        for game in failed:
            finish(game)
        live = [g for g in live if not g.record.failed]
    return records  # type: ignore[return-value]


def _new_env(make_env: Callable[[], Any], seating: Seating) -> Any:
    env = make_env()
    if len(env.possible_agents) != len(seating.seats):
        raise ValueError(
            f"seating {seating.seats} has {len(seating.seats)} seats but the env has "
            f"{len(env.possible_agents)} ({env.possible_agents}); give one agent per seat"
        )
    return env


def _describe(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(error)).strip()


# --- the simple front: one env, fixed seats, a tally per label -------------------------------------


@dataclass
class Tally:
    label: str
    games: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(map(str, Outcome), 0))
    rewards: list[float] = field(default_factory=list)
    invalid_moves: int = 0
    failed: int = 0

    @property
    def mean_reward(self) -> float:
        return sum(self.rewards) / len(self.rewards) if self.rewards else 0.0

    def reward_interval(self, z: float = 1.959964) -> tuple[float, float]:
        """Normal-approximation confidence interval of the mean reward (95% by default)."""
        n = len(self.rewards)
        if n < 2:
            return (-math.inf, math.inf)
        mean = self.mean_reward
        var = sum((r - mean) ** 2 for r in self.rewards) / (n - 1)
        half = z * math.sqrt(var / n)
        return (mean - half, mean + half)


def play_games(
    env: Any,
    agents: Sequence[Agent],
    labels: Sequence[str],
    games: int,
    seed: int = 0,
    alternate_seats: bool = False,
    on_game: Callable[[GameRecord], None] | None = None,
    on_step: StepHook | None = None,
) -> dict[str, Tally]:
    """Play ``games`` episodes on ``env`` one after another (seed ``seed + g``); with ``alternate_seats``
    game ``g`` rotates the seats by ``g``.

    Agents that share a label share a tally (a bot against itself counts once per seat).
    """
    if len(agents) != len(env.possible_agents) or len(labels) != len(agents):
        raise ValueError(
            f"{len(agents)} agents / {len(labels)} labels for an env with {len(env.possible_agents)} seats "
            f"({env.possible_agents}); give exactly one agent per seat"
        )
    by_label: dict[str, Agent] = {}
    for label, agent in zip(labels, agents, strict=True):
        if by_label.setdefault(label, agent) is not agent:
            raise ValueError(f"label {label!r} names two different agents; give each agent its own label")
    n = len(agents)
    seatings = []
    for g in range(games):
        shift = g % n if alternate_seats else 0
        seatings.append(Seating(seed + g, tuple(labels[(k + shift) % n] for k in range(n))))
    records = run_games(lambda: env, seatings, by_label, concurrency=1, on_step=on_step, on_game=on_game)
    tallies = {label: Tally(label) for label in labels}
    for record in records:
        for seat, label in enumerate(record.seats):
            tally = tallies[label]
            if record.failed:
                tally.failed += 1
                continue
            tally.games += 1
            tally.outcomes[str(record.outcomes[seat])] += 1
            tally.rewards.append(record.rewards[seat])
            tally.invalid_moves += record.invalid_moves[seat]
    return tallies
