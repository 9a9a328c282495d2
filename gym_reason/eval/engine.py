"""The episode engine: plays any registered env with any seats, many episodes in flight, batched.

Everything that plays episodes runs on :func:`play_episodes`: ``gym-reason play``, ``eval`` and
``tournament`` (:mod:`gym_reason.eval.evaluation`, :mod:`gym_reason.eval.tournament`), self-play
rollouts (:mod:`gym_reason.trainer.rollout`) and the trainer's evaluation
(:mod:`gym_reason.trainer.policy_eval`).

* **Envs.** Turn-based games (PettingZoo AEC: agents ``player_0``, ...) and single-agent tasks
  (Gymnasium: one agent, named :data:`TASK_AGENT`). A game walks past finished agents (the dead
  ``step(None)``); a task ends at ``terminated or truncated``.
* **Seats.** Each :class:`EpisodeRequest` names a player per seat: an
  :class:`~gym_reason.agents.base.Agent` (random, fixed bots, ``hf:``/``openai:``/checkpoint agents,
  a human) or a :class:`Learner`, the policy being trained, whose moves are recorded token by token
  as :class:`Turn` objects (the completion, the reward and ``reward_components`` it earned).
* **Batching.** Each round gathers the pending turn of every episode in flight and gives every
  player all of its turns in one call: one ``act`` per agent, one :meth:`Learner.complete` (one
  batched ``LMPolicy.sample``) per learner. Players are grouped by identity, so one agent object
  seated in many episodes (and envs) answers them together.
* **Failures.** An episode whose env raises, or whose agent could not answer (an
  :class:`~gym_reason.agents.base.AgentError`), is recorded as *failed* (``episode.error``; every
  outcome ``None``): counted, never scored. Other exceptions of an agent (a refused API key, a
  closed terminal) stop the run: they are the caller's to fix.
* **Timeouts.** With ``episode_timeout`` (seconds of wall time from the episode's reset), env calls
  (reset, step, a game's walk past finished agents) run on threads and no episode waits for another:
  a round waits for the env calls it started at most :data:`STRAGGLER_SHARE` of the timeout, then
  goes on with the episodes that are ready; a straggler rejoins a later round's batch when its call
  returns. An episode past its deadline is *cut*: recorded as failed with ``episode.timed_out`` set
  (counted, never scored, like any failed episode). Its env is not used again: closed at once when
  idle, or, when a call is still blocked in it, abandoned to that call's (daemon) thread, which
  closes it when (if ever) the call returns; a caller that pools envs replaces it. Players are not
  cut mid-answer (one batched model call serves many episodes): an episode whose deadline passed
  during an answer is cut before its env steps. An ``on_step`` hook would run on those threads, so
  it cannot be combined with a timeout; nor can envs tied to the thread that built them
  (Playwright's sync API): cut those through Ray env workers (``trainer/ray_workers.py``). As long
  as no env call takes longer than the straggler window, the rounds and batches (so the sampled
  moves) are those of a run without a timeout.
* **Rewards.** The reward an agent receives between its move and its next observation (or the end)
  belongs to that move, with its ``reward_components``; an episode's return per seat is their sum.
* **Hooks.** ``on_step(agent, observation, info, action)`` (``action`` is ``None`` on an agent's
  final view), ``on_episode(episode)`` after each, and a :class:`ProgressHook` display.

**Positioned envs (continuations).** A request with ``reset=False`` plays on from the env's current
state (``env.restore(snapshot)`` put it there) instead of resetting it: Monte-Carlo step values
play K continuations of one turn's state this way. A game's pending turn is read from the env
(``env.last()``); a task's must be given as ``start=(observation, info)``, the pair its last
``step`` (or ``reset``) returned. Returns count from that point on. Give each continuation its own
env (``copy.deepcopy`` or one env per continuation, each restored), since episodes in flight
share nothing:

>>> import copy, gym_reason
>>> from gym_reason.agents import make_agent
>>> env = gym_reason.make("kuhn_poker")
>>> _ = env.reset(seed=3)
>>> env.step("[bet]")  # player_0 bets; player_1 is to answer
>>> nash = make_agent("fixed:nash", env, seed=0)
>>> snapshot = env.snapshot()
>>> forks = []
>>> for k in range(4):
...     fork = copy.deepcopy(env)
...     fork.restore(snapshot)
...     forks.append(EpisodeRequest("kuhn_poker", fork, players=(nash, nash), reset=False))
>>> episodes = play_episodes(forks)
>>> [e.moves for e in episodes]  # one move each: player_1's answer
[[0, 1], [0, 1], [0, 1], [0, 1]]
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import queue
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from gym_reason.agents.base import Agent, AgentError
from gym_reason.core import INVALID_ACTION, OUTCOME, REWARD_COMPONENTS, ROLE, STATE_KEY, AnswerFormat, Outcome

if TYPE_CHECKING:
    import torch

    from gym_reason.policy import Completion, LMPolicy

TASK_AGENT = "agent"
"""The name of a single-agent task's one seat."""

