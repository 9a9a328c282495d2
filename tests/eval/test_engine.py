"""The episode engine: continuations from a restored snapshot, batching per player per round, failures recorded,
one record for games and tasks."""

from __future__ import annotations

from collections import Counter

import gymnasium
import pytest
import torch

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.agents.base import AgentError
from gym_reason.core import LEGAL_ACTIONS, OUTCOME, REWARD_COMPONENTS, AnswerFormat, Outcome, text_space
from gym_reason.eval.engine import (
    LEARNER,
    TASK_AGENT,
    EpisodeRequest,
    Learner,
    Seating,
    labelled_requests,
    play_episodes,
)

KUHN = "gym_reason/KuhnPoker-v0"


class Counting:
    """Wraps an agent and records the size of every ``act`` batch."""

    def __init__(self, agent, name: str = "counting") -> None:
        self.agent, self.name, self.batches = agent, name, []

    def act(self, batch):
        self.batches.append(len(batch))
        return self.agent.act(batch)


class Echo(gymnasium.Env):
    """A one-step task: answer the shown digit (win) or anything else (loss); its view after reset is its seed."""

    def __init__(self) -> None:
        self.observation_space = self.action_space = text_space()
        self.answer_format = "bracket"
        self.target = 0

    def reset(self, seed=None, options=None):
        self.target = (seed or 0) % 10
        return f"Say {self.target}.", {LEGAL_ACTIONS: [f"[{d}]" for d in range(10)]}

    def step(self, action):
        win = AnswerFormat.named("bracket").extract(action) == str(self.target)
        reward = 1.0 if win else 0.0
        return (
            "done",
            reward,
            True,
            False,
            {OUTCOME: Outcome.WIN if win else Outcome.LOSS, REWARD_COMPONENTS: {"right": reward}},
        )


def test_continuations_play_on_from_a_restored_snapshot_without_reset():
    env = gym_reason.make(KUHN)
    env.reset(seed=3)
    env.step("[bet]")
    snapshot, view = env.snapshot(), env.last()[0]
    nash = make_agent("fixed:nash", env, seed=0)
    forks = []
    for k in range(200):
        fork = gym_reason.make(KUHN)
        fork.reset(seed=100 + k)  # another deal: restore alone must position it
        fork.restore(snapshot)
        forks.append(EpisodeRequest(KUHN, fork, players=(nash, nash), reset=False))
    episodes = play_episodes(forks, transcripts=True)
    assert all(e.moves == [0, 1] and not e.failed for e in episodes)  # only player_1's answer was left to play
    assert all(e.transcript[0]["observation"] == view for e in episodes)  # the same deal: no reset happened
    answers = Counter(e.transcript[0]["action"] for e in episodes)
    assert set(answers) <= {"[call]", "[fold]"} and sum(e.rewards[0] + e.rewards[1] for e in episodes) == 0


def test_a_task_continues_from_its_given_start_and_needs_one():
    env = Echo()
    start = env.reset(seed=7)
    nine = Counting(make_agent("random", gym_reason.make(KUHN)))  # random over the legal answers
    (episode,) = play_episodes([EpisodeRequest("echo", env, players=(nine,), reset=False, start=start)])
    assert episode.agents == [TASK_AGENT] and episode.moves == [1]
    with pytest.raises(ValueError, match="start="):
        play_episodes([EpisodeRequest("echo", Echo(), players=(nine,), reset=False)])


