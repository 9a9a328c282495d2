"""Per-episode timeouts (``--episode-timeout``): a long-tail env never holds a step beyond the limit, in either mode."""

from __future__ import annotations

import json
import random
import threading
import time
from typing import Any

import gymnasium
import pytest
import torch

import gym_reason
from gym_reason import registry
from gym_reason.agents import make_agent
from gym_reason.core import (
    ACTION_GRAMMAR,
    INVALID_ACTION,
    LEGAL_ACTIONS,
    OUTCOME,
    ROLE,
    STATE_KEY,
    AnswerFormat,
    Outcome,
    text_space,
)
from gym_reason.eval.engine import EpisodeRequest, Learner, play_episodes
from gym_reason.policy import tiny_policy
from gym_reason.trainer.async_rollout import Rollouts
from gym_reason.trainer.config import ConfigError, load_config
from gym_reason.trainer.loop import Trainer, plan_games, train

SLEEPY = "test_async/Sleepy-v0"


class SleepyTask(gymnasium.Env):
    """Four turns of ``[a]``/``[b]`` (+1 for ``a``); a long tail: each step sleeps ``slow_s`` with probability
    ``slow_share`` (the env's own seeded generator), else returns at once. ``slept`` and ``closed`` are recorded."""

    def __init__(
        self,
        slow_share: float = 0.05,
        slow_s: float = 2.0,
        turns: int = 4,
        fail_at: int | None = None,
        gate: threading.Event | None = None,
    ) -> None:
        self.slow_share, self.slow_s, self.turns, self.fail_at = slow_share, slow_s, turns, fail_at
        self.gate = gate  # a step 2 that blocks until the test opens it
        self.answer_format = AnswerFormat.named("bracket")
        self.observation_space = self.action_space = text_space()
        self.rng = random.Random()
        self.turn = self.resets = 0
        self.slept = self.closed = False

    def _info(self) -> dict[str, Any]:
        grammar = self.answer_format.choice_grammar(["a", "b"])
        return {ROLE: "agent", LEGAL_ACTIONS: ["[a]", "[b]"], ACTION_GRAMMAR: grammar, STATE_KEY: str(self.turn)}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        self.rng.seed(seed)
        self.turn, self.slept = 0, False
        self.resets += 1
        return "turn 0", self._info()

    def step(self, action: str) -> tuple[str, float, bool, bool, dict[str, Any]]:
        if self.rng.random() < self.slow_share:
            self.slept = True
            time.sleep(self.slow_s)
        if self.gate is not None and self.turn == 1:
            self.slept = True
            self.gate.wait()
        self.turn += 1
        if self.turn == self.fail_at:
            raise RuntimeError("the env broke")
        answer = self.answer_format.extract(action)
        info = {**self._info(), INVALID_ACTION: answer not in ("a", "b")}
        done = self.turn >= self.turns
        if done:
            info[OUTCOME] = Outcome.WIN
        return f"turn {self.turn}", float(answer == "a"), done, False, info

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def sleepy():
    registry.register(SLEEPY, SleepyTask)
    yield SLEEPY
    registry.deregister(SLEEPY)


def play_sleepy(
    n: int, timeout: float | None, gates: dict[int, threading.Event] | None = None, **env_args: Any
) -> tuple[list, list[SleepyTask], float]:
    envs = [SleepyTask(gate=(gates or {}).get(i), **env_args) for i in range(n)]
    agent = make_agent("random", envs[0], seed=0)
    agent.act([envs[0].reset(seed=0)])  # warm (its grammar compiled): players are not cut mid-answer
    requests = [EpisodeRequest(SLEEPY, env, seed=i, players=[agent]) for i, env in enumerate(envs)]
    started = time.monotonic()
    episodes = play_episodes(requests, episode_timeout=timeout)
    return episodes, envs, time.monotonic() - started


def check_cut(episodes: list, envs: list[SleepyTask], timeout: float) -> None:
    for episode, env in zip(episodes, envs, strict=True):
        if env.slept:  # cut at its deadline, failed (never scored), its env discarded
            assert episode.timed_out and episode.failed and episode.outcomes == [None]
            assert f"episode_timeout={timeout:g} s" in episode.error and "abandoned in step" in episode.error
        else:  # played to the end although rounds had stragglers
            assert not episode.failed and episode.moves == [4] and episode.outcomes == [Outcome.WIN]


def test_a_blocked_step_is_cut_at_the_timeout_and_the_other_episodes_play_on():
    gate = threading.Event()  # envs 3 and 7 block in their second step until the test opens it
    episodes, envs, _ = play_sleepy(12, timeout=0.5, gates={3: gate, 7: gate}, slow_share=0.0)
    # play_episodes returned while two env steps are still blocked: it never waited for them
    assert [env.slept for env in envs] == [i in (3, 7) for i in range(12)]
    check_cut(episodes, envs, 0.5)
    assert [e.moves for e in episodes if e.timed_out] == [[2], [2]]  # cut in their second move
    assert not any(env.closed for env in envs)  # discarded, but their steps still run
    gate.set()
    deadline = time.monotonic() + 2.0
    while not (envs[3].closed and envs[7].closed) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [env.closed for env in envs] == [env.slept for env in envs]  # closed by the abandoned calls' threads