LEARNER = "policy"
"""The label of a :class:`Learner`'s seats in episode records."""

STRAGGLER_SHARE = 0.1
"""With an ``episode_timeout``: the most a round waits for the env calls it started, as a share of the timeout;
the episodes whose call is still running then stay out of the round's batch (they rejoin later, or are cut)."""

StepHook = Callable[[str, str, dict[str, Any], str | None], None]
"""``on_step(agent_name, observation, info, action)``; ``action`` is ``None`` on an agent's final view."""


class ProgressHook(Protocol):
    """What :func:`play_episodes` tells a progress display (the CLI's is :class:`gym_reason.progress.GamesProgress`)."""

    def start(self, total: int, agents: Mapping[str, Any]) -> None:
        """Before the first episode: ``total`` episodes will be played by ``agents`` (label -> player)."""

    def game_done(self, record: Episode) -> None:
        """After each episode, played to its end or failed."""


class Learner:
    """The seat of the policy being trained: samples with it and has every move recorded as a :class:`Turn`.

    One :meth:`complete` call per round answers all the learner's pending turns (one batched
    ``LMPolicy.sample``), prompts rendered per env id, legal answers and answer format per turn.
    """

    name = LEARNER

    def __init__(self, policy: LMPolicy, generator: torch.Generator) -> None:
        self.policy = policy
        self.generator = generator

    def complete(self, batch: Sequence[tuple[str, str, dict[str, Any], AnswerFormat]]) -> list[Completion]:
        """One completion per ``(env_id, observation, info, answer_format)``, in order."""
        from gym_reason.policy import action_grammar

        prompts = [self.policy.prompt(env_id, obs, info) for env_id, obs, info, _ in batch]
        grammars = [action_grammar(info) for _, _, info, _ in batch]
        return self.policy.sample(prompts, grammars, self.generator, [fmt for _, _, _, fmt in batch])


Player = Agent | Learner


@dataclasses.dataclass
class Turn:
    """One move of a :class:`Learner`, with what it earned."""

    env_id: str
    role: str
    completion: Completion
    invalid: bool = False
    reward: float = 0.0
    components: dict[str, float] = dataclasses.field(default_factory=dict)
    advantage: float = 0.0
    state_key: Any = None
    """``info[STATE_KEY]`` where the move was made: state-grouped advantages group turns by it."""
    agent: str = ""
    """The seat that moved (``player_0``, ...): in a game that deals roles several seats share a ``role``."""


@dataclasses.dataclass
class EpisodeRequest:
    """One episode to play.

    ``env``: the env to play it on; ``None`` takes one from :func:`play_episodes`' ``make_env`` pool.
    ``players``: one per seat in the env's seat order (``possible_agents``; a task has one); seats
    left out, or ``None``, go to ``play_episodes``' ``learner``. ``labels``: the names of the seats in
    the record, in seat order (default: the player's ``name``). ``reset=False``: the env is already
    positioned (a restored snapshot) and the episode continues from there (see the module docstring);
    ``start`` is then a task's pending ``(observation, info)``.
    """

    env_id: str
    env: Any = None
    seed: int | None = None
    players: Sequence[Player | None] = ()
    labels: Sequence[str] = ()
    reset: bool = True
    start: tuple[str, dict[str, Any]] | None = None


