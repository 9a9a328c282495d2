"""``gym-reason selfplay`` end to end in subprocesses: every CLI form, errors, kill -9 then --resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from gym_reason.trainer.config import load_config
from gym_reason.trainer.loop import train

CLI = [sys.executable, "-m", "gym_reason.cli", "selfplay"]
ROOT = Path(__file__).resolve().parents[2]
QUICK = ["--eval-games", "8", "--games-per-step", "16", "--no-progress", "--threads", "1"]


def run(*args: str, cwd: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_default_form_writes_a_complete_run(tmp_path):
    out = run("--game", "kuhn_poker", "--steps", "3", "--eval-every", "2", "--run-name", "r", *QUICK, cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    run_dir = tmp_path / "runs" / "r"
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["steps"] == 3
    lines = metrics(run_dir)
    assert [m["step"] for m in lines] == [1, 2, 3]
    assert "eval/KuhnPoker-v0/exploitability" in lines[1] and "eval/KuhnPoker-v0/fixed:nash/win_rate" in lines[2]
    assert all(m["games"] == 16 and m["tokens_per_s"] > 0 for m in lines)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["step"] == 3 and not summary["interrupted"]
    assert (run_dir / "curves.png").stat().st_size > 1000
    assert (run_dir / "checkpoints" / "step_0000003" / "model.safetensors").is_file()
    assert "Checkpoint:" in out.stdout and "gym-reason eval --agent runs/r --game kuhn_poker" in out.stdout
    # The printed evaluation command works on the run folder.
    evaluation = subprocess.run(
        [sys.executable, "-m", "gym_reason.cli", "eval", "--agent", str(run_dir), "--game", "kuhn_poker",
         "--games", "20", "--out", "r.json"], capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert evaluation.returncode == 0, evaluation.stdout + evaluation.stderr
    assert json.loads((tmp_path / "r.json").read_text())["results"][0]["overall"]["games"] == 20


@pytest.mark.slow
def test_several_games_train_together(tmp_path):
    out = run(
        "--game", "kuhn_poker,tic_tac_toe,simple_negotiation", "--steps", "2", "--max-new-tokens", "16",
        "--run-name", "multi", *QUICK, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    last = metrics(tmp_path / "runs" / "multi")[-1]
    for env in ("KuhnPoker-v0", "TicTacToe-v0", "SimpleNegotiation-v0"):
        assert f"return/{env}/player_0" in last
        assert isinstance(last[f"baseline/{env}/player_0"], float)  # one RAE baseline per game and role
    # Constrained decoding never forfeits there, so the second seat always moves and gets its own baseline.
    # (A byte model's negotiation answers are mostly invalid and end the game before player_1 moves.)
    for env in ("KuhnPoker-v0", "TicTacToe-v0"):
        assert isinstance(last[f"baseline/{env}/player_1"], float)
    assert "eval/TicTacToe-v0/fixed:minimax/win_rate" in last
    assert "eval/SimpleNegotiation-v0/fixed:heuristic/invalid_rate" in last


@pytest.mark.slow
def test_config_file_with_flag_overrides(tmp_path):
    out = run(
        "--config", str(ROOT / "configs" / "selfplay_kuhn.yaml"), "--lr", "3e-4", "--seed", "1", "--steps", "2",
        "--eval-every", "0", "--run-name", "cfg", *QUICK, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    saved = yaml.safe_load((tmp_path / "runs" / "cfg" / "config.yaml").read_text())
    assert saved["lr"] == 3e-4 and saved["seed"] == 1 and saved["steps"] == 2
    assert saved["kl_coef"] == 0.2 and saved["games"] == ["kuhn_poker"]  # from the file


@pytest.mark.slow
def test_wandb_logs_offline_into_the_run(tmp_path):
    env = {**os.environ, "WANDB_SILENT": "true"}
    env.pop("WANDB_MODE", None)
    out = subprocess.run(
        [*CLI, "--game", "kuhn_poker", "--steps", "2", "--eval-every", "0", "--run-name", "w", "--wandb", *QUICK],
        capture_output=True, text=True, timeout=240, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    offline = list((tmp_path / "runs" / "w" / "wandb").glob("offline-run-*"))
    assert offline, "no offline wandb run in the run folder"


def test_bad_input_is_named_with_the_valid_choices(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("games: [kuhn_poker]\nlearning_rate: 0.1\n")
    out = run("--config", str(bad), cwd=tmp_path)
    assert out.returncode == 2
    assert "unknown config key 'learning_rate'" in out.stderr and "Valid keys:" in out.stderr
    out = run("--advantage", "gae", cwd=tmp_path)
    assert out.returncode == 2 and "advantage" in out.stderr and "'rae'" in out.stderr
    out = run("--game", "kuhn_pokr", "--steps", "1", cwd=tmp_path)
    assert out.returncode == 2 and "kuhn_poker" in out.stderr
    out = run("--resume", str(tmp_path / "nothing"), cwd=tmp_path)
    assert out.returncode == 2 and "not a run folder" in out.stderr


def _start_long_run(tmp_path: Path, name: str, checkpoint_every: int, **popen) -> tuple[subprocess.Popen, Path]:
    """A 400-step run in the background, to be interrupted."""
    args = ["--game", "kuhn_poker", "--steps", "400", "--checkpoint-every", str(checkpoint_every),
            "--eval-every", "0", "--run-name", name, *QUICK]  # fmt: skip
    return subprocess.Popen([*CLI, *args], cwd=tmp_path, **popen), tmp_path / "runs" / name


def _wait_until(condition, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline and not condition():
        time.sleep(0.2)


@pytest.mark.slow
def test_kill_9_then_resume_finishes_the_run(tmp_path):
    proc, run_dir = _start_long_run(tmp_path, "k", 2, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_until(lambda: (run_dir / "checkpoints" / "step_0000004").is_dir())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list((run_dir / "checkpoints").glob("step_*")), "no checkpoint before the kill"
    out = run("--resume", str(run_dir), "--steps", "8", "--no-progress", cwd=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert [m["step"] for m in metrics(run_dir)] == list(range(1, 9))
    assert (run_dir / "checkpoints" / "step_0000008").is_dir()


@pytest.mark.slow
def test_ctrl_c_finishes_the_step_checkpoints_and_says_how_to_continue(tmp_path):
    proc, run_dir = _start_long_run(tmp_path, "c", 1000, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_until(lambda: (run_dir / "metrics.jsonl").exists() and len(metrics(run_dir)) >= 3)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    steps = [m["step"] for m in metrics(run_dir)]
    assert steps == list(range(1, len(steps) + 1)) and 3 <= len(steps) < 400
    assert (run_dir / "checkpoints" / f"step_{steps[-1]:07d}").is_dir()  # the step it stopped after
    assert json.loads((run_dir / "summary.json").read_text())["interrupted"] is True
    assert "gym-reason selfplay --resume runs/c" in stdout.replace("\n", "")


def test_resumed_run_repeats_the_uninterrupted_metrics(tmp_path):
    common = {"games": "kuhn_poker", "eval_every": "3", "eval_games": "16", "games_per_step": "32", "progress": "false",
              "checkpoint_every": "3", "run_dir": str(tmp_path), "lr_schedule": "constant"}  # fmt: skip
    train(load_config(overrides={**common, "steps": "6", "run_name": "whole"}))
    train(load_config(overrides={**common, "steps": "3", "run_name": "parts"}))
    from gym_reason.trainer.loop import resume_config

    train(resume_config(tmp_path / "parts", {"steps": "6"}), resume=tmp_path / "parts")
    timing = ("games_per_s", "tokens_per_s", "step_time", "wall_time")
    whole = [{k: v for k, v in m.items() if k not in timing} for m in metrics(tmp_path / "whole")]
    parts = [{k: v for k, v in m.items() if k not in timing} for m in metrics(tmp_path / "parts")]
    assert whole == parts


@pytest.mark.slow
def test_real_model_with_lora_from_the_command_line(tmp_path, gguf):
    folder, name = gguf
    out = run(
        "--game", "tic_tac_toe", "--model", str(folder), "--gguf-file", name, "--lora", "--steps", "1",
        "--games-per-step", "2", "--max-new-tokens", "16", "--eval-every", "0", "--eval-games", "2",
        "--eval-opponents", "random", "--ppo-epochs", "1", "--run-name", "smol", "--no-progress", "--threads", "1",
        cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    run_dir = tmp_path / "runs" / "smol"
    checkpoint = run_dir / "checkpoints" / "step_0000001"
    assert (checkpoint / "adapter" / "adapter_model.safetensors").is_file()
    assert not (checkpoint / "model.safetensors").exists()  # LoRA saves the adapter only
    line = metrics(run_dir)[0]
    assert line["games"] == 2 and line["failed_games"] == 0 and 0 <= line["invalid_rate"] <= 1
    assert "eval/TicTacToe-v0/random/win_rate" in line


def test_training_leaves_the_callers_torch_rng_alone(tmp_path):
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train(load_config(overrides={"steps": 1, "eval_every": 0, "eval_games": 4, "games_per_step": 8,
                                 "run_dir": str(tmp_path), "progress": False}))  # fmt: skip
    assert torch.equal(torch.rand(3), expected)


def test_eval_at_start_logs_the_untrained_policy_and_leaves_training_alone(tmp_path):
    """A step-0 row holds the untrained policy's evaluation (the same numbers as an evaluation of a fresh
    policy), training after it is unchanged, and a resume neither repeats nor loses it."""
    from gym_reason.trainer.loop import Trainer, evaluate_during_training, resume_config

    common = {"games": "kuhn_poker", "eval_every": "1", "eval_games": "4", "games_per_step": "4", "progress": "false",
              "checkpoint_every": "1", "run_dir": str(tmp_path), "lr_schedule": "constant"}  # fmt: skip
    train(load_config(overrides={**common, "steps": "2", "run_name": "plain"}))
    train(load_config(overrides={**common, "steps": "1", "run_name": "start", "eval_at_start": "true"}))
    train(resume_config(tmp_path / "start", {"steps": "2"}), resume=tmp_path / "start")
    timing = ("games_per_s", "tokens_per_s", "step_time", "wall_time")
    plain = [{k: v for k, v in m.items() if k not in timing} for m in metrics(tmp_path / "plain")]
    start = [{k: v for k, v in m.items() if k not in timing} for m in metrics(tmp_path / "start")]
    assert [m["step"] for m in start] == [0, 1, 2] and start[1:] == plain
    fresh = load_config(overrides={**common, "steps": "1", "run_name": "fresh"})
    expected = evaluate_during_training(Trainer(fresh, tmp_path / "fresh"), 0)
    assert start[0] == {"step": 0, **expected}
    assert 0.0 < start[0]["eval/KuhnPoker-v0/exploitability"] < 1.0
