"""Env workers on Ray (gym_reason.trainer.ray_workers): remote envs the engine plays like local ones, identical
trajectories under one seed, the drop rule for a worker killed mid-episode, the worker-pool front and a selfplay
run on env workers. One local Ray instance for the module (its start alone takes ~20 s here): all `slow`."""

from __future__ import annotations

import copy
import json
import time

import pytest
import torch

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.eval.engine import EpisodeRequest, Learner, play_episodes
from gym_reason.trainer.config import load_config
from gym_reason.trainer.loop import build_policy, train

ray = pytest.importorskip("ray", reason="the Ray tests need the ray package: pip install 'gym-reason[ray]'")

from gym_reason.trainer.ray_workers import EnvWorkerDied, EnvWorkerPool, RemoteGame, RemoteTask  # noqa: E402

pytestmark = pytest.mark.slow

KUHN = "gym_reason/KuhnPoker-v0"


@pytest.fixture(scope="module")
def pool():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    workers = EnvWorkerPool(2, max_restarts=3)
    yield workers
    workers.close()
    ray.shutdown()


def _tiny_policy():
    torch.manual_seed(0)
    return build_policy(load_config(overrides={"seed": 0, "threads": 1}))


def _learner_episodes(envs: list, env_id: str, n: int) -> list:
    """``n`` episodes of ``env_id`` with the tiny model in every seat, on ``envs`` in turn, one seed each."""
    learner = Learner(_tiny_policy(), torch.Generator().manual_seed(7))
    requests = [EpisodeRequest(env_id, envs[i % len(envs)], seed=100 + i) for i in range(n)]
    episodes = []
    for start in range(0, n, len(envs)):  # one request per env in flight at a time
        episodes += play_episodes(requests[start : start + len(envs)], learner=learner, transcripts=True)
    return episodes


@pytest.mark.parametrize("env_id", [KUHN, "gym_reason/TicTacToe-v0"])
def test_same_seeds_give_identical_trajectories_in_process_and_on_workers(pool, env_id):
    local = _learner_episodes([gym_reason.make(env_id) for _ in range(3)], env_id, 12)
    remote_envs = [pool.make(env_id) for _ in range(3)]
    assert all(isinstance(e, RemoteGame) for e in remote_envs)
    assert {e.worker for e in remote_envs} == {0, 1}  # round robin over both workers
    remote = _learner_episodes(remote_envs, env_id, 12)
    for a, b in zip(local, remote, strict=True):
        assert a.error is None and b.error is None
        assert a.transcript == b.transcript and a.rewards == b.rewards and a.outcomes == b.outcomes
        assert [t.completion.completion_ids for t in a.turns] == [t.completion.completion_ids for t in b.turns]
        assert [t.reward for t in a.turns] == [t.reward for t in b.turns]
    assert len({json.dumps(e.transcript) for e in local}) > 3  # the seeds made different games


def test_a_task_plays_remotely_like_locally(pool):
    env_id = "gym_reason/ToolUseEasy-v0"

    def run(env):
        agent = make_agent("random", env, seed=3)
        requests = [EpisodeRequest(env_id, env, seed=s, players=[agent]) for s in range(4)]
        return play_episodes(requests, transcripts=True, concurrency=1)  # one env: one episode at a time

    remote_env = pool.make(env_id)
    assert isinstance(remote_env, RemoteTask) and not hasattr(remote_env, "agent_iter")
    local, remote = run(gym_reason.make(env_id)), run(remote_env)
    assert [e.transcript for e in local] == [e.transcript for e in remote]
    assert [e.rewards for e in local] == [e.rewards for e in remote]


def test_a_worker_killed_mid_episode_fails_its_episodes_and_restarts(pool):
    envs = [pool.make(KUHN, worker=k % 2) for k in range(4)]  # envs 0 and 2 on worker 0
    pid_before = dict(enumerate(pool.where()))[0][1]
    nash = make_agent("fixed:nash", envs[0], seed=0)
    moves = []

    def kill_after_first_moves(agent, obs, info, action):
        moves.append(action)
        if len(moves) == 4 and action is not None:  # every episode has moved once: kill worker 0 mid-episode
            pool.kill(0)

    requests = [EpisodeRequest(KUHN, env, seed=i, players=[nash, nash]) for i, env in enumerate(envs)]
    episodes = play_episodes(requests, on_step=kill_after_first_moves)
    failed = [i for i, e in enumerate(episodes) if e.failed]
    assert failed == [0, 2]  # the episodes whose env lived on the killed worker
    for i in failed:
        assert "EnvWorkerDied" in episodes[i].error
        assert episodes[i].outcomes == [None, None]  # never scored
    assert all(sum(episodes[i].rewards) == 0 and episodes[i].outcomes[0] is not None for i in (1, 3))
    # Ray restarted the worker in a new process; the proxies' next reset builds their envs there again.
    again = play_episodes([EpisodeRequest(KUHN, env, seed=9, players=[nash, nash]) for env in envs])
    assert not any(e.failed for e in again)
    assert dict(enumerate(pool.where()))[0][1] != pid_before


