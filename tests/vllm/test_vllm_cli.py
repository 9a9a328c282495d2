"""The vLLM backend end to end, each in a subprocess of its own (marker ``vllm``; see conftest.py for the install):
``gym-reason selfplay --backend vllm --lora --steps 3`` completes with the gap in every step's metrics, and
bench/gpu_rollout.py runs in its CPU smoke mode. A separate module from test_vllm_backend.py, whose engine is
gone by then, so one SmolLM2 engine runs at a time.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.vllm.conftest import require_vllm

pytestmark = pytest.mark.vllm


def test_selfplay_cli_with_the_vllm_backend(smol_folder, tmp_path):
    """The issue's command, small: 3 steps of LoRA training sampled by vLLM, the gap in every step's metrics."""
    command = [
        sys.executable, "-m", "gym_reason.cli", "selfplay", "--game", "kuhn_poker", "--backend", "vllm",
        "--model", str(smol_folder), "--lora", "--steps", "3", "--games-per-step", "4", "--ppo-epochs", "1",
        "--kl-coef", "0", "--eval-games", "2", "--eval-opponents", "random", "--think-tokens", "16", "--threads", "1",
        "--no-progress", "--run-dir", str(tmp_path), "--run-name", "run",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    for step, record in enumerate(records):
        assert record["vllm/weight_pushes"] == step  # pushed after every update (read before the next)
        assert record["logprob_gap/decisions"] > 0
        assert 0 <= record["logprob_gap/mean"] < 1e-3 and record["logprob_gap/max"] < 1e-2
        assert record["invalid_rate"] == 0.0
        assert record["games"] == 4
    assert records[-1]["eval/KuhnPoker-v0/random/invalid_rate"] == 0.0  # the final evaluation samples through vLLM too


def test_gpu_rollout_bench_smoke_mode_runs_on_the_cpu(tmp_path):
    """bench/gpu_rollout.py's CPU smoke mode: a Qwen-vocabulary 2-layer random model, one measured step."""
    require_vllm()  # no SmolLM2 fixture here to skip for it
    out = tmp_path / "gpu_rollout.json"
    command = [sys.executable, "bench/gpu_rollout.py", "--device", "cpu", "--tiny-shapes", "--steps", "1",
               "--games", "2", "--think-tokens", "8", "--threads", "1", "--out", str(out)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=Path(__file__).parents[2])
    assert done.returncode == 0, done.stderr[-3000:]
    (result,) = json.loads(out.read_text())
    assert result["hardware"].startswith("CPU") and result["shape"] == "tiny"
    assert result["ours_rollout_tokens_per_s"] > 0 and result["raw_generate_tokens_per_s"] > 0
    assert 0 <= result["share_outside_generation_and_update"] < 1
    (step,) = result["steps"]
    assert step["invalid_rate"] == 0 and step["completion_tokens"] > 0 and step["logprob_gap_max"] < 1e-2
