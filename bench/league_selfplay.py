"""League self-play against latest-self, on Kuhn Poker and Leduc Hold'em: exact exploitability over wall time.

A tabular softmax policy (one logit per information state and move) learns by REINFORCE with a
per-seat moving-average baseline, from games played on the pure rules. Three ways to pick the
opponent of each game, with the same budget (steps x games per step) and the same seeds:

* ``latest``: the current policy plays both seats (plain self-play, as SPIRAL does);
* ``pfsp``: a :class:`~gym_reason.trainer.league.League` (checkpoints every ``--snapshot-every`` steps
  through the exploitability gate, plus an exact best response to the current policy at each snapshot)
  sampled by prioritized fictitious self-play; the learner takes one seat, the opponent the other;
* ``psro``: the same pool, sampled from the meta-Nash of its payoff matrix.

Wall time counts training and the league's own work (payoff matrices, best responses, the gate);
the exploitability measured for the curve is not counted. Prints one line per (game, method) with
the final exploitability (mean and spread over seeds) and its ratio to latest-self's, and writes
every curve to ``--out`` (JSON).

    python bench/league_selfplay.py --seeds 0 1 2            # ~ a few minutes on one core
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
from pathlib import Path

import numpy as np

from gym_reason.envs.games.base import CHANCE, Game
from gym_reason.envs.games.kuhn_poker.rules import KuhnPoker
from gym_reason.envs.games.leduc_holdem.rules import LeducHoldem
from gym_reason.eval.exploitability import exploitability
from gym_reason.trainer.league import League

METHODS = ("latest", "pfsp", "psro")


class SoftmaxLearner:
    """A tabular softmax policy over information states, trained by REINFORCE with a per-seat baseline."""

    def __init__(self, lr: float, seed: int) -> None:
        self.logits: dict[str, np.ndarray] = {}
        self.moves: dict[str, list[str]] = {}
        self.lr = lr
        self.baseline = [0.0, 0.0]
        self.rng = random.Random(seed)

    def probs(self, info: str, legal: list[str]) -> np.ndarray:
        if info not in self.logits:
            self.logits[info] = np.zeros(len(legal))
            self.moves[info] = list(legal)
        z = self.logits[info]
        e = np.exp(z - z.max())
        return e / e.sum()

    def policy(self, state, player):  # an exact-analysis Policy
        legal = state.legal_actions()
        return dict(zip(legal, self.probs(state.information_state(player), legal), strict=True))

    def frozen(self):
        """The current policy as a fixed table (the league tabulates it exactly; latest-self reads it live)."""
        return self.policy

    def update(self, trajectories: list[tuple[int, list[tuple[str, int]], float]]) -> None:
        """REINFORCE: each (seat, [(info, move index)], return) moves the logits along (onehot - probs) * advantage."""
        for seat, decisions, ret in trajectories:
            advantage = ret - self.baseline[seat]
            for info, k in decisions:
                z = self.logits[info]
                e = np.exp(z - z.max())
                p = e / e.sum()
                grad = -p
                grad[k] += 1
                self.logits[info] = z + self.lr * advantage * grad
        for seat in (0, 1):
            returns = [r for s, _, r in trajectories if s == seat]
            if returns:
                self.baseline[seat] = 0.9 * self.baseline[seat] + 0.1 * statistics.fmean(returns)


def play(game: Game, learner: SoftmaxLearner, learner_seats: tuple[int, ...], opponent, rng: random.Random):
    """One game; returns the learner's trajectories, one per seat it held."""
    state = game.new_initial_state()
    decisions: dict[int, list[tuple[str, int]]] = {s: [] for s in learner_seats}
    while not state.is_terminal():
        player = state.current_player()
        if player == CHANCE:
            outcomes = state.chance_outcomes()
            x, chosen = rng.random(), outcomes[-1][0]
            for move, p in outcomes:
                x -= p
                if x < 0:
                    chosen = move
                    break
            state.apply(chosen)
            continue
        legal = state.legal_actions()
        if player in learner_seats:
            info = state.information_state(player)
            p = learner.probs(info, legal)
            k = int(rng.choices(range(len(legal)), weights=p)[0])
            decisions[player].append((info, k))
            state.apply(legal[k])
        else:
            probs = opponent(state, player)
            moves = list(probs)
            state.apply(rng.choices(moves, weights=[probs[m] for m in moves])[0])
    returns = state.returns()
    return [(s, decisions[s], returns[s]) for s in learner_seats]


