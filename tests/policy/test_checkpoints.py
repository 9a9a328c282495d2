"""Checkpoint I/O: a GGUF-loaded model copied without its quantizer; policies saved and loaded back; a run's checkpoints found."""

from __future__ import annotations

import pytest
import torch

from gym_reason.policy.checkpoints import (
    CHECKPOINTS,
    POLICY_FILE,
    checkpoint_folders,
    latest_checkpoint,
    load_policy,
    plain_copy,
    resolve_checkpoint,
    save_policy,
)
from gym_reason.policy.tiny import byte_tokenizer, tiny_model, tiny_policy


def test_plain_copy_is_the_same_model_and_saves(tmp_path):
    from transformers import AutoModelForCausalLM

    tokenizer = byte_tokenizer()
    model = tiny_model(tokenizer, seed=5).eval()
    copy = plain_copy(model).eval()
    ids = torch.tensor([tokenizer("kuhn|player_0|2|", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, copy(input_ids=ids).logits)
        copy.save_pretrained(tmp_path)
        reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
        assert torch.equal(reloaded(input_ids=ids).logits, copy(input_ids=ids).logits)


def test_a_saved_policy_loads_back_with_its_weights_and_settings(tmp_path):
    policy = tiny_policy(seed=7, temperature=0.5, max_new_tokens=12, decoding="think", think_tokens=5)
    save_policy(policy, tmp_path / "step_0000001")
    loaded = load_policy(tmp_path / "step_0000001")
    assert loaded.settings() == policy.settings()
    saved = dict(policy.model.named_parameters())
    for name, value in loaded.model.named_parameters():
        assert torch.equal(value, saved[name]), name
    prompt, answers = "kuhn_poker|player_0|1|", ["[check]", "[bet]"]
    (before,), (after,) = (
        policy.answer_probabilities([prompt], [answers]),
        loaded.answer_probabilities([prompt], [answers]),
    )
    assert after == pytest.approx(before, abs=1e-6)  # float32 forwards of a freshly built model


def test_a_run_folder_resolves_to_its_newest_complete_checkpoint(tmp_path):
    run = tmp_path / "run"
    for name in ("step_0000002", "step_0000010", "step_0000011.tmp"):  # .tmp: a checkpoint being written
        (run / CHECKPOINTS / name).mkdir(parents=True)
    (run / CHECKPOINTS / "step_0000012").write_text("not a folder")
    newest = run / CHECKPOINTS / "step_0000010"
    assert [p.name for p in checkpoint_folders(run)] == ["step_0000002", "step_0000010"]
    assert latest_checkpoint(run) == newest
    assert resolve_checkpoint(run) == newest
    (newest / POLICY_FILE).write_text("{}")
    assert resolve_checkpoint(newest) == newest  # a checkpoint folder is itself
    assert latest_checkpoint(tmp_path / "missing") is None


@pytest.mark.parametrize("where", ["empty", "missing"])
def test_a_folder_without_checkpoints_is_a_clear_error(tmp_path, where):
    path = tmp_path / where
    if where == "empty":
        path.mkdir()
    with pytest.raises(
        FileNotFoundError, match=r"neither a run folder with checkpoints nor a checkpoint folder.*runs/<run-id>"
    ):
        resolve_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="holds no gym-reason policy"):
        load_policy(path)


@pytest.mark.parametrize(("saved", "mode"), [(True, "constrained"), (False, "free")])
def test_a_checkpoint_saved_before_the_decoding_modes_loads_with_its_mode(tmp_path, saved, mode):
    import json

    policy = tiny_policy(seed=1)
    save_policy(policy, tmp_path)
    settings = json.loads((tmp_path / POLICY_FILE).read_text())
    settings.pop("decoding"), settings.pop("think_tokens")
    (tmp_path / POLICY_FILE).write_text(json.dumps({**settings, "constrained": saved}))
    assert load_policy(tmp_path).decoding == mode


def test_bad_decoding_settings_name_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown decoding mode 'guided'; valid: \['constrained', 'think', 'free'\]"):
        tiny_policy(decoding="guided")
    with pytest.raises(ValueError, match="think_tokens must be a positive number of tokens, got 0"):
        tiny_policy(think_tokens=0)
