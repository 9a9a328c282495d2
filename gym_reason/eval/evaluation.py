"""Evaluate one agent against fixed opponents: paired seeds, many games in flight, honest statistics.

:func:`evaluate` plays ``games`` games of the agent against each opponent. With
``paired=True`` (the default) games come in groups of one deal per seat
rotation: the same env seed (so the same cards, dice or start) is played once
with the agent in each seat, as in duplicate poker. Luck of the deal then
cancels within a group, and the confidence interval of the mean reward is taken
over groups, which is where the variance cut shows. Every opponent meets the
same deals.

The result is an :class:`EvalResult` (pydantic, saved as JSON): provenance
(agent spec, env id and version, package version, seeds, settings, date,
command) and, per opponent, a :class:`Summary` overall and per seat: outcome
rates with Wilson intervals, mean reward with a t (or bootstrap) interval,
mean turns, invalid-move rate, tokens per turn for agents that report them,
and the games that failed (an agent that could not answer, an env that raised),
which are counted apart and score nothing.
"""

from __future__ import annotations

import datetime
import itertools
import json
import math
import platform
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

import gym_reason
from gym_reason import registry
from gym_reason.agents.base import Agent, make_agent
from gym_reason.core import Outcome, derive_seed
from gym_reason.eval.engine import (
    TASK_AGENT,
    Episode,
    ProgressHook,
    Seating,
    StepHook,
    labelled_requests,
    play_episodes,
)
from gym_reason.eval.stats import CI_METHODS, CONFIDENCE, mean_ci, wilson_interval

AGENT = "<agent>"
"""The label of the evaluated agent in seatings (no agent spec contains ``<``)."""

TASK = "(task alone)"
"""The opponent column of a single-agent task's results: the agent plays alone."""

HELD_OUT = "test"
"""The split a task is evaluated on (see ``split`` in :mod:`gym_reason.core`'s env contract)."""


