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

import dataclasses
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
) -> list[Episode]:
    """Play every request to its end with up to ``concurrency`` episodes in flight (default: all).

    Returns one :class:`Episode` per request, in order. ``learner`` plays the seats a request leaves
    open. ``make_env()`` builds the env of requests that bring none; at most ``concurrency`` are built,
    each reused (reset) for the next such request, and closed at the end.
    """
    if concurrency is not None and concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
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

    def store(game: _Live) -> None:
        episodes[game.index] = game.episode
        if game.env is not requests[game.index].env:
            free.append(game.env)
        if on_episode is not None:
            on_episode(game.episode)
        if progress is not None:
            progress.game_done(game.episode)

    live: list[_Live] = []
    next_index = 0
    try:
        for _ in range(max_rounds):
            while len(live) < limit and next_index < len(requests):
                request, env = requests[next_index], requests[next_index].env
                if env is None and free:
                    env = free.pop()
                elif env is None:
                    env = make_env()  # type: ignore[misc]
                    if all(env is not other for other in made):
                        made.append(env)
                game = _Live(next_index, request, env, seats[next_index], transcripts)  # raises if it does not fit
                try:
                    game.begin()
                    live.append(game)
                except Exception as error:  # an env that cannot even reset: recorded, not fatal; the env is dropped
                    failed = _failed_episode(request, seats[next_index], f"reset: {_describe(error)}")
                    episodes[next_index] = failed
                    if on_episode is not None:
                        on_episode(failed)
                    if progress is not None:
                        progress.game_done(failed)
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
            for index in range(next_index, len(requests)):  # never started: the rounds ran out first
                episodes[index] = _failed_episode(requests[index], seats[index], f"not started in {max_rounds} rounds")
    finally:
        for env in made:
            close = getattr(env, "close", None)
            if close is not None:
                close()
    return episodes  # type: ignore[return-value]


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