@dataclasses.dataclass
class Episode:
    """One episode played to its end (or failed): per seat, in the env's seat order, what happened."""

    seed: int | None
    seats: list[str]
    """The label of each seat's player."""
    rewards: list[float]
    """Each seat's return."""
    outcomes: list[Outcome | None]
    """Each seat's outcome (``truncated`` where the env stated none); ``None`` for every seat of a failed episode."""
    invalid_moves: list[int]
    moves: list[int]
    """Moves made by each seat."""
    tokens: list[int | None]
    """Completion tokens each seat's player reported (``None`` when it reports none)."""
    error: str | None = None
    """Why the episode failed, or ``None`` when it was played to its end."""
    transcript: list[dict[str, Any]] | None = None
    """Every move (agent, observation, action, invalid), when asked for."""
    env_id: str = ""
    agents: list[str] = dataclasses.field(default_factory=list)
    """The env's seat names (``player_0``, ... or :data:`TASK_AGENT`)."""
    turns: list[Turn] = dataclasses.field(default_factory=list)
    """The learner's moves, token by token, in the order played."""
    timed_out: bool = False
    """Cut at ``episode_timeout`` (so also failed: ``error`` says so); its env was discarded."""
    policy_version: int | None = None
    """Which weights sampled the learner's moves: the number of updates applied to them (set by the trainer)."""

    @property
    def failed(self) -> bool:
        return self.error is not None

    def policy_agents(self) -> list[str]:
        """The seats the learner played."""
        return [agent for agent, label in zip(self.agents, self.seats, strict=True) if label == LEARNER]

    @property
    def returns(self) -> dict[str, float]:
        """Each seat's return by agent name."""
        return dict(zip(self.agents, self.rewards, strict=True))


def _describe(error: BaseException) -> str:
    return "".join(traceback.format_exception_only(error)).strip()