def test_a_call_to_a_lost_env_raises_worker_died(pool):
    env = pool.make(KUHN, worker=1)
    env.reset(seed=0)
    pool.kill(1)
    with pytest.raises(EnvWorkerDied):
        env.step("[check]")
    env.reset(seed=0)  # rebuilt on the restarted worker
    assert env.agent_selection == "player_0" and env.agents == ["player_0", "player_1"]


def test_the_pool_front_plays_chunks_as_in_process(pool):
    env = gym_reason.make(KUHN)
    agents = [make_agent("random", env, seed=1), make_agent("fixed:nash", env, seed=2)]
    requests = [EpisodeRequest(KUHN, seed=i, players=agents) for i in range(10)]
    remote = pool.play(requests, transcripts=True)
    local = []
    for chunk in (requests[:5], requests[5:]):  # two workers, one contiguous chunk each, agents copied as sent
        local += play_episodes(copy.deepcopy(chunk), make_env=lambda: gym_reason.make(KUHN), transcripts=True)
    assert [e.transcript for e in remote] == [e.transcript for e in local]
    assert [e.seed for e in remote] == list(range(10))
    with pytest.raises(ValueError, match="leaves a seat to a learner"):
        pool.play([EpisodeRequest(KUHN, seed=0, players=[agents[0], None])])


def test_bad_pool_arguments_name_the_value(pool):
    with pytest.raises(ValueError, match="workers must be at least 1, got 0"):
        EnvWorkerPool(0)
    with pytest.raises(ValueError, match=r"worker must be in 0\.\.1, got 5"):
        pool.make(KUHN, worker=5)
    with pytest.raises(KeyError, match="unknown env id"):
        pool.make("no_such_env")
    with pytest.raises(TypeError, match=r"unknown keyword argument\(s\) \['bogus'\]"):  # raised on a worker, seen here
        pool.make(KUHN, bogus=1)
    nash = make_agent("fixed:nash", gym_reason.make(KUHN), seed=0)
    with pytest.raises(TypeError, match="bogus"):
        pool.play([EpisodeRequest(KUHN, seed=0, players=[nash, nash])], env_kwargs={"bogus": 1})


def test_selfplay_on_env_workers_matches_in_process(pool, tmp_path):
    """The trainer's rollouts on two env workers: same seed, same metrics as the in-process run."""
    base = {"games": ["kuhn_poker"], "steps": 3, "games_per_step": 16, "eval_every": 0, "eval_games": 16,
            "eval_opponents": ["random"], "run_dir": str(tmp_path), "progress": False, "threads": 1}  # fmt: skip
    runs = {}
    for workers in (0, 2):
        config = load_config(overrides={**base, "env_workers": workers, "run_name": f"w{workers}"})
        result = train(config)
        lines = (result.run_dir / "metrics.jsonl").read_text().splitlines()
        runs[workers] = [json.loads(x) for x in lines]
    keys = ["games", "failed_games", "invalid_rate", "turns_per_game", "return/KuhnPoker-v0/player_0", "loss"]
    for a, b in zip(runs[0], runs[2], strict=True):
        assert {k: a.get(k) for k in keys} == {k: b.get(k) for k in keys}
    assert all(m["failed_games"] == 0 and m["games"] == 16 for m in runs[2])


class _Sleeper:
    """Runs code that sleeps ``seconds`` on its first ``runs`` turns of each episode, then answers."""

    name = "sleeper"

    def __init__(self, seconds: float, runs: int) -> None:
        self.code = f"```python\nimport time\ntime.sleep({seconds})\nprint('slept')\n```"
        self.runs = runs

    def act(self, batch):
        return [self.code if obs.count("Output:\nslept") < self.runs else "[0]" for obs, _ in batch]


@pytest.mark.sandbox("bwrap")
def test_a_rounds_steps_run_at_once_on_different_workers(pool):
    """Four CodeInterpreter envs on two workers, two sleeping runs each: the round's steps are sent before any
    reply is collected, so the two workers sleep side by side (one process would sleep the whole sum)."""
    seconds, runs, n = 0.8, 2, 4
    envs = [pool.make("gym_reason/CodeInterpreter-v0") for _ in range(n)]
    agent = _Sleeper(seconds, runs)
    requests = [
        EpisodeRequest("gym_reason/CodeInterpreter-v0", env, seed=i, players=[agent]) for i, env in enumerate(envs)
    ]
    play_episodes(requests)  # warm-up: sandboxes start
    t0 = time.perf_counter()
    episodes = play_episodes(requests, transcripts=True)
    elapsed = time.perf_counter() - t0
    assert not any(e.failed for e in episodes)
    assert all(sum("time.sleep" in m["action"] for m in e.transcript) == runs for e in episodes)
    sequential = n * runs * seconds  # 6.4 s: the floor for steps made one after another
    assert elapsed < 0.85 * sequential, f"{elapsed:.2f} s: the workers did not step at the same time"
