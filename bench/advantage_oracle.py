"""Process-reward estimators scored against exact advantages, on real self-play training batches.

A self-play run of the tiny model (``gym_reason.trainer.loop.train``, default recipe) on Kuhn
Poker and on Leduc Hold'em keeps a checkpoint at several points of the run. At each point the
policy's exact move distribution at every information state (``lm_policy_table``) gives the exact
advantage ``Q(h, a) - V(h)`` of every decision (:func:`gym_reason.eval.exact.exact_advantages`);
then the loop's own batches of that step (``plan_games`` + the rollout, plus further batches from
other seeds of the same policy) are credited by every estimator, through the trainer's own
``assign_advantages``, and each turn's estimate is compared with the exact advantage of its
(history, move):

* **bias**: the root mean square over (history, move) cells of the cell's mean estimate minus the
  exact advantage, with each cell's own sampling variance taken out (``mean^2 - var / n``), cells
  weighted by how often the batches visit them;
* **action bias**: the same with each history's offset taken out (the visit-weighted mean error
  of its moves): a baseline that misses ``V(h)`` shifts every move of ``h`` alike, which adds
  variance but does not bias the policy gradient; what is left does;
* **sd**: the standard deviation of the estimates within a cell, pooled over cells;
* **rank corr**: Spearman's correlation of estimates and exact advantages over the turns of a
  batch, averaged over batches;
* **sign**: the share of turns (with a non-zero exact advantage) whose estimate has its sign.

GRPO divides by a group standard deviation, so its bias and sd are on another scale; its rank
correlation and sign agreement compare with the others. Every estimator sees the same turns.

    nice -n 5 python bench/advantage_oracle.py [--games kuhn_poker,leduc_holdem] [--seeds 0,1]
        [--points 0,40,120] [--batches 2] [--games-per-step 64] [--continuations 8]
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

import gym_reason
from gym_reason.core import derive_seed
from gym_reason.eval.exact import exact_advantages, history_key
from gym_reason.eval.exploitability import exploitability, tabular_policy
from gym_reason.policy.checkpoints import checkpoint_folders
from gym_reason.registry import resolve_id
from gym_reason.trainer.config import load_config
from gym_reason.trainer.credit import assign_advantages
from gym_reason.trainer.loop import Trainer, plan_games, train
from gym_reason.trainer.policy_eval import lm_policy_table
from gym_reason.trainer.rollout import play_episodes
from gym_reason.trainer.step_values import replay_positions

ESTIMATORS: dict[str, dict[str, Any]] = {
    "none (REINFORCE)": {"advantage": "none"},
    "RAE": {"advantage": "rae"},
    "GRPO": {"advantage": "grpo"},
    "turn-level (RAE, gamma 0.9)": {"advantage": "rae", "returns": "turn", "gamma": 0.9},
    "state-grouped (GiGPO)": {"advantage": "state_grouped"},
    "turn-grouped (unbiased)": {"advantage": "turn_grouped"},
    "Monte-Carlo (K continuations)": {"advantage": "monte_carlo"},
}
DEFAULTS = {"returns": "episode", "gamma": 1.0}


def spearman(xs: list[float], ys: list[float]) -> float:
    """Spearman's rank correlation (ties share their mean rank); 0 where either side is constant.

    >>> spearman([1.0, 2.0, 3.0], [10.0, 30.0, 20.0])
    0.5
    """

    def ranks(values: list[float]) -> list[float]:
        order = sorted(range(len(values)), key=values.__getitem__)
        out = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2
            i = j + 1
        return out

    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sx = math.sqrt(sum((a - mx) ** 2 for a in rx))
    sy = math.sqrt(sum((b - my) ** 2 for b in ry))
    if sx == 0 or sy == 0:
        return 0.0
    return sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True)) / (sx * sy)


def measure_point(trainer: Trainer, env_id: str, batches: int, seed: int) -> dict[str, dict[str, list]]:
    """Every estimator's (cell, estimate, exact) triples on ``batches`` batches of the trainer's current policy,
    with the seconds it spent crediting."""
    env = gym_reason.make(env_id)
    exact = exact_advantages(env.game, tabular_policy(lm_policy_table(trainer.policy, env_id, env)))
    records: dict[str, dict[str, list]] = {name: {"batches": [], "seconds": []} for name in ESTIMATORS}
    base_config = trainer.config
    for b in range(batches):
        step = trainer.step + 100_000 * b  # b = 0: the batch the loop plays at this step
        requests = plan_games(trainer, step)
        generator = torch.Generator().manual_seed(derive_seed(seed, step, 6))
        episodes = [e for e in play_episodes(trainer.policy, requests, generator) if e.error is None]
        cells, exact_values = [], []
        for episode in episodes:
            for position in replay_positions(episode, trainer.make_env):
                state = position.snapshot["_state"]  # GameEnv's game state
                move = state.parse_move(env.answer_format.extract(position.answer) or "")
                cells.append(None if move is None else (history_key(state, env.game.num_players), move))
                exact_values.append(None if move is None else exact.advantage(state, move))
        for name, overrides in ESTIMATORS.items():
            trainer.config = base_config.model_copy(update={**DEFAULTS, **overrides})
            baselines = copy.deepcopy(trainer.baselines)
            started = time.perf_counter()
            assign_advantages(trainer, episodes)
            records[name]["seconds"].append(time.perf_counter() - started)
            trainer.baselines = baselines  # every estimator reads the run's baselines as they were
            estimates = [t.advantage for e in episodes for t in e.turns]
            records[name]["batches"].append(
                [(c, a, x) for c, a, x in zip(cells, estimates, exact_values, strict=True) if c is not None]
            )
        trainer.config = base_config
    return records


def score(batches: list[list[tuple]]) -> dict[str, float]:
    """bias, action bias, sd, rank correlation and sign agreement of one estimator over the batches of one policy."""
    by_cell: dict[Any, list[float]] = defaultdict(list)
    exact_of: dict[Any, float] = {}
    for batch in batches:
        for cell, estimate, exact in batch:
            by_cell[cell].append(estimate)
            exact_of[cell] = exact
    stats = {}  # cell -> (n, mean error, variance of the estimates)
    for cell, values in by_cell.items():
        n = len(values)
        if n >= 2:
            mean = sum(values) / n
            stats[cell] = (n, mean - exact_of[cell], sum((x - mean) ** 2 for x in values) / (n - 1))
    # A baseline that misses V(h) shifts every move of h alike: that offset does not bias the policy
    # gradient (it adds variance). The action bias takes each history's visit-weighted offset out.
    offsets: dict[Any, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (history, _), (n, error, _) in stats.items():
        offsets[history][0] += n * error
        offsets[history][1] += n
    weight = sum(n for n, _, _ in stats.values())
    bias2 = sum(n * (error**2 - v / n) for n, error, v in stats.values()) / weight
    action2 = (
        sum(
            n * ((error - offsets[h][0] / offsets[h][1]) ** 2 - v / n)
            for (h, _), (n, error, v) in stats.items()
            if offsets[h][1] > n  # a history with one sampled move has no action contrast
        )
        / weight
    )
    signs = [(e > 0) == (x > 0) for batch in batches for _, e, x in batch if x != 0 and e != 0]
    signs += [False for batch in batches for _, e, x in batch if x != 0 and e == 0]
    return {
        "bias": math.sqrt(max(bias2, 0.0)),
        "action_bias": math.sqrt(max(action2, 0.0)),
        "sd": math.sqrt(sum(n * v for n, _, v in stats.values()) / weight),
        "rank_corr": sum(spearman([e for _, e, _ in b], [x for _, _, x in b]) for b in batches) / len(batches),
        "sign": sum(signs) / max(len(signs), 1),
    }


def run_game(game: str, seed: int, points: list[int], args: argparse.Namespace, root: Path) -> list[dict[str, Any]]:
    env_id = resolve_id(game)
    overrides = {
        "games": game, "seed": seed, "steps": max(*points, 1), "games_per_step": args.games_per_step,
        "checkpoint_every": max(math.gcd(*points), 1), "keep_checkpoints": 10_000, "eval_every": 0, "eval_games": 2,
        "run_dir": str(root), "run_name": f"{game}-{seed}", "progress": False, "threads": 1,
        "mc_continuations": args.continuations,
    }  # fmt: skip
    config = load_config(overrides=overrides)
    started = time.perf_counter()
    if max(points) > 0:
        train(config)
    trained = time.perf_counter() - started
    folders = {int(f.name.rpartition("_")[2]): f for f in checkpoint_folders(root / f"{game}-{seed}")}
    rows = []
    for point in points:
        trainer = Trainer(config, root / f"{game}-{seed}")
        if point > 0:
            trainer.load(folders[point])
        env = gym_reason.make(env_id)
        expl = exploitability(env.game, tabular_policy(lm_policy_table(trainer.policy, env_id, env)))
        t0 = time.perf_counter()
        records = measure_point(trainer, env_id, args.batches, seed)
        for name, record in records.items():
            rows.append(
                {"game": game, "seed": seed, "step": point, "exploitability": expl, "estimator": name,
                 "turns": sum(len(b) for b in record["batches"]), "seconds": sum(record["seconds"]) / len(record["seconds"]),
                 **score(record["batches"])}
            )  # fmt: skip
        print(
            f"  {game} seed {seed} step {point}: exploitability {expl:.3f}, measured in {time.perf_counter() - t0:.0f}s "
            f"(training to {max(points)} steps took {trained:.0f}s)",
            flush=True,
        )
    return rows


def table(rows: list[dict[str, Any]], games: list[str]) -> str:
    head = "| estimator | " + " | ".join(f"{g}: bias | action bias | sd | rank corr | sign" for g in games)
    lines = [head + " | s/batch |", "|---|" + "---:|" * (5 * len(games) + 1)]
    for name in ESTIMATORS:
        cells = []
        seconds = []
        for game in games:
            mine = [r for r in rows if r["estimator"] == name and r["game"] == game]
            for key in ("bias", "action_bias", "sd", "rank_corr", "sign"):
                cells.append(f"{sum(r[key] for r in mine) / len(mine):.3f}")
            seconds += [r["seconds"] for r in mine]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {sum(seconds) / len(seconds):.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--games", default="kuhn_poker,leduc_holdem")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--points", default="0,40,120", help="training steps at which to measure")
    parser.add_argument("--batches", type=int, default=2, help="batches per point (the loop's, then other seeds)")
    parser.add_argument("--games-per-step", type=int, default=64)
    parser.add_argument("--continuations", type=int, default=8, help="Monte-Carlo K")
    parser.add_argument("--out", default=None, help="write every row as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    games = [g.strip() for g in args.games.split(",") if g.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]
    points = sorted({int(p) for p in args.points.split(",")})
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for game in games:
            for seed in seeds:
                rows += run_game(game, seed, points, args, Path(tmp))
    print(
        f"\n{len(games)} games x {len(seeds)} seeds x steps {points} x {args.batches} batches of "
        f"{args.games_per_step} games; Monte-Carlo K = {args.continuations}; {time.perf_counter() - started:.0f}s\n"
    )
    print(table(rows, games))
    for game in games:
        print(f"\n{game}: rank correlation by training step")
        for point in points:
            line = ", ".join(
                f"{name.split(' (')[0]} {sum(r['rank_corr'] for r in m) / len(m):.2f}"
                for name in ESTIMATORS
                if (m := [r for r in rows if r["game"] == game and r["step"] == point and r["estimator"] == name])
            )
            expl = [r["exploitability"] for r in rows if r["game"] == game and r["step"] == point]
            print(f"  step {point} (exploitability {sum(expl) / len(expl):.3f}): {line}")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