class _Live:
    """An episode in flight: ``pending()`` walks to the next turn, ``play()`` makes it."""

    def __init__(self, index: int, request: EpisodeRequest, env: Any, players: list[Player], keep_transcript: bool):
        self.index = index
        self.env = env
        self.env_id = request.env_id
        self.multi = hasattr(env, "agent_iter")
        agents = list(env.possible_agents) if self.multi else [TASK_AGENT]
        if len(players) != len(agents):
            raise ValueError(
                f"{len(players)} players for {request.env_id!r}, which has {len(agents)} seats ({agents}); "
                "give one player per seat"
            )
        self.players = players
        self.seat_of = {a: i for i, a in enumerate(agents)}
        self.answer_format = AnswerFormat.named(getattr(env, "answer_format", "bracket"))
        n = len(agents)
        labels = list(request.labels) or [p.name for p in players]
        self.episode = Episode(
            seed=request.seed, seats=labels, rewards=[0.0] * n, outcomes=[Outcome.TRUNCATED] * n,
            invalid_moves=[0] * n, moves=[0] * n, tokens=[None] * n,
            transcript=[] if keep_transcript else None, env_id=request.env_id, agents=agents,
        )  # fmt: skip
        self.last_turn: list[Turn | None] = [None] * n
        self.done = False
        self.deadline = float("inf")
        """``time.monotonic()`` past which the episode is cut (with an ``episode_timeout``)."""
        self.abandoned = False
        """Cut while an env call still ran in it (that call's thread closes the env)."""
        self.request = request
        self.task_view = request.start
        if not request.reset and not self.multi and request.start is None:
            raise ValueError(
                f"request for the task {request.env_id!r} has reset=False but no start; give start=(observation, "
                "info), the pair the env's last step or reset returned"
            )

    def begin(self) -> None:
        """Reset the env for this episode (unless the request continues from its current state)."""
        if self.request.reset:
            view = self.env.reset(seed=self.request.seed)
            if not self.multi:
                self.task_view = view

    def _credit(self, seat: int, reward: float, info: dict[str, Any]) -> None:
        self.episode.rewards[seat] += reward
        turn = self.last_turn[seat]
        components = info.get(REWARD_COMPONENTS)
        if turn is None or (reward == 0 and not components):
            return
        turn.reward += reward
        for name, value in (components or {"reward": reward}).items():
            turn.components[name] = turn.components.get(name, 0.0) + float(value)

    def _end(self, seat: int, info: dict[str, Any]) -> None:
        self.episode.outcomes[seat] = Outcome(info[OUTCOME]) if OUTCOME in info else Outcome.TRUNCATED

    def pending(self, on_step: StepHook | None) -> tuple[str, str, dict[str, Any]] | None:
        """The agent to move with its view, after passing over finished agents; ``None`` at the end."""
        if self.done:
            return None
        if not self.multi:
            assert self.task_view is not None
            return TASK_AGENT, *self.task_view
        env = self.env
        while env.agents:
            agent = env.agent_selection
            obs, reward, terminated, truncated, info = env.last()
            seat = self.seat_of[agent]
            self._credit(seat, reward, info)
            if not (terminated or truncated):
                return agent, obs, info
            self._end(seat, info)
            if on_step is not None:
                on_step(agent, obs, info, None)
            env.step(None)
        self.done = True
        return None

    def play(
        self, agent: str, obs: str, answer: str, tokens: int | None, turn: Turn | None, on_step: StepHook | None
    ) -> None:
        episode, seat = self.episode, self.seat_of[agent]
        episode.moves[seat] += 1
        if tokens is not None:
            episode.tokens[seat] = (episode.tokens[seat] or 0) + tokens
        if turn is not None:
            episode.turns.append(turn)
        self.last_turn[seat] = turn
        if self.multi:
            self.env.step(answer)
            invalid = bool(self.env.infos.get(agent, {}).get(INVALID_ACTION))
        else:
            obs_after, reward, terminated, truncated, info = self.env.step(answer)
            invalid = bool(info.get(INVALID_ACTION))
            self._credit(seat, float(reward), info)
            self.task_view = (obs_after, info)
            if terminated or truncated:
                self._end(seat, info)
                self.done = True
        episode.invalid_moves[seat] += invalid
        if turn is not None:
            turn.invalid = invalid
        if episode.transcript is not None:
            episode.transcript.append({"agent": agent, "observation": obs, "action": answer, "invalid": invalid})
        if self.done and on_step is not None:  # a task's final view (a game's comes through pending)
            on_step(agent, *self.task_view, None)

    def fail(self, error: str) -> None:
        self.episode.error = error
        self.episode.outcomes = [None] * len(self.episode.outcomes)
        self.done = True

    # --- with an episode_timeout: env work run on a thread, ending at the next pending turn -----
    def open(self) -> tuple[str, str, dict[str, Any]] | None:
        """Reset (a failure raises :class:`_ResetFailed`), then walk to the first turn."""
        try:
            self.begin()
        except Exception as error:
            raise _ResetFailed from error
        return self.pending(None)

    def advance(
        self, agent: str, obs: str, answer: str, tokens: int | None, turn: Turn | None
    ) -> tuple[str, str, dict[str, Any]] | None:
        """Make the move, then walk to the next turn."""
        self.play(agent, obs, answer, tokens, turn, None)
        return self.pending(None)

    def cut(self, timeout: float, blocked_in: str | None) -> None:
        """Past the deadline: failed as timed out; ``blocked_in`` names the env call left running, if any."""
        where = f" (abandoned in {blocked_in}, still running)" if blocked_in else ""
        self.fail(f"timed out: the episode ran past episode_timeout={timeout:g} s of wall time{where}")
        self.episode.timed_out = True
        self.abandoned = blocked_in is not None


class _ResetFailed(Exception):
    """The env raised in reset (the cause): recorded as a reset failure, as without a timeout."""


