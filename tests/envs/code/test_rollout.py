"""The code envs in the trainer's rollout loop: a scripted policy and the tiny model play episodes end to end."""

from __future__ import annotations

import math
import runpy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

import gym_reason
from gym_reason.core import AnswerFormat
from gym_reason.policy import Completion
from gym_reason.trainer.config import load_config
from gym_reason.trainer.loop import build_policy
from gym_reason.trainer.rollout import EpisodeRequest, play_episodes

pytestmark = pytest.mark.sandbox("bwrap")  # both code envs run the model's code in bubblewrap

REFERENCE = runpy.run_path(str(Path(__file__).with_name("reference_solutions.py")))["REFERENCE"]
INTERPRETER, TESTS = "gym_reason/CodeInterpreter-v0", "gym_reason/CodeTests-v0"


class ScriptedPolicy:
    """Plays like a careful model: computes with the tool, then answers; writes a wrong then a right function.

    It has the two methods ``play_episodes`` calls on a policy (``prompt`` and ``sample``).
    """

    def __init__(self, envs: dict[str, Any]) -> None:
        self.envs = envs  # observation prefix -> env, to look the task up (a model would read it)

    def prompt(self, env_id: str, observation: str, info: dict[str, Any]) -> str:
        return observation

    def sample(
        self,
        prompts: Sequence[str],
        legal: Sequence[Sequence[str] | None],
        generator: torch.Generator,
        answer_format: Sequence[AnswerFormat] | None = None,
    ) -> list[Completion]:
        return [Completion(self._reply(p), [], [], [], []) for p in prompts]

    def _reply(self, prompt: str) -> str:
        env = next(e for key, e in self.envs.items() if prompt.startswith(key))
        if prompt.startswith("Task:"):
            if "--- Turn 1" not in prompt:
                return "I will just say [0]." if env.task.family == "calendar" else "Thinking... no answer yet."
            if "--- Turn 2" not in prompt:
                return f"```python\nanswer = {env.task.answer!r}\nprint(answer)\n```"
            return f"The tool says [{env.task.answer}]"
        entry = env.problem.entry_point
        if "--- Turn 1" not in prompt:
            return f"```python\ndef {entry}(*args):\n    return None\n```"
        return f"```python\n{REFERENCE[env.problem.id]}\n```"


def _requests(kwargs: dict[str, Any], episodes: int) -> tuple[list[EpisodeRequest], dict[str, Any]]:
    requests, by_prompt = [], {}
    for env_id in (INTERPRETER, TESTS):
        for seed in range(episodes):
            env = gym_reason.make(env_id, **kwargs)
            obs, _ = env.reset(seed=seed)  # the prompt's opening identifies the episode
            by_prompt[obs] = env
            requests.append(EpisodeRequest(env_id, env, seed=seed))
    return requests, by_prompt


def test_a_scripted_policy_plays_both_envs_and_rewards_add_up():
    requests, by_prompt = _requests({}, episodes=4)
    episodes = play_episodes(ScriptedPolicy(by_prompt), requests, torch.Generator().manual_seed(0))
    for episode in episodes:
        assert episode.error is None, episode.error
        assert math.isclose(sum(t.reward for t in episode.turns), episode.returns["agent"])
        assert all(math.isclose(t.reward, sum(t.components.values())) for t in episode.turns)
        if episode.env_id == TESTS:
            assert episode.outcomes == ["win"] and len(episode.turns) == 2
            assert math.isclose(episode.returns["agent"], 1.0)
        elif episode.outcomes == ["win"]:
            assert len(episode.turns) == 3 and episode.invalid_moves == [1]
            assert math.isclose(episode.returns["agent"], 1.0 + 0.05 - 0.02 * 3 + 0.02 - 0.1)
        else:
            assert episode.outcomes == ["loss"] and len(episode.turns) == 1
    for request in requests:
        request.env.close()


def test_the_tiny_model_plays_both_envs_without_errors():
    policy = build_policy(load_config(overrides={"seed": 1, "max_new_tokens": 24, "prompt": "observation"}))
    requests, _ = _requests({"max_turns": 2}, episodes=2)
    episodes = play_episodes(policy, requests, torch.Generator().manual_seed(0))
    for episode in episodes:
        assert episode.error is None, episode.error
        assert 1 <= len(episode.turns) <= 2 and episode.outcomes[0] in {"win", "loss", "truncated"}
        assert math.isclose(sum(t.reward for t in episode.turns), episode.returns["agent"])
        assert all(t.completion.completion_ids for t in episode.turns)
    for request in requests:
        request.env.close()