@pytest.mark.slow
def test_a_long_tail_of_sleeping_steps_never_holds_the_batch_beyond_the_timeout():
    """48 episodes, 5% of steps sleep 2 s: those episodes are cut at 0.5 s, the others play to the end."""
    play_sleepy(48, timeout=30.0, slow_share=0.0)  # the engine's worker threads started (ms each under load)
    episodes, envs, wall = play_sleepy(48, timeout=0.5, slow_share=0.05, slow_s=2.0)
    assert 1 <= sum(env.slept for env in envs) < 48 and wall < 1.5
    check_cut(episodes, envs, 0.5)
    time.sleep(2.0)
    assert [env.closed for env in envs] == [env.slept for env in envs]  # idle envs are the caller's: left open


def test_an_env_error_under_a_timeout_is_a_failure_not_a_timeout():
    episodes, envs, _ = play_sleepy(4, timeout=5.0, slow_share=0.0, fail_at=2)
    assert all(e.failed and not e.timed_out and "the env broke" in e.error for e in episodes)
    assert not any(env.closed for env in envs)


def test_without_a_cut_the_episodes_are_those_of_a_run_without_a_timeout():
    """Games with the learner: the same rounds and batches, so the same sampled tokens."""
    policy = tiny_policy(seed=0, layout="state")
    envs = [gym_reason.make("kuhn_poker") for _ in range(24)]

    def play(timeout: float | None) -> list:
        requests = [EpisodeRequest("kuhn_poker", env, seed=i) for i, env in enumerate(envs)]
        learner = Learner(policy, torch.Generator().manual_seed(3))
        return play_episodes(requests, learner=learner, episode_timeout=timeout)

    plain, timed = play(None), play(30.0)
    assert not any(e.failed for e in timed)
    assert [(e.rewards, [t.completion.completion_ids for t in e.turns]) for e in plain] == [
        (e.rewards, [t.completion.completion_ids for t in e.turns]) for e in timed
    ]


def test_bad_timeouts_are_refused_with_the_fix():
    env = SleepyTask()
    request = EpisodeRequest(SLEEPY, env, seed=0, players=[make_agent("random", env, seed=0)])
    with pytest.raises(ValueError, match=r"episode_timeout must be a positive number of seconds.*got 0"):
        play_episodes([request], episode_timeout=0)
    with pytest.raises(ValueError, match="drop on_step"):
        play_episodes([request], episode_timeout=1.0, on_step=lambda *a: None)
    with pytest.raises(ConfigError, match="episode_timeout"):
        load_config(overrides={"episode_timeout": "-1"})
    with pytest.raises(ConfigError, match="async_lag"):
        load_config(overrides={"async_lag": "-1"})


@pytest.mark.parametrize("lag", [0, 1])
def test_a_timed_out_episodes_env_is_replaced_and_never_played_again(tmp_path, sleepy, lag):
    """Also in requests planned before the cut (asynchronous: step 1 is planned while step 0 plays)."""
    config = load_config(overrides={"games": sleepy, "games_per_step": 8, "steps": 2, "threads": 1, "async_lag": lag,
                                    "episode_timeout": 0.2, "env_args": {sleepy: {"slow_share": 0.1, "slow_s": 1.0}}})  # fmt: skip
    trainer = Trainer(config, tmp_path)
    warm = EpisodeRequest(sleepy, SleepyTask(slow_share=0.0), seed=0)  # the policy's first call compiles its grammar
    play_episodes([warm], learner=Learner(trainer.policy, torch.Generator()))
    planned: dict[int, list] = {}

    def plan(step: int) -> list:
        planned[step] = plan_games(trainer, step)
        return planned[step]

    with Rollouts(trainer, plan) as rollouts:
        first = rollouts.take(0)
        second = rollouts.take(1)
    assert first.seconds < 1.0 and second.seconds < 1.0
    discarded = [r.env for r, e in zip(planned[0], first.episodes, strict=True) if e.timed_out]
    kept = [r.env for r, e in zip(planned[0], first.episodes, strict=True) if not e.timed_out]
    pool = trainer.pools[sleepy]
    assert discarded and len(pool) == 8
    assert all(env.resets == 1 and all(env is not other for other in pool) for env in discarded)
    assert all(env.resets == 2 for env in kept)  # played again at step 1
    assert len(second.episodes) == 8 and second.policy_version == 1 - lag  # no update ran: version = step - lag


@pytest.mark.slow
@pytest.mark.parametrize("lag", [0, 1])
def test_training_steps_never_wait_for_a_sleeping_episode_beyond_the_timeout(tmp_path, sleepy, lag):
    """5% of steps sleep 2 s; with a 0.4 s timeout no training step's rollout lasts 2 s, in either mode."""
    timeout = 0.4
    config = load_config(overrides={"games": sleepy, "games_per_step": 32, "steps": 6, "threads": 1, "async_lag": lag,
                                    "episode_timeout": timeout, "eval_every": 0, "eval_games": 2, "eval_opponents": [],
                                    "run_dir": str(tmp_path), "progress": False})  # fmt: skip
    result = train(config)
    lines = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    rollout_seconds = [m["games"] / m["games_per_s"] + 0 for m in lines]
    timed_out = [m["episodes_timed_out"] for m in lines]
    assert sum(timed_out) >= 3 and all(m["failed_games"] == m["episodes_timed_out"] for m in lines)
    assert all(m["games"] + m["failed_games"] == 32 for m in lines)
    # games_per_s counts every episode, so episodes / rate is the rollout's wall time
    assert max(32 / (m["games_per_s"]) for m in lines) < timeout + 1.0, rollout_seconds
    assert max(m["step_time"] for m in lines[:-1]) < 2.0  # the last step's time includes the final evaluation