def _close_env(env: Any) -> None:
    """Close a discarded env; one that fails to close is as gone as it gets."""
    close = getattr(env, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):  # a timed-out env may be broken; its episode is already recorded
            close()


class _Workers:
    """Daemon threads that run env calls, started as needed and kept (starting a thread costs milliseconds on a
    loaded machine, more than a game's step). Every call gets a worker of its own at once: one that is idle, or
    a new one; a call that never returns keeps its worker, and the pool grows past it."""

    def __init__(self) -> None:
        self._tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, task: Callable[[], None]) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1  # that worker takes this task: no task waits behind a blocked one
            else:
                threading.Thread(target=self._serve, daemon=True, name="gym-reason-env-call").start()
        self._tasks.put(task)

    def _serve(self) -> None:
        while True:
            self._tasks.get()()
            with self._lock:
                self._idle += 1


_WORKERS = _Workers()


class _EnvCall:
    """One episode's env work on a worker thread (:class:`_Workers`), so the engine can stop waiting for it.

    ``finished`` is read and :meth:`abandon` runs under ``signal`` (the engine's condition, notified when a
    call returns). An abandoned call's thread runs on until the env returns, then closes the env; being a
    daemon, a call that never returns does not keep the process alive.
    """

    def __init__(self, game: _Live, work: Callable[[], Any], what: str, signal: threading.Condition) -> None:
        self.game, self.what, self.signal = game, what, signal
        self.result: Any = None
        self.error: Exception | None = None
        self.finished = False
        self._abandoned = False
        _WORKERS.submit(functools.partial(self._run, work))

    def _run(self, work: Callable[[], Any]) -> None:
        try:
            result, error = work(), None
        except Exception as raised:  # the episode fails with it, as on the engine's own thread
            result, error = None, raised
        with self.signal:
            self.result, self.error, self.finished = result, error, True
            abandoned = self._abandoned
            self.signal.notify_all()
        if abandoned:
            _close_env(self.game.env)

    def abandon(self) -> bool:
        """Stop waiting: ``True`` if the call was still running (its thread closes the env when it returns)."""
        with self.signal:
            self._abandoned = not self.finished
            return self._abandoned


def _gather(calls: Sequence[_EnvCall], started: Sequence[_EnvCall], window: float, signal: threading.Condition) -> None:
    """Wait until the calls ``started`` since the last gather have all returned, or ``window`` seconds have
    passed with at least one call back; with none back, until one returns; never past a running call's deadline."""
    until = time.monotonic() + window
    with signal:
        while True:
            busy = [c for c in calls if not c.finished]
            if not busy:
                return
            now = time.monotonic()
            deadline = min(c.game.deadline for c in busy)
            some_back = len(busy) < len(calls)
            if now >= deadline or (some_back and (now >= until or all(c.finished for c in started))):
                return
            signal.wait((min(until, deadline) if some_back else deadline) - now)


def _answer(
    player: Player, batch: list[tuple[_Live, str, str, dict[str, Any]]]
) -> tuple[list[str | None], dict[int, str], list[int | None], list[Turn | None]]:
    """One call to ``player`` for all its pending turns: answers (``None`` where it could not answer),
    errors by index, completion tokens and the learner's turn records."""
    if isinstance(player, Learner):
        completions = player.complete([(g.env_id, obs, info, g.answer_format) for g, _, obs, info in batch])
        turns: list[Turn | None] = [
            Turn(
                env_id=g.env_id,
                role=str(info.get(ROLE, agent)),
                completion=c,
                state_key=info.get(STATE_KEY),
                agent=agent,
            )
            for (g, agent, _, info), c in zip(batch, completions, strict=True)
        ]
        return [c.text for c in completions], {}, [len(c.completion_ids) for c in completions], turns
    try:
        answers: list[str | None] = list(player.act([(obs, info) for _, _, obs, info in batch]))
        errors: dict[int, str] = {}
    except AgentError as error:
        answers, errors = error.answers, error.errors
    if len(answers) != len(batch):
        raise RuntimeError(f"agent {player.name!r} gave {len(answers)} answers for {len(batch)} observations")
    tokens = list(getattr(player, "last_tokens", None) or [])
    tokens += [None] * (len(batch) - len(tokens))
    return answers, errors, tokens, [None] * len(batch)