def held_out_kwargs(env: Any, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``env_kwargs`` for evaluation: an env that declares splits (``splits`` holding :data:`HELD_OUT`) is
    built on its held-out split unless ``env_kwargs`` names one; other envs are left as given.

    >>> import gym_reason
    >>> held_out_kwargs(gym_reason.make("kuhn_poker"), {"num_hands": 3})
    {'num_hands': 3}
    """
    if "split" in env_kwargs or HELD_OUT not in getattr(env, "splits", ()):
        return dict(env_kwargs)
    return {**env_kwargs, "split": HELD_OUT}


class Interval(BaseModel):
    model_config = ConfigDict(frozen=True)

    low: float
    high: float


class Rate(BaseModel):
    """``count`` of ``trials`` with its rate and Wilson interval."""

    model_config = ConfigDict(frozen=True)

    count: int
    trials: int
    rate: float
    ci: Interval

    @classmethod
    def of(cls, count: int, trials: int, confidence: float = CONFIDENCE) -> Rate:
        low, high = wilson_interval(count, trials, confidence)
        return cls(count=count, trials=trials, rate=count / trials if trials else 0.0, ci=Interval(low=low, high=high))


class Summary(BaseModel):
    """The agent's results over a set of games (failed games excluded from every rate and mean)."""

    games: int
    """Games played to their end."""
    failed: int
    win: Rate
    loss: Rate
    draw: Rate
    forfeit: Rate
    """Games the agent lost by an invalid move."""
    truncated: Rate
    mean_reward: float
    reward_ci: Interval
    reward_ci_unit: str
    """What the interval's samples are: ``game`` or ``paired group`` (the mean over one deal's seat rotations)."""
    mean_turns: float
    """The agent's moves per game."""
    invalid_moves: Rate
    """Invalid moves over the agent's moves (the game may go on after one, per the env's rule)."""
    tokens_per_turn: float | None
    """Completion tokens per move, for agents that report them."""


class OpponentResult(BaseModel):
    opponent: str
    overall: Summary
    by_seat: dict[str, Summary]
    """The agent's results in each seat (``player_0`` moves first in the shipped games)."""


class Provenance(BaseModel):
    agent: str
    env_id: str
    env_version: int | None
    env_kwargs: dict[str, Any]
    package_version: str
    seed: int
    games_per_opponent: int
    paired: bool
    ci: str
    confidence: float
    created: str
    command: list[str] | None
    python: str
    platform: str


class EvalResult(BaseModel):
    provenance: Provenance
    results: list[OpponentResult]
    notes: list[str] = Field(default_factory=list)

    def save(self, path: str | Path) -> Path:
        """Write as pretty JSON (atomic: a temporary file, then a rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(self.model_dump_json(indent=2) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> EvalResult:
        return cls.model_validate_json(Path(path).read_text())


def seatings_for(
    num_seats: int, games: int, seed: int, agent: str, opponent: str, paired: bool = True
) -> list[Seating]:
    """The games of ``agent`` against ``opponent``, the agent's seat rotating game by game.

    With ``paired`` each group of ``num_seats`` games shares one env seed (``seed + group``), so the same
    deal is played with the agent in every seat; ``games`` is rounded up to whole groups. Without it,
    game ``g`` has seed ``seed + g``.

    >>> [(s.seed, s.seats) for s in seatings_for(2, 4, 10, "a", "b")]
    [(10, ('a', 'b')), (10, ('b', 'a')), (11, ('a', 'b')), (11, ('b', 'a'))]
    """
    if games < 1:
        raise ValueError(f"games must be at least 1, got {games}")
    out = []
    total = math.ceil(games / num_seats) * num_seats if paired else games
    for g in range(total):
        seat = g % num_seats
        seats = tuple(agent if k == seat else opponent for k in range(num_seats))
        out.append(Seating(seed + (g // num_seats if paired else g), seats))
    return out


def play_matchups(
    make_env: Callable[[], Any],
    matchups: Sequence[tuple[str, str]],
    agents: dict[str, Agent],
    num_seats: int,
    games: int,
    seed: int,
    *,
    paired: bool,
    concurrency: int,
    transcripts: bool = False,
    on_game: Callable[[Episode], None] | None = None,
    progress: ProgressHook | None = None,
) -> list[list[Episode]]:
    """The games of every ``(agent, opponent)`` label pair (:func:`seatings_for`), all in flight together;
    one list of records per matchup, in order. ``progress`` hears of every game (see
    :func:`~gym_reason.eval.engine.play_episodes`)."""
    seatings: list[Seating] = []
    bounds = [0]
    for a, b in matchups:
        seatings += seatings_for(num_seats, games, seed, a, b, paired)
        bounds.append(len(seatings))
    records = play_episodes(labelled_requests(seatings, agents), make_env=make_env, concurrency=concurrency,
                            transcripts=transcripts, on_episode=on_game, progress=progress)  # fmt: skip
    return [records[start:end] for start, end in itertools.pairwise(bounds)]


def summarize(
    records: Sequence[Episode],
    label: str,
    *,
    paired: bool,
    ci: str = "t",
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Summary:
    """The results of ``label`` over ``records``: the one tally of outcomes, rewards, moves and tokens.

    Each seat ``label`` holds in a played record is one unit (a bot playing itself counts once per
    seat); a failed record counts once in ``failed`` and nowhere else. With ``paired`` the reward
    interval is over the mean of each seed's units (a deal played from every seat).
    """
    counts = dict.fromkeys(map(str, Outcome), 0)
    rewards: list[float] = []
    by_group: dict[int | None, list[float]] = {}
    moves = invalid = tokens = token_moves = 0
    failed = 0
    for r in records:
        if r.failed:
            failed += 1
            continue
        for seat in (k for k, who in enumerate(r.seats) if who == label):
            counts[str(r.outcomes[seat])] += 1
            rewards.append(r.rewards[seat])
            by_group.setdefault(r.seed, []).append(r.rewards[seat])
            moves += r.moves[seat]
            invalid += r.invalid_moves[seat]
            if r.tokens[seat] is not None:
                tokens += r.tokens[seat]
                token_moves += r.moves[seat]
    n = len(rewards)
    units = [sum(v) / len(v) for v in by_group.values()] if paired else rewards
    low, high = mean_ci(units, ci, confidence, seed)
    return Summary(
        games=n,
        failed=failed,
        **{o: Rate.of(counts[o], n, confidence) for o in map(str, Outcome)},
        mean_reward=sum(rewards) / n if n else 0.0,
        reward_ci=Interval(low=low, high=high),
        reward_ci_unit="paired group" if paired else "game",
        mean_turns=moves / n if n else 0.0,
        invalid_moves=Rate.of(invalid, moves, confidence),
        tokens_per_turn=tokens / token_moves if token_moves else None,
    )


def evaluate(
    agent: str | Agent,
    env_id: str,
    opponents: Sequence[str],
    games: int,
    seed: int = 0,
    *,
    env_kwargs: dict[str, Any] | None = None,
    paired: bool = True,
    concurrency: int = 256,
    ci: str = "t",
    confidence: float = CONFIDENCE,
    transcripts: str | Path | None = None,
    command: Sequence[str] | None = None,
    on_game: Callable[[Episode], None] | None = None,
    progress: ProgressHook | None = None,
) -> EvalResult:
    """Play ``agent`` (a spec such as ``runs/<id>``, ``hf:PATH``, ``fixed:nash``, or an Agent) against each
    opponent spec for ``games`` games on ``env_id``; all opponents' games run in flight together, so a
    batched agent answers them in shared calls.

    On a single-agent task the agent plays ``games`` episodes alone (seeds ``seed``, ``seed + 1``, ...;
    give no opponents) on the task's held-out split (:func:`held_out_kwargs`); the one result row,
    opponent :data:`TASK`, has the success rate as ``win`` and the mean return with its interval.

    ``transcripts``: a JSONL file to write every game to (seats, seed, rewards, outcomes, each move).
    ``progress``: a display told of the start and of every finished game (:class:`~gym_reason.eval.engine.ProgressHook`).
    """
    if ci not in CI_METHODS:
        raise ValueError(f"unknown interval method {ci!r}; valid: {list(CI_METHODS)}")
    env_kwargs = dict(env_kwargs or {})
    probe = gym_reason.make(env_id, **env_kwargs)
    task = not hasattr(probe, "agent_iter")
    if task:
        if opponents:
            raise ValueError(
                f"{env_id!r} is a single-agent task: the agent plays it alone; give no opponents (drop --opponents)"
            )
        env_kwargs = held_out_kwargs(probe, env_kwargs)
        if env_kwargs.get("split") == HELD_OUT and getattr(probe, "split", None) != HELD_OUT:
            probe.close()
            probe = gym_reason.make(env_id, **env_kwargs)
    elif not opponents:
        raise ValueError("give at least one opponent, e.g. opponents=['random', 'fixed:nash']")

    def make_env() -> Any:
        return gym_reason.make(env_id, **env_kwargs)

    num_seats = len(probe.possible_agents) if not task else 1
    seat_names = list(probe.possible_agents) if not task else [TASK_AGENT]
    full_id = registry.env_id_of(probe, env_id)
    agents: dict[str, Agent] = {
        AGENT: make_agent(agent, probe, seed=derive_seed(seed, 1)) if isinstance(agent, str) else agent
    }
    labels = []
    for j, spec in enumerate(dict.fromkeys(opponents)):
        agents[spec] = make_agent(spec, probe, seed=derive_seed(seed, 2, j))
        labels.append(spec)
    if task:
        paired = False
        labels = [TASK]
        seatings = [Seating(seed + g, (AGENT,)) for g in range(games)]
        groups = [play_episodes(labelled_requests(seatings, agents, full_id), make_env=make_env,
                                concurrency=concurrency, transcripts=transcripts is not None, on_episode=on_game,
                                progress=progress)]  # fmt: skip
    else:
        groups = play_matchups(make_env, [(AGENT, spec) for spec in labels], agents, num_seats, games, seed,
                               paired=paired, concurrency=concurrency, transcripts=transcripts is not None,
                               on_game=on_game, progress=progress)  # fmt: skip
    close = getattr(probe, "close", None)
    if close is not None:
        close()
    records = [r for group in groups for r in group]
    results = []
    for spec, mine in zip(labels, groups, strict=True):
        by_seat = {}
        for k, seat in enumerate(seat_names):
            in_seat = [r for r in mine if r.seats[k] == AGENT]
            by_seat[seat] = summarize(in_seat, AGENT, paired=False, ci=ci, confidence=confidence, seed=seed)
        overall = summarize(mine, AGENT, paired=paired, ci=ci, confidence=confidence, seed=seed)
        results.append(OpponentResult(opponent=spec, overall=overall, by_seat=by_seat))
    notes = []
    total = len(groups[0])
    if total != games:
        notes.append(f"games rounded up from {games} to {total} per opponent: whole paired groups of {num_seats}")
    if task and "split" in env_kwargs:
        notes.append(f"task evaluated on its {env_kwargs['split']!r} split (env_kwargs split=...)")
    failed = sum(r.failed for r in records)
    if failed:
        first = next(r.error for r in records if r.failed)
        notes.append(f"{failed} game(s) failed and are not scored; first error: {first}")
    if transcripts is not None:
        _write_transcripts(Path(transcripts), groups, labels, agent if isinstance(agent, str) else agent.name)
    provenance = Provenance(
        agent=agent if isinstance(agent, str) else getattr(agent, "name", type(agent).__name__),
        env_id=full_id,
        env_version=_version(full_id),
        env_kwargs=env_kwargs,
        package_version=gym_reason.__version__,
        seed=seed,
        games_per_opponent=total,
        paired=paired,
        ci=ci,
        confidence=confidence,
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        command=list(command) if command is not None else None,
        python=sys.version.split()[0],
        platform=platform.platform(),
    )
    return EvalResult(provenance=provenance, results=results, notes=notes)


def play_games(
    env: Any,
    agents: Sequence[Agent],
    labels: Sequence[str],
    games: int,
    seed: int = 0,
    alternate_seats: bool = False,
    on_game: Callable[[Episode], None] | None = None,
    on_step: StepHook | None = None,
) -> dict[str, Summary]:
    """Play ``games`` episodes on ``env`` one after another (seed ``seed + g``), one :class:`Summary` per label
    (``gym-reason play``); with ``alternate_seats`` game ``g`` rotates the seats by ``g``. A task has one seat.

    Agents that share a label share a summary (a bot against itself counts once per seat).
    """
    seats = len(env.possible_agents) if hasattr(env, "agent_iter") else 1
    if len(agents) != seats or len(labels) != len(agents):
        raise ValueError(
            f"{len(agents)} agents / {len(labels)} labels for an env with {seats} seat(s); give exactly one agent per seat"
        )
    by_label: dict[str, Agent] = {}
    for label, player in zip(labels, agents, strict=True):
        if by_label.setdefault(label, player) is not player:
            raise ValueError(f"label {label!r} names two different agents; give each agent its own label")
    seatings = []
    for g in range(games):
        shift = g % seats if alternate_seats else 0
        seatings.append(Seating(seed + g, tuple(labels[(k + shift) % seats] for k in range(seats))))
    records = play_episodes(labelled_requests(seatings, by_label), make_env=lambda: env, concurrency=1,
                            on_step=on_step, on_episode=on_game)  # fmt: skip
    return {label: summarize(records, label, paired=False) for label in dict.fromkeys(labels)}


def _version(env_id: str) -> int | None:
    """``gym_reason/KuhnPoker-v0`` -> 0."""
    _, sep, version = env_id.rpartition("-v")
    return int(version) if sep and version.isdigit() else None


def _write_transcripts(path: Path, groups: Sequence[Sequence[Episode]], opponents: Sequence[str], agent: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for opponent, group in zip(opponents, groups, strict=True):
            for record in group:
                line = {
                    "opponent": opponent,
                    "seed": record.seed,
                    "seats": [agent if s == AGENT else s for s in record.seats],
                    "rewards": record.rewards,
                    "outcomes": [None if o is None else str(o) for o in record.outcomes],
                    "error": record.error,
                    "moves": record.transcript,
                }
                f.write(json.dumps(line) + "\n")
