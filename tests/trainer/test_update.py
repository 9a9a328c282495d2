"""The PPO update in micro-batches: the same gradient as one batch, forward passes bounded by the token budget."""

from __future__ import annotations

import random

import pytest
import torch

from gym_reason.core import derive_seed
from gym_reason.policy import Completion
from gym_reason.trainer.config import ConfigError, load_config
from gym_reason.trainer.credit import assign_advantages
from gym_reason.trainer.loop import Trainer, plan_games
from gym_reason.trainer.rollout import Turn, play_episodes
from gym_reason.trainer.update import accumulate_gradients, micro_batches, update


def _trainer(tmp_path, **overrides) -> Trainer:
    settings = dict(
        games="kuhn_poker,tic_tac_toe",  # prompts of different lengths, so micro-batches differ in shape
        games_per_step=6,
        ppo_epochs=1,
        kl_coef=0.3,
        entropy_coef=0.1,
        seed=3,
        run_dir=str(tmp_path),
        progress=False,
    )
    settings.update(overrides)
    config = load_config(overrides=settings)
    trainer = Trainer(config, tmp_path / "run")
    with torch.no_grad():  # a magnet away from the policy: the KL term and its gradient are not zero
        for p in trainer.magnet.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return trainer


def _turns(trainer: Trainer) -> list[Turn]:
    episodes = play_episodes(trainer.policy, plan_games(trainer, 0), torch.Generator().manual_seed(derive_seed(3, 0)))
    turns = assign_advantages(trainer, [e for e in episodes if e.error is None])
    rng = random.Random(0)
    for turn in turns:  # advantages of both signs and sizes (RAE's first step gives +-returns only)
        turn.advantage = rng.uniform(-2, 2)
    return turns


def _gradient(trainer: Trainer, turns: list[Turn], budget: int) -> tuple[torch.Tensor, dict[str, float]]:
    trainer.config.micro_batch_tokens = budget
    trainer.policy.model.train()
    trainer.optimizer.zero_grad(set_to_none=True)
    stats = accumulate_gradients(trainer, turns, normalizer=float(len(turns)))
    trainer.policy.model.eval()
    grads = [p.grad.flatten() for p in trainer.policy.model.parameters() if p.grad is not None]
    return torch.cat(grads), stats


def test_micro_batches_give_the_one_batch_gradient(tmp_path):
    trainer = _trainer(tmp_path)
    turns = _turns(trainer)
    whole, whole_stats = _gradient(trainer, turns, 0)
    lengths = [len(t.completion.prompt_ids) + len(t.completion.completion_ids) for t in turns]
    budget = 6 * max(lengths)
    split, split_stats = _gradient(trainer, turns, budget)
    assert whole_stats["micro_batches"] == 1 and split_stats["micro_batches"] >= 3
    assert whole.abs().max() > 1e-3  # a gradient worth comparing
    assert torch.allclose(split, whole, atol=1e-6, rtol=0), (split - whole).abs().max()
    for key in ("loss", "entropy", "kl_magnet", "approx_kl", "clip_fraction"):
        assert split_stats[key] == pytest.approx(whole_stats[key], abs=1e-5), key
    assert whole_stats["kl_magnet"] > 0


def test_gradient_checkpointing_gives_the_same_gradient(tmp_path):
    plain = _trainer(tmp_path / "plain")
    checkpointed = _trainer(tmp_path / "ckpt", gradient_checkpointing=True)
    assert checkpointed.policy.model.is_activation_checkpointing and not plain.policy.model.is_activation_checkpointing
    turns = _turns(plain)
    a, _ = _gradient(plain, turns, 0)
    b, _ = _gradient(checkpointed, turns, 0)
    assert torch.allclose(a, b, atol=1e-6, rtol=0)


def test_no_forward_pass_of_the_update_exceeds_the_token_budget(tmp_path):
    trainer = _trainer(tmp_path, games_per_step=8)
    turns = _turns(trainer)
    shapes: list[tuple[int, int]] = []
    hook = trainer.policy.model.register_forward_pre_hook(
        lambda module, args, kwargs: shapes.append(tuple(kwargs["input_ids"].shape)), with_kwargs=True
    )
    longest = max(len(t.completion.prompt_ids) + len(t.completion.completion_ids) for t in turns)
    budget = 2 * longest
    try:
        update(trainer, turns, 0)
        unbounded = max(rows * width for rows, width in shapes)
        shapes.clear()
        trainer.config.micro_batch_tokens = budget
        stats = update(trainer, turns, 1)
    finally:
        hook.remove()
    assert unbounded > budget  # the one-batch update is wider than the budget: the test can fail
    assert max(rows * width for rows, width in shapes) <= budget
    assert stats["micro_batches"] > 1


def _turn(prompt: list[int], completion: list[int]) -> Turn:
    return Turn("env", "a", Completion("", prompt, completion, [(0, None)], [0.0]))


def test_micro_batches_cover_every_turn_once_within_the_budget():
    rng = random.Random(1)
    turns = [_turn([rng.randrange(5) for _ in range(rng.randint(1, 40))], [1]) for _ in range(300)]
    turns += turns[:50]  # repeated positions, as self-play has
    for budget in (41, 100, 1000):
        batches = micro_batches(turns, budget)
        assert sorted(map(id, (t for b in batches for t in b))) == sorted(map(id, turns))
        seen: set[tuple[int, ...]] = set()
        for batch in batches:
            distinct = {(*t.completion.prompt_ids, *t.completion.completion_ids) for t in batch}
            assert len(distinct) * max(map(len, distinct)) <= budget
            assert not distinct & seen  # every copy of a sequence in one micro-batch: it is run once
            seen |= distinct
    assert micro_batches(turns, 0) == [turns]
    assert micro_batches([], 10) == []
    assert [len(b) for b in micro_batches([_turn([1] * 50, [2])] * 3, 10)] == [3]  # too long for any budget: alone


def test_a_negative_token_budget_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="micro_batch_tokens"):
        load_config(overrides={"micro_batch_tokens": "-1"})
    with pytest.raises(ValueError, match="0 = no limit"):
        micro_batches([], -5)


def test_the_token_budget_defaults_to_the_models_size_and_a_given_one_wins():
    assert load_config().micro_batch_budget() == 4096  # the tiny model: few, short sequences
    assert load_config(overrides={"model": "some/model"}).micro_batch_budget() == 512  # SmolLM2 at 64 games: 2.75 GB
    assert load_config(overrides={"model": "some/model", "micro_batch_tokens": "0"}).micro_batch_budget() == 0
    assert load_config(overrides={"micro_batch_tokens": "1024"}).micro_batch_budget() == 1024