def play_episodes(
    requests: Sequence[EpisodeRequest],
    *,
    learner: Learner | None = None,
    make_env: Callable[[], Any] | None = None,
    concurrency: int | None = None,
    transcripts: bool = False,
    on_step: StepHook | None = None,
    on_episode: Callable[[Episode], None] | None = None,
    progress: ProgressHook | None = None,
    max_rounds: int = 100_000,
    episode_timeout: float | None = None,
) -> list[Episode]:
    """Play every request to its end with up to ``concurrency`` episodes in flight (default: all).

    Returns one :class:`Episode` per request, in order. ``learner`` plays the seats a request leaves
    open. ``make_env()`` builds the env of requests that bring none; at most ``concurrency`` are built,
    each reused (reset) for the next such request, and closed at the end. ``episode_timeout``: cut an
    episode after this many seconds of wall time (see *Timeouts* in the module docstring).
    """
    if concurrency is not None and concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    if episode_timeout is not None and not episode_timeout > 0:
        raise ValueError(
            f"episode_timeout must be a positive number of seconds (None: no timeout), got {episode_timeout!r}"
        )
    if episode_timeout is not None and on_step is not None:
        raise ValueError(
            "episode_timeout runs env calls on threads, where an on_step hook would run too; drop on_step "
            "(on_episode still works) or episode_timeout"
        )
    seats = [_players(request, learner) for request in requests]
    if make_env is None and any(r.env is None for r in requests):
        raise ValueError("requests without an env need make_env, e.g. make_env=lambda: gym_reason.make('kuhn_poker')")
    limit = concurrency or max(len(requests), 1)
    episodes: list[Episode | None] = [None] * len(requests)
    if progress is not None:
        labelled: dict[str, Any] = {}
        for request, players in zip(requests, seats, strict=True):
            for label, player in zip(list(request.labels) or [p.name for p in players], players, strict=False):
                labelled.setdefault(label, player)
        progress.start(len(requests), labelled)
    made: list[Any] = []
    free: list[Any] = []
    discarded: list[Any] = []  # envs of timed-out episodes: never reused, closed by the engine or their blocked call

    def take_env(request: EpisodeRequest) -> Any:
        env = request.env
        if env is None and free:
            env = free.pop()
        elif env is None:
            env = make_env()  # type: ignore[misc]
            if all(env is not other for other in made):
                made.append(env)
        return env

    def store(game: _Live) -> None:
        episodes[game.index] = game.episode
        if game.episode.timed_out:
            discarded.append(game.env)
            if not game.abandoned:  # idle between calls: closed now
                _close_env(game.env)
        elif game.env is not requests[game.index].env:
            free.append(game.env)
        if on_episode is not None:
            on_episode(game.episode)
        if progress is not None:
            progress.game_done(game.episode)

    def reset_failed(index: int, error: BaseException) -> None:  # the env is dropped (not reused)
        failed = _failed_episode(requests[index], seats[index], f"reset: {_describe(error)}")
        episodes[index] = failed
        if on_episode is not None:
            on_episode(failed)
        if progress is not None:
            progress.game_done(failed)

    def missed(index: int) -> None:  # never started: the rounds ran out first
        episodes[index] = _failed_episode(requests[index], seats[index], f"not started in {max_rounds} rounds")

    if episode_timeout is not None:
        try:
            _play_with_deadlines(
                requests, seats, limit, transcripts, episode_timeout, max_rounds, take_env, store, reset_failed, missed
            )
        finally:
            for env in made:
                if all(env is not gone for gone in discarded):
                    _close_env(env)
        return episodes  # type: ignore[return-value]
    live: list[_Live] = []
    next_index = 0
    try:
        for _ in range(max_rounds):
            while len(live) < limit and next_index < len(requests):
                request = requests[next_index]
                game = _Live(next_index, request, take_env(request), seats[next_index], transcripts)  # raises if unfit
                try:
                    game.begin()
                    live.append(game)
                except Exception as error:  # an env that cannot even reset: recorded, not fatal; the env is dropped
                    reset_failed(next_index, error)
                next_index += 1
            if not live:
                break
            batches: dict[int, tuple[Player, list[tuple[_Live, str, str, dict[str, Any]]]]] = {}
            still = []
            for game in live:
                try:
                    turn = game.pending(on_step)
                except Exception as error:
                    game.fail(_describe(error))
                    turn = None
                if turn is None:
                    store(game)
                    continue
                still.append(game)
                player = game.players[game.seat_of[turn[0]]]
                batches.setdefault(id(player), (player, []))[1].append((game, *turn))
            live = still
            for player, batch in batches.values():
                answers, errors, tokens, turns = _answer(player, batch)
                for (game, *_), answer in zip(batch, answers, strict=True):  # remote envs (trainer/ray_workers.py):
                    if answer is not None and hasattr(game.env, "submit_step"):  # the round's steps run at once
                        game.env.submit_step(answer)
                for k, (game, agent, obs, info) in enumerate(batch):
                    answer = answers[k]
                    if answer is None:
                        game.fail(f"agent {player.name!r} could not answer: {errors.get(k, 'no answer')}")
                        continue
                    if on_step is not None:
                        on_step(agent, obs, info, answer)
                    try:
                        game.play(agent, obs, answer, tokens[k], turns[k], on_step)
                    except Exception as error:
                        game.fail(_describe(error))
            for game in [g for g in live if g.episode.failed]:
                store(game)
            live = [g for g in live if not g.episode.failed]
        else:
            for game in live:
                game.fail(f"RuntimeError: episode still running after {max_rounds} rounds")
                store(game)
            for index in range(next_index, len(requests)):
                missed(index)
    finally:
        for env in made:
            close = getattr(env, "close", None)
            if close is not None:
                close()
    return episodes  # type: ignore[return-value]