def test_learner_and_agents_each_answer_once_per_round_across_envs():
    from gym_reason.trainer.config import load_config
    from gym_reason.trainer.loop import build_policy

    policy = build_policy(load_config(overrides={"seed": 1}))
    calls: list[int] = []
    sample = policy.sample

    def counted(prompts, *args, **kwargs):
        calls.append(len(prompts))
        return sample(prompts, *args, **kwargs)

    policy.sample = counted  # type: ignore[method-assign]
    nash = Counting(make_agent("fixed:nash", gym_reason.make(KUHN), seed=0), "nash")
    requests = [EpisodeRequest(KUHN, gym_reason.make(KUHN), seed=s, players=(None, nash)) for s in range(32)]
    requests += [EpisodeRequest("echo", Echo(), seed=s) for s in range(16)]
    episodes = play_episodes(requests, learner=Learner(policy, torch.Generator().manual_seed(0)))
    assert not any(e.failed for e in episodes)
    assert len(calls) <= 3 and len(nash.batches) <= 2  # Kuhn has at most 3 moves: one call per round
    assert calls[0] == 32 + 16  # the first round: every Kuhn opening and every task in one batch
    assert sum(calls) == sum(len(e.turns) for e in episodes)
    assert all(e.seats == [LEARNER, "nash"] for e in episodes[:32]) and episodes[40].seats == [LEARNER]
    assert all(t.reward == episodes[32 + k].rewards[0] for k, e in enumerate(episodes[32:]) for t in e.turns)


def test_failures_are_recorded_per_episode_and_the_rest_play_on():
    class Flaky:
        name = "flaky"

        def act(self, batch):
            answers = [info[LEGAL_ACTIONS][0] for _, info in batch]
            raise AgentError([None if k % 2 else a for k, a in enumerate(answers)], {1: "server down"})

    class BrokenReset(Echo):
        def reset(self, seed=None, options=None):
            raise RuntimeError("cannot start")

    flaky = Flaky()
    envs = iter([BrokenReset()] + [Echo() for _ in range(8)])
    requests = labelled_requests([Seating(s, ("flaky",)) for s in range(6)], {"flaky": flaky})
    episodes = play_episodes(requests, make_env=lambda: next(envs), concurrency=6)
    failed = [e for e in episodes if e.failed]
    assert "reset: RuntimeError: cannot start" in episodes[0].error
    assert any("server down" in (e.error or "") for e in failed)
    assert all(e.outcomes == [None] for e in failed) and any(not e.failed for e in episodes)


def test_a_request_that_does_not_fit_its_env_is_a_clear_error():
    nash = make_agent("fixed:nash", gym_reason.make(KUHN), seed=0)
    with pytest.raises(ValueError, match=r"3 players .* 2 seats"):
        play_episodes([EpisodeRequest(KUHN, gym_reason.make(KUHN), seed=0, players=(nash, nash, nash))])
    with pytest.raises(ValueError, match="no learner"):
        play_episodes([EpisodeRequest(KUHN, gym_reason.make(KUHN), seed=0, players=(nash,))])
    with pytest.raises(ValueError, match="make_env"):
        play_episodes([EpisodeRequest(KUHN, seed=0, players=(nash, nash))])


def test_kuhn_eval_transcripts_are_those_of_the_engines_before_the_merge(tmp_path):
    # Pinned on 1708821 (rollout._Live and arena._Game still apart): same seeds, same games, same bytes.
    import hashlib

    from gym_reason.eval.evaluation import evaluate

    path = tmp_path / "t.jsonl"
    evaluate("fixed:nash", "kuhn_poker", ["random", "fixed:nash"], 64, seed=0, transcripts=path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == "21c18535fb87ec629b3a1104ad783cbec6bb052ad51be4cbbb90fc1626519649"


def test_episodes_cut_by_the_round_limit_are_failed_not_scored():
    nash = make_agent("fixed:nash", gym_reason.make(KUHN), seed=0)
    requests = [EpisodeRequest(KUHN, seed=s, players=(nash, nash)) for s in range(3)]
    episodes = play_episodes(requests, make_env=lambda: gym_reason.make(KUHN), concurrency=1, max_rounds=2)
    assert all(e.failed and e.outcomes == [None, None] for e in episodes)
    assert "after 2 rounds" in episodes[0].error and "not started" in episodes[2].error
