"""Monte-Carlo step values: K continuations of each learning turn's state, played with the current policy.

For every move the learner made in a batch, the env is put back where the move was made
(``env.restore`` of a snapshot taken while replaying the episode from its seed and moves) and
played on to the end K times from there (the *before* value) and K times after the move
(the *after* value), on the episode engine (:func:`gym_reason.eval.engine.play_episodes` with
``reset=False``), every seat played as it was in the episode: the learner by the policy being
trained, fixed opponents by their spec. The turn's advantage is
:func:`~gym_reason.trainer.advantages.step_value_advantage`: mean after minus mean before, both
counted from the moment of the move, so the move's own reward is in the after value and a
reward owed from earlier moves is in neither.

Each continuation reseeds its env's generator (``env.reseed``, where the env has it), so chance
after the turn (Leduc's public card) is drawn afresh and the values converge to the exact
``Q(h, a)`` and ``V(h)`` of :func:`gym_reason.eval.exact.exact_advantages`; an env without
``reseed`` continues with the snapshot's generator. An episode is replayed from its transcript
(``play_episodes(..., transcripts=True)``) or, when the learner held every seat, from its turns.

Cost: ``2 K`` continuations per learning turn, batched: each engine round samples every pending
turn of every continuation in one call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import torch

from gym_reason.agents import make_agent
from gym_reason.core import derive_seed
from gym_reason.eval.engine import LEARNER, Episode, EpisodeRequest, Learner, play_episodes
from gym_reason.policy import LMPolicy
from gym_reason.trainer.advantages import step_value_advantage

MakeEnv = Callable[[str], Any]
"""``make_env(env_id)``: a fresh env of that id, built as the episodes' envs were (same keyword arguments)."""


@dataclasses.dataclass
class Position:
    """The env as it was when the learner made one move of an episode."""

    env_id: str
    snapshot: Any
    seat: int
    """The mover's seat (index in the env's seat order)."""
    answer: str
    """What the learner answered there."""
    owed: float
    """Reward already owed to the mover there (earned by its earlier moves; not this move's)."""
    start: tuple[str, dict[str, Any]] | None = None
    """A task's pending ``(observation, info)`` (games read theirs from the env)."""


@dataclasses.dataclass
class StepValues:
    """Per learning turn: the continuations' returns from the state before the move and after it."""

    before: list[float]
    after: list[float]
    failed: list[str] = dataclasses.field(default_factory=list)
    """Errors of the continuations that failed (an env that raised, an agent that could not answer)."""

    @property
    def advantage(self) -> float | None:
        """The step value; ``None`` when a continuation failed: the turn is not credited, since a mean over
        the continuations that survived would lean toward the outcomes that do not fail."""
        if self.failed:
            return None
        return step_value_advantage(self.before, self.after)


def replay_positions(episode: Episode, make_env: MakeEnv) -> list[Position]:
    """The learner's positions in ``episode``, in the order of ``episode.turns``, replayed on a fresh env.

    Raises:
        ValueError: when the episode failed, or had seats the learner did not hold and no transcript
            (play it with ``transcripts=True``), or when the replay does not reach the recorded moves.
    """
    if episode.failed:
        raise ValueError(
            f"episode {episode.seed} of {episode.env_id!r} failed ({episode.error}); it cannot be replayed"
        )
    if episode.transcript is not None:
        moves = [(m["agent"], m["action"]) for m in episode.transcript]
    elif all(label == LEARNER for label in episode.seats):
        moves = [(None, turn.completion.text) for turn in episode.turns]
    else:
        raise ValueError(
            f"episode {episode.seed} of {episode.env_id!r} has seats {episode.seats} besides the learner's and no "
            "transcript; play it with transcripts=True to replay it"
        )
    env = make_env(episode.env_id)
    multi = hasattr(env, "agent_iter")
    view = env.reset(seed=episode.seed)
    positions: list[Position] = []
    for recorded, answer in moves:
        if multi:
            while env.agents and (env.terminations[env.agent_selection] or env.truncations[env.agent_selection]):
                env.step(None)
            agent = env.agent_selection
            if recorded is not None and recorded != agent:
                raise ValueError(
                    f"replaying episode {episode.seed} of {episode.env_id!r}: {recorded} moved, not {agent}"
                )
            seat = env.possible_agents.index(agent)
            if episode.seats[seat] == LEARNER:
                positions.append(Position(episode.env_id, env.snapshot(), seat, answer, env.last(observe=False)[1]))
            env.step(answer)
        else:
            positions.append(Position(episode.env_id, env.snapshot(), 0, answer, 0.0, start=view))
            obs, _, _, _, info = env.step(answer)
            view = (obs, info)
    if len(positions) != len(episode.turns):
        raise ValueError(
            f"replaying episode {episode.seed} of {episode.env_id!r} gave {len(positions)} learner moves, "
            f"the record {len(episode.turns)}"
        )
    return positions