def _play_with_deadlines(
    requests: Sequence[EpisodeRequest],
    seats: Sequence[list[Player]],
    limit: int,
    transcripts: bool,
    timeout: float,
    max_rounds: int,
    take_env: Callable[[EpisodeRequest], Any],
    store: Callable[[_Live], None],
    reset_failed: Callable[[int, BaseException], None],
    missed: Callable[[int], None],
) -> None:
    """:func:`play_episodes`' rounds with an episode timeout: each episode's env work (reset or move, then the
    walk to its next turn) runs on a thread; a round answers the episodes that are ready (see *Timeouts*)."""
    signal = threading.Condition()
    live: list[_Live] = []
    calls: dict[int, _EnvCall] = {}  # game index -> its env work in flight (or back, not yet collected)
    started: list[_EnvCall] = []
    next_index = 0
    for _ in range(max_rounds):
        while len(live) < limit and next_index < len(requests):
            request = requests[next_index]
            game = _Live(next_index, request, take_env(request), seats[next_index], transcripts)  # raises if unfit
            game.deadline = time.monotonic() + timeout
            calls[game.index] = _EnvCall(game, game.open, "reset", signal)
            started.append(calls[game.index])
            live.append(game)
            next_index += 1
        if not live:
            return
        _gather(list(calls.values()), started, timeout * STRAGGLER_SHARE, signal)
        started = []
        now = time.monotonic()
        batches: dict[int, tuple[Player, list[tuple[_Live, str, str, dict[str, Any]]]]] = {}
        still = []
        for game in live:
            call = calls[game.index]
            if not call.finished and now < game.deadline:
                still.append(game)  # a straggler: it stays in flight and rejoins when its call returns
                continue
            del calls[game.index]
            if call.abandon():
                game.cut(timeout, blocked_in=call.what)
            elif isinstance(call.error, _ResetFailed):
                reset_failed(game.index, call.error.__cause__ or call.error)
                continue
            elif call.error is not None:
                game.fail(_describe(call.error))
            if game.done:
                store(game)
                continue
            still.append(game)
            agent, obs, info = call.result
            player = game.players[game.seat_of[agent]]
            batches.setdefault(id(player), (player, []))[1].append((game, agent, obs, info))
        live = still
        for player, batch in batches.values():
            answers, errors, tokens, turns = _answer(player, batch)
            for (game, *_), answer in zip(batch, answers, strict=True):  # remote envs: the round's steps at once
                if answer is not None and hasattr(game.env, "submit_step"):
                    game.env.submit_step(answer)
            for k, (game, agent, obs, _) in enumerate(batch):
                if answers[k] is None:
                    game.fail(f"agent {player.name!r} could not answer: {errors.get(k, 'no answer')}")
                elif time.monotonic() >= game.deadline:
                    game.cut(timeout, blocked_in=None)  # the answer took it past its deadline
                else:
                    move = functools.partial(game.advance, agent, obs, answers[k], tokens[k], turns[k])
                    calls[game.index] = _EnvCall(game, move, "step", signal)
                    started.append(calls[game.index])
        for game in [g for g in live if g.episode.failed]:
            store(game)
        live = [g for g in live if not g.episode.failed]
    else:
        for game in live:
            call = calls.get(game.index)
            if call is not None and call.abandon():
                game.cut(timeout, blocked_in=call.what)
            else:
                game.fail(f"RuntimeError: episode still running after {max_rounds} rounds")
            store(game)
        for index in range(next_index, len(requests)):
            missed(index)


