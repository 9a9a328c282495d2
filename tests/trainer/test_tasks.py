"""Single-agent tasks are first-class: training evaluates them on their held-out split, a mixed run trains games
and tasks together, and ``train``/``play``/``eval`` work on the code envs."""

from __future__ import annotations

import json
import random
from typing import ClassVar

import gymnasium
import pytest

import gym_reason
from gym_reason.cli import main
from gym_reason.core import LEGAL_ACTIONS, OUTCOME, REWARD_COMPONENTS, AnswerFormat, Outcome, text_space
from gym_reason.eval.evaluation import TASK, evaluate
from gym_reason.trainer.config import load_config
from gym_reason.trainer.loop import train
from tests.sandbox_guard import require_sandbox


class Digits(gymnasium.Env):
    """Say the digit shown. The train split shows 0-7, the held-out split 8-9 (disjoint by construction)."""

    splits = ("train", "test")
    made: ClassVar[list[str]] = []

    def __init__(self, split: str = "train") -> None:
        if split not in self.splits:
            raise ValueError(f"split must be one of {list(self.splits)}, got {split!r}")
        self.split = split
        Digits.made.append(split)
        self.observation_space = self.action_space = text_space()
        self.answer_format = "bracket"
        self.rng = random.Random()
        self.target = 0

    def reset(self, seed=None, options=None):
        self.rng.seed(seed)
        self.target = self.rng.choice(range(8) if self.split == "train" else (8, 9))
        return f"Say {self.target}.", {LEGAL_ACTIONS: [f"[{d}]" for d in range(10)]}

    def step(self, action):
        win = AnswerFormat.named("bracket").extract(action) == str(self.target)
        info = {OUTCOME: Outcome.WIN if win else Outcome.LOSS, REWARD_COMPONENTS: {"right": float(win)}}
        return "Done.", float(win), True, False, info


@pytest.fixture
def digits():
    gym_reason.register(id="test_tasks/Digits-v0", entry_point=Digits)
    Digits.made.clear()
    yield "test_tasks/Digits-v0"
    gym_reason.registry.deregister("test_tasks/Digits-v0")


def _config(tmp_path, games, **more):
    overrides = {"games": games, "steps": 1, "games_per_step": 8, "eval_games": 16, "run_dir": str(tmp_path),
                 "run_name": "run", "progress": False, "threads": 1, **more}  # fmt: skip
    return load_config(overrides=overrides)


def test_task_evaluation_reports_success_and_return_with_intervals_on_the_held_out_split(digits, tmp_path):
    result = train(_config(tmp_path, [digits]))
    m = result.metrics
    assert (
        m["eval/Digits-v0/success_rate_low"]
        <= m["eval/Digits-v0/success_rate"]
        <= m["eval/Digits-v0/success_rate_high"]
    )
    assert (
        m["eval/Digits-v0/mean_return_low"] <= m["eval/Digits-v0/mean_return"] <= m["eval/Digits-v0/mean_return_high"]
    )
    assert m["eval/Digits-v0/mean_return"] == m["eval/Digits-v0/success_rate"]  # reward 1 exactly on success
    assert m["eval/Digits-v0/turns_per_episode"] == 1 and m["eval/Digits-v0/tokens_per_episode"] >= 1
    assert "test" in Digits.made and m["eval/Digits-v0/failed"] == 0
    assert not any("/random/" in key for key in m)  # a task has no opponents


def test_a_mixed_run_trains_and_evaluates_games_and_tasks_together(digits, tmp_path):
    result = train(_config(tmp_path, ["kuhn_poker", digits], eval_opponents=["random"]))
    m = result.metrics
    assert {"return/Digits-v0/agent", "return/KuhnPoker-v0/player_0", "return/KuhnPoker-v0/player_1"} <= set(m)
    assert 0 <= m["eval/KuhnPoker-v0/random/win_rate"] <= 1 and 0 <= m["eval/Digits-v0/success_rate"] <= 1
    assert (result.run_dir / "checkpoints" / "step_0000001").is_dir()


def test_eval_of_an_agent_on_a_task_plays_it_alone_on_the_held_out_split(digits):
    result = evaluate("random", digits, [], games=200, seed=0)
    (row,) = result.results
    assert row.opponent == TASK and result.provenance.env_kwargs == {"split": "test"}
    assert row.overall.games == 200 and row.overall.win.ci.low <= 0.1 <= row.overall.win.ci.high  # 1 in 10
    from gym_reason.eval.report import eval_table

    table = eval_table(result)
    assert table.columns[3].header.startswith("success") and table.row_count == 1
    with pytest.raises(ValueError, match="alone"):
        evaluate("random", digits, ["random"], games=2)


def test_play_on_a_task_env_prints_the_episodes(digits, capsys):
    assert main(["play", "--game", digits, "--players", "random", "--games", "5"]) == 0
    assert "random" in capsys.readouterr().out
    assert main(["play", "--game", digits, "--players", "random,random"]) == 2
    assert "has 1 seat ['agent']" in capsys.readouterr().err


def test_play_and_eval_on_the_code_interpreter(tmp_path, capsys):
    require_sandbox("bwrap")
    assert main(["play", "--game", "code_interpreter", "--players", "random", "--games", "2"]) == 0
    out = tmp_path / "eval.json"
    assert main(["eval", "--agent", "random", "--game", "code_tests", "--games", "2", "--out", str(out)]) == 0
    saved = json.loads(out.read_text())
    assert saved["provenance"]["env_kwargs"] == {"split": "test"} and saved["results"][0]["overall"]["games"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("env", ["code_interpreter", "code_tests"])
def test_train_on_a_code_env_checkpoints_resumes_and_evaluates_held_out(env, tmp_path, capsys):
    require_sandbox("bwrap")
    flags = ["--games-per-step", "4", "--eval-games", "4", "--eval-every", "0", "--max-new-tokens", "48",
             "--run-dir", str(tmp_path), "--run-name", env, "--threads", "1", "--no-progress"]  # fmt: skip
    assert main(["train", "--env", env, "--steps", "5", *flags]) == 0
    run = tmp_path / env
    assert (run / "checkpoints" / "step_0000005").is_dir()
    assert main(["train", "--resume", str(run), "--steps", "6", "--no-progress"]) == 0
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2, 3, 4, 5, 6]
    name = gym_reason.registry.resolve_id(env).rpartition("/")[2]
    assert 0 <= lines[-1][f"eval/{name}/success_rate"] <= lines[-1][f"eval/{name}/success_rate_high"]
    assert lines[-1][f"eval/{name}/turns_per_episode"] >= 1


def test_every_shipped_config_loads_and_names_registered_envs():
    from pathlib import Path

    configs = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))
    assert any(p.name == "train_code_interpreter.yaml" for p in configs)
    assert any(p.name == "train_code_tests.yaml" for p in configs)
    for path in configs:
        config = load_config(path)
        assert all(gym_reason.registry.resolve_id(game) for game in config.games), path