def monte_carlo_step_values(
    policy: LMPolicy,
    episodes: Sequence[Episode],
    continuations: int,
    make_env: MakeEnv,
    generator: torch.Generator,
    seed: int,
    chunk: int = 1024,
) -> list[list[StepValues]]:
    """Before and after values of every learning turn of ``episodes`` (per episode, per turn), from
    ``continuations`` continuations each way; failed episodes get an empty list.

    ``seed`` seeds the continuations' chance and their fixed opponents; ``generator`` the policy's
    sampling. At most ``chunk`` continuations are in flight at once (each holds an env).
    """
    if continuations < 1:
        raise ValueError(f"continuations (mc_continuations) must be at least 1, got {continuations}")
    learner = Learner(policy, generator)
    jobs: list[tuple[int, int, Position, Sequence[str]]] = []
    out: list[list[StepValues]] = []
    for e, episode in enumerate(episodes):
        out.append([])
        if episode.failed:
            continue
        for j, position in enumerate(replay_positions(episode, make_env)):
            out[e].append(StepValues([], []))
            jobs.append((e, j, position, episode.seats))
    pool: dict[str, list[Any]] = {}
    opponents: dict[tuple[str, str], Any] = {}  # one agent per spec and env: it answers all its continuations at once
    per_job = 2 * continuations
    step = max(1, chunk // per_job)
    for first in range(0, len(jobs), step):
        batch = jobs[first : first + step]
        used: dict[str, int] = {}
        requests, slots = [], []
        for e, j, position, labels in batch:
            for k in range(per_job):
                envs = pool.setdefault(position.env_id, [])
                n = used.get(position.env_id, 0)
                used[position.env_id] = n + 1
                if n == len(envs):
                    envs.append(make_env(position.env_id))
                players = [
                    None if label == LEARNER else _opponent(opponents, label, envs[n], derive_seed(seed, s))
                    for s, label in enumerate(labels)
                ]
                try:
                    request, immediate = _continuation(
                        envs[n], position, k >= continuations, players, labels, derive_seed(seed, e, j, k)
                    )
                except Exception as error:  # the env broke while being positioned: a failed continuation
                    envs[n] = make_env(position.env_id)  # not reused in its unknown state
                    out[e][j].failed.append(f"positioning the continuation: {error!r}")
                    continue
                requests.append(request)
                slots.append((e, j, k >= continuations, immediate, position))
        played = play_episodes([r for r in requests if r is not None], learner=learner)
        results = iter(played)
        for request, (e, j, after, immediate, position) in zip(requests, slots, strict=True):
            value = immediate
            if request is not None:
                continuation = next(results)
                if continuation.failed:
                    out[e][j].failed.append(str(continuation.error))
                    continue
                value += continuation.rewards[position.seat] - (0.0 if after else position.owed)
            values = out[e][j]
            (values.after if after else values.before).append(value)
    return out


def _opponent(opponents: dict[tuple[str, str], Any], spec: str, env: Any, seed: int) -> Any:
    key = (getattr(env, "metadata", {}).get("name", type(env).__name__), spec)
    if key not in opponents:
        opponents[key] = make_agent(spec, env, seed=seed)
    return opponents[key]


def _continuation(
    env: Any, position: Position, after: bool, players: list[Any], labels: Sequence[str], seed: int
) -> tuple[EpisodeRequest | None, float]:
    """A request that plays on from ``position`` (after its move, if ``after``), and the reward already
    counted (a task's reward for the move); ``None`` when nothing is left to play."""
    env.restore(position.snapshot)
    reseed = getattr(env, "reseed", None)
    if reseed is not None:
        reseed(seed)
    start = position.start
    immediate = 0.0
    if after:
        if hasattr(env, "agent_iter"):
            env.step(position.answer)
        else:
            obs, reward, terminated, truncated, info = env.step(position.answer)
            immediate = float(reward)
            if terminated or truncated:
                return None, immediate
            start = (obs, info)
    request = EpisodeRequest(
        position.env_id, env, seed=None, players=players, labels=list(labels), reset=False, start=start
    )
    return request, immediate


def monte_carlo_advantages(values: Sequence[Sequence[StepValues]]) -> list[list[float | None]]:
    """:func:`~gym_reason.trainer.advantages.step_value_advantage` of every turn's values (``None`` where a
    continuation failed).

    >>> monte_carlo_advantages([[StepValues([0.0, 1.0], [1.0, 1.0]), StepValues([1.0], [0.0], ["boom"])], []])
    [[0.5, None], []]
    """
    return [[v.advantage for v in row] for row in values]