def run(game: Game, method: str, seed: int, steps: int, games_per_step: int, snapshot_every: int, lr: float,
        eval_every: int, payoff_deals: int, gate_tolerance: float) -> list[dict]:  # fmt: skip
    rng = random.Random(seed)
    learner = SoftmaxLearner(lr, seed)
    league = None
    if method != "latest":
        league = League(game, sampler=method, snapshot_every=snapshot_every, gate_tolerance=gate_tolerance,
                        payoff_deals=payoff_deals, seed=seed)  # fmt: skip
    curve, wall = [], 0.0
    for step in range(steps + 1):
        if step % eval_every == 0:
            curve.append({"step": step, "wall_s": round(wall, 3),
                          "exploitability": exploitability(game, learner.policy),
                          "pool": len(league.entries) if league else 0,
                          "refused": len(league.refused) if league else 0})  # fmt: skip
        if step == steps:
            break
        start = time.perf_counter()
        if league is not None and league.due(step):
            league.add_checkpoint(step, learner.policy)
            league.add_best_response(learner.policy, step=step)
            if method == "pfsp":
                league.measure(learner.policy, step)
        trajectories = []
        for g in range(games_per_step):
            if league is None:
                trajectories += play(game, learner, (0, 1), None, rng)
            else:
                seat = g % 2
                trajectories += play(game, learner, (seat,), league.sample(rng).policy, rng)
        learner.update(trajectories)
        wall += time.perf_counter() - start
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--games", nargs="+", default=["kuhn_poker", "leduc_holdem"])
    parser.add_argument("--kuhn-steps", type=int, default=400)
    parser.add_argument("--leduc-steps", type=int, default=120)
    parser.add_argument("--games-per-step", type=int, default=32)
    parser.add_argument("--snapshot-every", type=int, default=20)
    parser.add_argument("--eval-every", type=int, default=20)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--payoff-deals", type=int, default=32)
    parser.add_argument("--gate-tolerance", type=float, default=0.05)
    parser.add_argument("--out", default="runs/league_selfplay.json")
    parser.add_argument("--plot", default="runs/league_selfplay.png", help="exploitability over wall time, per game")
    args = parser.parse_args()
    games = {"kuhn_poker": (KuhnPoker(), args.kuhn_steps), "leduc_holdem": (LeducHoldem(), args.leduc_steps)}
    results: dict[str, dict[str, list[list[dict]]]] = {}
    for name in args.games:
        game, steps = games[name]
        results[name] = {}
        for method in METHODS:
            results[name][method] = [
                run(
                    game,
                    method,
                    seed,
                    steps,
                    args.games_per_step,
                    args.snapshot_every,
                    args.lr,
                    args.eval_every,
                    args.payoff_deals,
                    args.gate_tolerance,
                )
                for seed in args.seeds
            ]
        base = statistics.fmean(c[-1]["exploitability"] for c in results[name]["latest"])
        for method in METHODS:
            curves = results[name][method]
            final = [c[-1]["exploitability"] for c in curves]
            best = [min(p["exploitability"] for p in c) for c in curves]
            wall = statistics.fmean(c[-1]["wall_s"] for c in curves)
            spread = statistics.stdev(final) if len(final) > 1 else math.nan
            print(f"{name:13s} {method:6s} final exploitability {statistics.fmean(final):.4f} +- {spread:.4f} "
                  f"(best on the way {statistics.fmean(best):.4f}; ratio to latest {statistics.fmean(final) / base:.2f}) "
                  f"wall {wall:.1f} s, pool {curves[0][-1]['pool']}, refused {curves[0][-1]['refused']}, "
                  f"seeds {args.seeds}")  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "curves": results}, indent=1) + "\n")
    print(f"curves: {out}")
    plot(results, Path(args.plot))


def plot(results: dict[str, dict[str, list[list[dict]]]], path: Path) -> None:
    """Exploitability against wall time, one panel per game, one line per (method, seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    colours = {"latest": "tab:gray", "pfsp": "tab:blue", "psro": "tab:orange"}
    for ax, (name, methods) in zip(axes[0], results.items(), strict=True):
        for method, curves in methods.items():
            for k, curve in enumerate(curves):
                ax.plot([p["wall_s"] for p in curve], [p["exploitability"] for p in curve], color=colours[method],
                        alpha=0.8, label=method if k == 0 else None)  # fmt: skip
        ax.set(title=name, xlabel="wall time (s, training and league work)", ylabel="exact exploitability")
        ax.set_yscale("log")
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
