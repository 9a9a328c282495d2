"""League self-play through the real trainer: exact exploitability over training time of the tiny LM policy.

``bench/league_selfplay.py`` compares opponent sampling for a tabular learner; this script runs the same
comparison through :func:`gym_reason.trainer.loop.train` (the tiny GPT-2 policy, constrained decoding,
RAE, PPO, the KL magnet: ``gym-reason selfplay`` with its defaults) on Kuhn Poker and Leduc Hold'em, with
the same step budget and seeds for every method:

* ``latest``: ``--league off``, plain self-play against the latest self (SPIRAL);
* ``uniform`` / ``pfsp`` / ``psro``: ``--league <sampler>``: every ``--snapshot-every`` steps the policy
  is offered to the pool through the exploitability gate, with the exact best response to it; a
  ``--league-fraction`` of the games seat a pool opponent.

The exploitability of the policy is measured exactly by the trainer's evaluation (``eval_every``, no
opponents, so only the exact measure runs); the time it takes is subtracted, so the x-axis counts
training and the league's own work (snapshots, tabulation, gate, best responses, payoff matrices), in
CPU seconds of the process (one torch thread; the plot's axis, since on a shared machine wall time
measures the load) and in wall seconds. Step 0 is the initial policy (the same for every method of a
seed). Prints one line per run and a table per (game, method), writes every curve to ``--out`` (JSON,
rewritten after each run; ``--continue`` skips the runs it already holds, ``--merge`` adds another
process's file) and a plot to ``--plot``.

    nice -n 5 python bench/league_lm.py --seeds 0 1 2          # ~20 min of one core (Kuhn ~45 s a run, Leduc ~60 s)
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

import gym_reason.trainer.loop as loop
from gym_reason.registry import resolve_id
from gym_reason.trainer.config import load_config
from gym_reason.trainer.policy_eval import lm_policy_exploitability

METHODS = ("latest", "uniform", "pfsp", "psro")


def run(game: str, method: str, seed: int, args: argparse.Namespace, budget: dict[str, int], root: Path) -> dict:
    """One training run; its exploitability curve against training wall time."""
    steps = budget["steps"]
    config = load_config(
        overrides={
            "games": [game],
            "steps": steps,
            "games_per_step": budget["games_per_step"],
            "seed": seed,
            "threads": 1,
            "eval_every": budget["eval_every"],
            "eval_opponents": [],
            "eval_games": 2,
            "checkpoint_every": steps,
            "league": "off" if method == "latest" else method,
            "league_snapshot_every": budget["snapshot_every"],
            "league_fraction": args.league_fraction,
            "league_gate_tolerance": args.gate_tolerance,
            "run_dir": str(root),
            "run_name": f"{game}-{method}-{seed}",
            "progress": False,
        }
    )
    shutil.rmtree(root / str(config.run_name), ignore_errors=True)  # a run cut short before: start it again
    evaluations: dict[int, tuple[float, float]] = {}  # step -> (wall, CPU) seconds the evaluation took
    evaluate = loop.evaluate_during_training

    def timed(trainer: Any, step: int) -> dict[str, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        metrics = evaluate(trainer, step)
        evaluations[step] = (time.perf_counter() - wall, time.process_time() - cpu)
        return metrics

    key = f"eval/{resolve_id(game).rpartition('/')[2]}/exploitability"
    curve, invalid = [], []
    clock = {"wall": 0.0, "cpu": 0.0, "eval_wall": 0.0, "eval_cpu": 0.0}

    def on_step(step: int, metrics: dict[str, Any]) -> None:
        invalid.append(metrics["invalid_rate"])
        eval_wall, eval_cpu = evaluations.get(step, (0.0, 0.0))
        clock["eval_wall"] += eval_wall
        clock["eval_cpu"] += eval_cpu
        if key in metrics:
            curve.append({"step": step, "wall_s": round(time.perf_counter() - clock["wall"] - clock["eval_wall"], 3),
                          "cpu_s": round(time.process_time() - clock["cpu"] - clock["eval_cpu"], 3),
                          "exploitability": metrics[key]})  # fmt: skip

    loop.evaluate_during_training = timed  # train() looks it up at each call
    clock["wall"], clock["cpu"] = time.perf_counter(), time.process_time()
    try:
        result = loop.train(config, on_step=on_step)
    finally:
        loop.evaluate_during_training = evaluate
    league = []
    log = result.run_dir / "league.jsonl"
    if log.exists():
        league = [json.loads(line) for line in log.read_text().splitlines()]
    return {
        "curve": curve,
        "invalid_rate": max(invalid),
        "pool": sum(e["event"] == "pool_add" for e in league),
        "refused": sum(e["event"] == "gate" and not e["accepted"] for e in league),
    }


def initial_exploitability(game: str, seed: int) -> float:
    """The exploitability of the policy every method of ``seed`` starts from."""
    import gym_reason

    config = load_config(overrides={"games": [game], "seed": seed, "threads": 1})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # as the Trainer seeds the model's initialisation
        policy = loop.build_policy(config)
    env_id = resolve_id(game)
    return lm_policy_exploitability(policy, env_id, gym_reason.make(env_id))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--games", nargs="+", default=["kuhn_poker", "leduc_holdem"])
    parser.add_argument("--methods", nargs="+", default=["latest", "pfsp", "psro", "uniform"], choices=METHODS)
    for game, steps, games, every in (("kuhn", 300, 128, 25), ("leduc", 40, 32, 10)):
        parser.add_argument(f"--{game}-steps", type=int, default=steps)
        parser.add_argument(f"--{game}-games-per-step", type=int, default=games)
        parser.add_argument(f"--{game}-snapshot-every", type=int, default=every, help="league snapshot interval")
        parser.add_argument(
            f"--{game}-eval-every", type=int, default=every, help="exploitability measured every N steps"
        )
    parser.add_argument("--league-fraction", type=float, default=0.5)
    parser.add_argument("--gate-tolerance", type=float, default=0.05)
    parser.add_argument("--run-dir", help="where the runs go (default: a temporary folder, removed after)")
    parser.add_argument("--out", default="docs/league_lm.json")
    parser.add_argument("--plot", default="docs/league_lm.png", help="exploitability over CPU time and steps")
    parser.add_argument("--continue", dest="resume", action="store_true", help="keep the runs --out already holds")
    parser.add_argument("--merge", nargs="*", default=[], help="result files of other runs of this script to add")
    parser.add_argument("--report", action="store_true", help="only print the table and plot of --out (and --merge)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    budgets = {
        f"{game}_{suffix}": {
            key: getattr(args, f"{game}_{key}") for key in ("steps", "games_per_step", "snapshot_every", "eval_every")
        }
        for game, suffix in (("kuhn", "poker"), ("leduc", "holdem"))
    }
    out = Path(args.out)
    results: dict[str, Any] = {"curves": {}, "initial": {}}
    if args.resume and out.exists():
        results = json.loads(out.read_text())
    for other in args.merge:  # e.g. Kuhn and Leduc run as two processes
        merged = json.loads(Path(other).read_text())
        for game, methods in merged["curves"].items():
            for method, by_seed in methods.items():
                results["curves"].setdefault(game, {}).setdefault(method, {}).update(by_seed)
        for game, by_seed in merged["initial"].items():
            results["initial"].setdefault(game, {}).update(by_seed)
    results["args"] = vars(args)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.run_dir or tmp)
        for game in [] if args.report else args.games:
            initial = results["initial"].setdefault(game, {})
            curves = results["curves"].setdefault(game, {})
            for method in args.methods:  # method by method: a run cut short lacks the last methods, not seeds
                runs = curves.setdefault(method, {})
                for seed in args.seeds:
                    if str(seed) in runs:
                        continue
                    if str(seed) not in initial:
                        initial[str(seed)] = initial_exploitability(game, seed)
                    start = time.perf_counter()
                    record = run(game, method, seed, args, budgets[game], root)
                    record["curve"].insert(
                        0, {"step": 0, "wall_s": 0.0, "cpu_s": 0.0, "exploitability": initial[str(seed)]}
                    )
                    record["process_s"] = round(time.perf_counter() - start, 1)
                    runs[str(seed)] = record
                    final = record["curve"][-1]
                    print(f"{game} {method} seed {seed}: exploitability {final['exploitability']:.4f} at step "
                          f"{final['step']}, CPU {final['cpu_s']:.1f} s, wall {final['wall_s']:.1f} s, pool {record['pool']}, "
                          f"refused {record['refused']}, max invalid rate {record['invalid_rate']:.3f}", flush=True)  # fmt: skip
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_text(json.dumps(results, indent=1) + "\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))
    print(f"curves: {out}")
    plot(results, Path(args.plot))


def table(results: dict[str, Any]) -> str:
    """Final exploitability per (game, method), mean +- sd over seeds, its ratio to latest-self's, the lowest point
    on the way, the CPU and wall seconds of training (league work included) and the pool per seed."""
    lines = ["| game | method | seeds | final exploitability | ratio to latest | lowest on the way | CPU s | wall s | "
             "pool entries - refused, per seed |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for game, methods in results["curves"].items():
        latest = methods.get("latest", {})
        base = statistics.fmean(r["curve"][-1]["exploitability"] for r in latest.values()) if latest else math.nan
        for method, runs in methods.items():
            final = [r["curve"][-1]["exploitability"] for r in runs.values()]
            best = [min(p["exploitability"] for p in r["curve"]) for r in runs.values()]
            cpu = statistics.fmean(r["curve"][-1]["cpu_s"] for r in runs.values())
            wall = statistics.fmean(r["curve"][-1]["wall_s"] for r in runs.values())
            spread = statistics.stdev(final) if len(final) > 1 else math.nan
            pool = ", ".join(f"{r['pool']}-{r['refused']}" for r in runs.values())
            lines.append(f"| {game} | {method} | {len(final)} | {statistics.fmean(final):.4f} +- {spread:.4f} | "
                         f"{statistics.fmean(final) / base:.2f} | {statistics.fmean(best):.4f} | {cpu:.1f} | {wall:.1f} | "
                         f"{pool} |")  # fmt: skip
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    """Exploitability against CPU seconds of training (top; wall time on a shared machine measures the load) and
    against steps (bottom), one panel per game, one line per (method, seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = results["curves"]
    fig, axes = plt.subplots(2, len(curves), figsize=(6 * len(curves), 8), squeeze=False)
    colours = {"latest": "tab:gray", "uniform": "tab:green", "pfsp": "tab:blue", "psro": "tab:orange"}
    for column, (game, methods) in enumerate(curves.items()):
        for row, (x, label) in enumerate((("cpu_s", "CPU s of training and league work"), ("step", "step"))):
            ax = axes[row][column]
            for method, runs in methods.items():
                for k, record in enumerate(runs.values()):
                    points = record["curve"]
                    ax.plot([p[x] for p in points], [p["exploitability"] for p in points], color=colours[method],
                            alpha=0.8, marker=".", label=method if k == 0 else None)  # fmt: skip
            ax.set(title=f"{game}: tiny LM through the PPO trainer", xlabel=label, ylabel="exact exploitability")
            ax.set_yscale("log")
            ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
