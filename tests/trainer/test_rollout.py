"""The rollout loop over both env kinds: reward crediting, opponents, crashing envs, and a task the loop learns."""

from __future__ import annotations

import random

import gymnasium
import pytest
import torch

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.core import (
    ACTION_FORMAT,
    INVALID_ACTION,
    LEGAL_ACTIONS,
    OUTCOME,
    REWARD_COMPONENTS,
    ROLE,
    STATE_KEY,
    AnswerFormat,
    Outcome,
    text_space,
)
from gym_reason.trainer.config import load_config
from gym_reason.trainer.loop import build_policy, rollout_metrics, train
from gym_reason.trainer.rollout import EpisodeRequest, play_episodes

KUHN = "gym_reason/KuhnPoker-v0"


class Pick(gymnasium.Env):
    """Two rounds; each shows a digit 0-3 and pays +1 (component ``hit``) for answering it, -0.25 (``miss``) otherwise."""

    def __init__(self, crash_every: int = 0):
        self.fmt = AnswerFormat.named("bracket")
        self.rng = random.Random()
        self.crash_every = crash_every
        self.observation_space = self.action_space = text_space()

    def _obs(self):
        info = {
            ROLE: "picker",
            ACTION_FORMAT: "[digit]",
            STATE_KEY: str(self.target),
            LEGAL_ACTIONS: [f"[{d}]" for d in range(4)],
        }
        return f"Answer {self.target}.", info

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.rng.seed(seed)
        self.seed_used, self.round, self.target = seed, 0, self.rng.randrange(4)
        return self._obs()

    def step(self, action):
        if self.crash_every and self.seed_used % self.crash_every == 0:
            raise RuntimeError("this env breaks on purpose")
        answer = self.fmt.extract(action)
        hit = answer == str(self.target)
        reward = 1.0 if hit else -0.25
        self.round += 1
        self.target = self.rng.randrange(4)
        obs, info = self._obs()
        info.update(
            {INVALID_ACTION: answer not in {"0", "1", "2", "3"}, REWARD_COMPONENTS: {"hit" if hit else "miss": reward}}
        )
        done = self.round == 2
        if done:
            info[OUTCOME] = Outcome.WIN
        return obs, reward, done, False, info


@pytest.fixture
def pick_env():
    gym_reason.register(id="test_tasks/Pick-v0", entry_point=Pick)
    yield "test_tasks/Pick-v0"
    gym_reason.registry.deregister("test_tasks/Pick-v0")


def _policy():
    return build_policy(load_config(overrides={"seed": 1}))


def test_game_rewards_reach_the_turns_that_earned_them():
    requests = [EpisodeRequest(KUHN, gym_reason.make(KUHN), seed=s) for s in range(64)]
    episodes = play_episodes(_policy(), requests, torch.Generator().manual_seed(0))
    for episode in episodes:
        assert episode.error is None
        assert sum(episode.returns.values()) == 0  # zero-sum
        for agent in ("player_0", "player_1"):
            turns = [t for t in episode.turns if t.role == agent]
            assert turns, "self-play: the policy plays both seats"
            assert sum(t.reward for t in turns) == episode.returns[agent]
            assert all(t.reward == sum(t.components.values()) for t in turns)
            assert all(t.completion.text in ("[check]", "[bet]", "[call]", "[fold]") for t in turns)
        assert sum(episode.moves) == len(episode.turns)


def test_fixed_opponent_seats_are_not_trained_on():
    env = gym_reason.make(KUHN)
    nash = make_agent("fixed:nash", env, seed=0)
    requests = [
        EpisodeRequest(KUHN, gym_reason.make(KUHN), seed=s, players=(None, nash), labels=("policy", "fixed:nash"))
        for s in range(32)
    ]
    episodes = play_episodes(_policy(), requests, torch.Generator().manual_seed(0))
    assert all(t.role == "player_0" for e in episodes for t in e.turns)
    assert all(e.seats == ["policy", "fixed:nash"] and e.policy_agents() == ["player_0"] for e in episodes)
    assert all(e.moves[1] > 0 and e.moves[0] == len(e.turns) for e in episodes)  # the opponent moved too


def test_a_crashing_env_is_counted_and_dropped_not_scored(pick_env):
    requests = [EpisodeRequest(pick_env, Pick(crash_every=4), seed=s) for s in range(16)]
    episodes = play_episodes(_policy(), requests, torch.Generator().manual_seed(0))
    failed = [e for e in episodes if e.error is not None]
    assert [e.seed for e in failed] == [0, 4, 8, 12]
    assert all("this env breaks on purpose" in e.error for e in failed)
    metrics = rollout_metrics(episodes, elapsed=1.0)
    assert metrics["failed_games"] == 4 and metrics["games"] == 12


def test_the_loop_trains_a_single_agent_task(pick_env, tmp_path):
    overrides = {"games": [pick_env], "steps": 60, "games_per_step": 64, "lr": 1e-3, "eval_every": 0,
                 "eval_games": 64, "eval_opponents": [], "run_dir": str(tmp_path), "run_name": "pick",
                 "progress": False, "returns": "turn", "threads": 1}  # fmt: skip
    result = train(load_config(overrides=overrides))
    import json

    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    first, last = lines[0]["return/Pick-v0/agent"], lines[-1]["return/Pick-v0/agent"]
    # Two rounds: random picks earn 2 * (0.25 * 1 - 0.75 * 0.25) = 0.125; always right earns 2.
    assert first < 0.6
    assert last > 1.5
    assert lines[-1]["failed_games"] == 0
