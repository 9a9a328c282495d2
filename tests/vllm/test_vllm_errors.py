"""The vLLM backend's usage errors, raised before anything loads (no vLLM needed: these run in the default suite)."""

from __future__ import annotations

import pytest

from gym_reason.cli import main
from gym_reason.policy.vllm_backend import check_vllm_model
from gym_reason.trainer.config import load_config
from gym_reason.trainer.loop import build_policy


def test_the_tiny_model_cannot_run_in_vllm():
    with pytest.raises(ValueError, match=r"--backend vllm needs --model.*gym-reason export-model"):
        build_policy(load_config(overrides={"backend": "vllm"}))


def test_a_gguf_file_or_a_folder_without_weights_is_refused_with_the_fix(tmp_path):
    with pytest.raises(ValueError, match=r"not the GGUF file 'm\.gguf'.*export-model"):
        check_vllm_model(tmp_path, "m.gguf")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=r"not a transformers model folder.*export-model"):
        check_vllm_model(tmp_path, None)
    (tmp_path / "model.safetensors").write_bytes(b"")
    check_vllm_model(tmp_path, None)  # config and weights: vLLM can try it


def test_selfplay_backend_vllm_without_model_exits_2_naming_the_fix(capsys):
    assert main(["selfplay", "--backend", "vllm", "--steps", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--backend vllm needs --model" in err and "export-model" in err


def test_selfplay_rejects_an_unknown_backend(capsys):
    assert main(["selfplay", "--backend", "sglang", "--steps", "1", "--no-progress"]) == 2
    assert "backend" in capsys.readouterr().err


def test_export_model_refuses_to_overwrite_a_model(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    assert main(["export-model", "--model", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "already holds a model" in capsys.readouterr().err
