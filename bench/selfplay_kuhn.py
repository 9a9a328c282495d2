"""The default self-play run on Kuhn Poker, measured on its final checkpoint.

Runs ``configs/selfplay_kuhn.yaml`` (tiny built-in model, CPU, 10-minute limit), then
loads the *final* checkpoint (not the best one) and reports:
  * exact exploitability, against the uniform policy's (0.458) computed in the same process;
  * mean chips per hand against ``random`` (uniform over legal moves), averaged over seats:
    exactly (the game tree walked with the policy's probabilities) and over 8192 sampled
    games; next to the Nash agent's exact value (the Nash family earns +0.11 to +0.17);
  * the exploitability curve, also saved as ``curves.png`` in the run folder.
Goal: exploitability <= 0.10 (stretch 0.05) and >= +0.10 chip per hand against random.

    python bench/selfplay_kuhn.py [--time-limit 600] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.eval.exact import expected_returns, scripted_policy, uniform_policy
from gym_reason.eval.exploitability import exploitability, tabular_policy
from gym_reason.policy import load_policy
from gym_reason.trainer.config import load_config
from gym_reason.trainer.loop import train
from gym_reason.trainer.policy_eval import evaluate_policy, lm_policy_exploitability, lm_policy_table

KUHN = "gym_reason/KuhnPoker-v0"
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "selfplay_kuhn.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-limit", type=float, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--games", type=int, default=8192, help="games against random for the final numbers")
    parser.add_argument("--run-dir", default=None, help="where the run folder goes (default: a temporary folder)")
    args = parser.parse_args()
    run_dir = args.run_dir or tempfile.mkdtemp(prefix="selfplay_kuhn_")
    config = load_config(
        CONFIG,
        {"time_limit": args.time_limit, "seed": args.seed, "run_dir": run_dir, "run_name": "bench", "progress": False},
    )
    started = time.perf_counter()
    result = train(config)
    wall = time.perf_counter() - started

    env = gym_reason.make(KUHN)
    policy = load_policy(result.checkpoint)
    final = lm_policy_exploitability(policy, KUHN, env)
    versus_random = evaluate_policy(
        policy,
        KUHN,
        lambda: gym_reason.make(KUHN),
        ["random"],
        args.games,
        seed=12345,
        generator=torch.Generator().manual_seed(1),
    )["random"]

    def versus_uniform(policy_fn) -> float:
        first = expected_returns(env.game, [policy_fn, uniform_policy])[0]
        second = expected_returns(env.game, [uniform_policy, policy_fn])[1]
        return (first + second) / 2

    learned_exact = versus_uniform(tabular_policy(lm_policy_table(policy, KUHN, env)))
    nash_exact = versus_uniform(scripted_policy(make_agent("fixed:nash", env, seed=0)))

    curve = [
        (m["step"], m["wall_time"], m["eval/KuhnPoker-v0/exploitability"])
        for m in map(json.loads, (result.run_dir / "metrics.jsonl").read_text().splitlines())
        if "eval/KuhnPoker-v0/exploitability" in m
    ]
    print(f"run: {result.run_dir} ({result.step} steps in {wall:.0f} s wall, {config.games_per_step} games per step)")
    print("exploitability curve (step, seconds, exploitability):")
    for step, seconds, value in curve:
        print(f"  {step:5d} {seconds:6.0f} s  {value:.4f}")
    print(f"uniform policy exploitability (baseline): {exploitability(env.game, uniform_policy):.4f}")
    print(f"final checkpoint exploitability:          {final:.4f}   (goal <= 0.10, stretch <= 0.05)")
    print(
        f"final checkpoint vs random, chips/hand:   {learned_exact:+.4f} exact; {versus_random.mean_reward:+.4f} over {args.games} sampled games (goal >= +0.10)"
    )
    print(f"Nash (alpha 0) vs random, chips/hand:     {nash_exact:+.4f} exact")
    print(f"curves: {result.run_dir / 'curves.png'}")


if __name__ == "__main__":
    main()
