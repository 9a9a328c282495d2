"""Batched rollout vs one game at a time, same model, same games, through the episode engine.

Plays 256 Kuhn Poker games with the default tiny model (constrained decoding) twice:
all in flight at once (one batched forward pass per round) and one after another.
Prints games/s of each, the speed-up ratio (goal >= 30x), and the share of batched
rollout time spent outside the model's forward passes (goal <= 10%).

Then a task: CodeInterpreter-v0 (bubblewrap sandbox, one persistent interpreter session per
episode) played by a scripted solver (two code cells, the second reading the first's variable,
then a final answer), 32 episodes in flight and one at a time: episodes/s and the share of the
time spent in the sandbox (the env's cell runs). Skipped, with the reason, where bubblewrap cannot run.

    python bench/rollout_overhead.py [--games 256] [--repeats 3] [--task-episodes 32]
"""

from __future__ import annotations

import argparse
import time

import torch

import gym_reason
from gym_reason.eval.engine import EpisodeRequest
from gym_reason.eval.engine import play_episodes as play
from gym_reason.trainer.config import load_config
from gym_reason.trainer.loop import build_policy
from gym_reason.trainer.rollout import play_episodes

KUHN = "gym_reason/KuhnPoker-v0"
CODE = "gym_reason/CodeInterpreter-v0"


class ForwardTimer:
    """Accumulates wall time spent inside the model's forward passes."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.seconds = 0.0
        self.calls = 0
        model.register_forward_pre_hook(self._start)
        model.register_forward_hook(self._stop)

    def _start(self, module, args):
        self._t0 = time.perf_counter()

    def _stop(self, module, args, output):
        self.seconds += time.perf_counter() - self._t0
        self.calls += 1


def requests(n: int, seed: int) -> list[EpisodeRequest]:
    return [EpisodeRequest(KUHN, gym_reason.make(KUHN), seed=seed + i) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--task-episodes", type=int, default=32)
    args = parser.parse_args()
    policy = build_policy(load_config())
    timer = ForwardTimer(policy.model)
    play_episodes(policy, requests(32, 0), torch.Generator().manual_seed(0))  # warm-up

    batched, one_by_one, outside = [], [], []
    for r in range(args.repeats):
        reqs = requests(args.games, 1000 * r)
        timer.seconds = 0.0
        t0 = time.perf_counter()
        episodes = play_episodes(policy, reqs, torch.Generator().manual_seed(r))
        elapsed = time.perf_counter() - t0
        assert all(e.error is None for e in episodes)
        batched.append(elapsed)
        outside.append(1 - timer.seconds / elapsed)

        reqs = requests(args.games, 1000 * r)
        generator = torch.Generator().manual_seed(r)
        t0 = time.perf_counter()
        for request in reqs:
            play_episodes(policy, [request], generator)
        one_by_one.append(time.perf_counter() - t0)

    b, s = min(batched), min(one_by_one)
    print(f"{args.games} concurrent Kuhn games, tiny model, constrained decoding, best of {args.repeats}")
    print(f"  batched:    {b:.3f} s  ({args.games / b:,.0f} games/s)")
    print(f"  one by one: {s:.3f} s  ({args.games / s:,.0f} games/s)")
    print(f"  speed-up:   {s / b:.1f}x   (goal >= 30x)")
    print(
        f"  batched rollout time outside forward passes: {min(outside):.1%} (best) / {max(outside):.1%} (worst)  (goal <= 10%)"
    )
    bench_task(args.task_episodes, args.repeats)


class ScriptedSolver:
    """Writes a cell that defines ``x``, a cell that prints from it (the session must persist), then a final answer."""

    name = "scripted-solver"

    def act(self, batch):
        answers = []
        for _obs, info in batch:
            turn = int(info["state_key"].split("|")[1])  # the env's key: task id | turns played | transcript digest
            cells = ["```python\nx = sum(i * i for i in range(2000))\n```", "```python\nprint(x % 997)\n```"]
            answers.append(cells[turn] if turn < len(cells) else "[42]")
        return answers


def bench_task(episodes: int, repeats: int) -> None:
    from gym_reason.envs.code.interpreter import CodeInterpreterEnv
    from gym_reason.sandboxes import SandboxUnavailable

    try:
        probe = gym_reason.make(CODE, max_turns=4)
    except SandboxUnavailable as error:
        print(f"CodeInterpreter: skipped ({error})")
        return
    probe.close()
    sandbox_seconds = [0.0]
    run_cell = CodeInterpreterEnv._run_cell

    def timed(self, code):
        t0 = time.perf_counter()
        try:
            return run_cell(self, code)
        finally:
            sandbox_seconds[0] += time.perf_counter() - t0

    CodeInterpreterEnv._run_cell = timed  # type: ignore[method-assign]
    solver = ScriptedSolver()
    rows = {}
    for concurrency in (episodes, 1):
        runs = []
        for r in range(repeats):
            requests = [EpisodeRequest(CODE, seed=1000 * r + i, players=(solver,)) for i in range(episodes)]
            sandbox_seconds[0] = 0.0
            t0 = time.perf_counter()
            done = play(requests, make_env=lambda: gym_reason.make(CODE, max_turns=4), concurrency=concurrency)
            elapsed = time.perf_counter() - t0
            assert not any(e.failed for e in done), next(e.error for e in done if e.failed)
            assert all(e.moves == [3] for e in done)
            runs.append((elapsed, sandbox_seconds[0] / elapsed))
        rows[concurrency] = min(runs)
    CodeInterpreterEnv._run_cell = run_cell  # type: ignore[method-assign]
    print(f"CodeInterpreter-v0, scripted solver (3 replies, 2 cells per episode), bwrap, best of {repeats}")
    for concurrency, (elapsed, share) in rows.items():
        print(f"  {concurrency:3d} in flight: {episodes / elapsed:6.2f} episodes/s, sandbox time share {share:.1%}")


if __name__ == "__main__":
    main()