def _players(request: EpisodeRequest, learner: Learner | None) -> list[Player]:
    """The request's player per seat, open seats given to ``learner``."""
    env = request.env
    count = len(env.possible_agents) if env is not None and hasattr(env, "agent_iter") else None
    if env is not None and count is None:
        count = 1
    players = list(request.players)
    if count is not None:
        players += [None] * (count - len(players))
    if any(p is None for p in players) or not players:
        if learner is None:
            raise ValueError(
                f"request for {request.env_id!r} leaves seats open but no learner was given; name a player per "
                "seat (players=...) or pass learner=Learner(policy, generator)"
            )
        players = [learner if p is None else p for p in players] or [learner]
    return players  # type: ignore[return-value]


def _failed_episode(request: EpisodeRequest, players: Sequence[Player], error: str) -> Episode:
    n = len(players)
    labels = list(request.labels) or [p.name for p in players]
    return Episode(request.seed, labels, [0.0] * n, [None] * n, [0] * n, [0] * n, [None] * n, error=error,
                   env_id=request.env_id)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Seating:
    """One episode to play by label: the env seed and the agent label at each seat (``player_0`` first)."""

    seed: int
    seats: tuple[str, ...]


def labelled_requests(
    seatings: Sequence[Seating], agents: Mapping[str, Player], env_id: str = ""
) -> list[EpisodeRequest]:
    """Requests that seat ``agents`` by label, their envs taken from :func:`play_episodes`' pool.

    >>> import gym_reason
    >>> from gym_reason.agents import make_agent
    >>> env = gym_reason.make("kuhn_poker")
    >>> agents = {"nash": make_agent("fixed:nash", env, seed=1), "random": make_agent("random", env, seed=2)}
    >>> requests = labelled_requests([Seating(7, ("nash", "random"))], agents)
    >>> episode, = play_episodes(requests, make_env=lambda: gym_reason.make("kuhn_poker"))
    >>> episode.seats, sum(episode.rewards)
    (['nash', 'random'], 0.0)
    """
    unknown = sorted({label for s in seatings for label in s.seats} - set(agents))
    if unknown:
        raise ValueError(f"seatings name agents {unknown} that are not in agents {sorted(agents)}")
    return [
        EpisodeRequest(env_id, seed=s.seed, players=[agents[x] for x in s.seats], labels=list(s.seats))
        for s in seatings
    ]
