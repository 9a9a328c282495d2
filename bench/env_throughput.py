"""Games (hands) per second with random legal play, ours against peers, in one process.

    python bench/env_throughput.py [--seconds 1.0] [--rounds 5]

Every contender plays random legal moves and renders the acting player's
observation at every step. Contenders run interleaved for several rounds and
the median rate is reported, with the ratio ours / peer, because this machine
is noisy and absolute rates mislead.

* Kuhn Poker text env: ours (`gym_reason.make("kuhn_poker")`, one hand per
  episode) vs TextArena `KuhnPoker-v0` (three hands per reset; hands counted); and, for
  information, ours as 3-hand matches (`num_hands=3`, whose views also list the hands so far).
* TicTacToe text env: ours vs TextArena `TicTacToe-v0` vs PettingZoo `tictactoe_v3`.
* Pure rules, no text: our Kuhn and TicTacToe states vs pyspiel's `kuhn_poker`
  and `tic_tac_toe`.

Env seeding: every contender is seeded once and then reset without a seed, as
Gymnasium and PettingZoo recommend; TextArena is given no seed.
TextArena runs without its LLM observation wrapper (whose history grows across
resets, a known peer bug that would make it slower and slower); its observation
is rendered as the join of its message list, the cheapest fair rendering.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import gym_reason
from gym_reason.core import LEGAL_ACTIONS
from gym_reason.envs.games.base import resolve_chance
from gym_reason.envs.games.kuhn_poker.rules import KuhnPoker
from gym_reason.envs.games.tic_tac_toe.rules import TicTacToe

Runner = Callable[[float], tuple[int, float]]  # seconds -> (games, elapsed)


def _timed(play_one: Callable[[], int]) -> Runner:
    def run(seconds: float) -> tuple[int, float]:
        games = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            for _ in range(50):
                games += play_one()
            now = time.perf_counter()
            if now >= deadline:
                return games, now - start

    return run


def _aec_games(env, legal_moves: Callable[[Any, dict], list], hands_per_game: int = 1) -> Runner:
    """Games (or hands) of a PettingZoo AEC env, random legal play: seeded once, then reset without a seed."""
    rng = random.Random(0)
    env.reset(seed=0)
    first = [True]

    def play_one() -> int:
        if first[0]:
            first[0] = False
        else:
            env.reset()
        for _agent in env.agent_iter():
            obs, _reward, terminated, truncated, info = env.last()
            env.step(None if terminated or truncated else rng.choice(legal_moves(obs, info)))
        return hands_per_game

    return _timed(play_one)


def _ta_render(env) -> str:
    _player_id, messages = env.get_observation()
    return "\n".join(str(m[1]) if isinstance(m, tuple) else str(m) for m in messages)


def _textarena_games(env, games_per_reset: int, legal_moves: Callable[[dict], list]) -> Runner:
    """Episodes of a bare TextArena env (given no seed), random legal play, the observation rendered every step."""
    rng = random.Random(0)

    def play_one() -> int:
        env.reset(num_players=2)
        done = False
        while not done:
            _ta_render(env)
            done, _info = env.step(f"[{rng.choice(legal_moves(env.state.game_state))}]")
        return games_per_reset

    return _timed(play_one)


# --- ours -----------------------------------------------------------------------------------------


def ours_text(alias: str, **kwargs: Any) -> Runner:
    hands = kwargs.get("num_hands", 1)
    return _aec_games(gym_reason.make(alias, **kwargs), lambda _obs, info: info[LEGAL_ACTIONS], hands)


def ours_rules(game_cls: type) -> Runner:
    game = game_cls()
    rng = random.Random(0)

    def play_one() -> int:
        state = game.new_initial_state()
        resolve_chance(state, rng)
        while not state.is_terminal():
            state.apply(rng.choice(state.legal_actions()))
            resolve_chance(state, rng)
        state.returns()
        return 1

    return _timed(play_one)


# --- peers ----------------------------------------------------------------------------------------


def textarena_kuhn() -> Runner:
    from textarena.envs.KuhnPoker.env import KuhnPokerEnv

    env = KuhnPokerEnv(max_rounds=3)
    return _textarena_games(env, env.max_rounds, lambda game: list(game["current_legal_action_tree"]))


def textarena_tictactoe() -> Runner:
    from textarena.envs.TicTacToe.env import TicTacToeEnv

    def empty_cells(game: dict) -> list[int]:
        board = game["board"]
        return [r * 3 + c for r in range(3) for c in range(3) if board[r][c] == ""]

    return _textarena_games(TicTacToeEnv(), 1, empty_cells)


def pettingzoo_tictactoe() -> Runner:
    from pettingzoo.classic import tictactoe_v3

    return _aec_games(tictactoe_v3.env(), lambda obs, _info: [i for i in range(9) if obs["action_mask"][i]])


def pyspiel_rules(name: str) -> Runner:
    import pyspiel

    game = pyspiel.load_game(name)
    rng = random.Random(0)

    def play_one() -> int:
        state = game.new_initial_state()
        while not state.is_terminal():
            if state.is_chance_node():
                state.apply_action(rng.choice(state.chance_outcomes())[0])
            else:
                state.apply_action(rng.choice(state.legal_actions()))
        state.returns()
        return 1

    return _timed(play_one)


# --- main -----------------------------------------------------------------------------------------

COMPARISONS: list[tuple[str, str, Callable[[], Runner], list[tuple[str, Callable[[], Runner], float | None]]]] = [
    # (title, our label, our runner, [(peer label, peer runner, target ratio or None: for information)])
    ("Kuhn Poker text env, hands/s", "gym-reason kuhn_poker", lambda: ours_text("kuhn_poker"),
     [("TextArena KuhnPoker-v0", textarena_kuhn, 1.5)]),
    ("Kuhn Poker text env, 3-hand matches as TextArena plays them, hands/s", "gym-reason kuhn_poker num_hands=3",
     lambda: ours_text("kuhn_poker", num_hands=3), [("TextArena KuhnPoker-v0", textarena_kuhn, None)]),
    ("TicTacToe text env, games/s", "gym-reason tic_tac_toe", lambda: ours_text("tic_tac_toe"),
     [("TextArena TicTacToe-v0", textarena_tictactoe, 3.0), ("PettingZoo tictactoe_v3", pettingzoo_tictactoe, 5.0)]),
    ("Kuhn Poker pure rules, games/s", "gym-reason KuhnPoker rules", lambda: ours_rules(KuhnPoker),
     [("pyspiel kuhn_poker", lambda: pyspiel_rules("kuhn_poker"), 0.5)]),
    ("TicTacToe pure rules, games/s", "gym-reason TicTacToe rules", lambda: ours_rules(TicTacToe),
     [("pyspiel tic_tac_toe", lambda: pyspiel_rules("tic_tac_toe"), 0.5)]),
]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per contender per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    all_met = True
    for title, ours_label, make_ours, peers in COMPARISONS:
        runners = {ours_label: make_ours()} | {label: make() for label, make, _ in peers}
        rates: dict[str, list[float]] = {label: [] for label in runners}
        for _ in range(args.rounds):
            for label, run in runners.items():  # interleaved, so drift hits everyone alike
                games, elapsed = run(args.seconds)
                rates[label].append(games / elapsed)
        median = {label: statistics.median(r) for label, r in rates.items()}
        print(f"\n{title}")
        for label, rate in median.items():
            print(f"  {label:<34} {rate:>12,.0f}")
        for label, _make, target in peers:
            ratio = median[ours_label] / median[label]
            if target is None:
                print(f"  ratio vs {label:<28} {ratio:6.2f}x  (for information; no target)")
                continue
            met = ratio >= target
            all_met &= met
            print(f"  ratio vs {label:<28} {ratio:6.2f}x  (target >= {target}x: {'met' if met else 'NOT met'})")
    print(f"\nall targets {'met' if all_met else 'NOT all met'}")


if __name__ == "__main__":
    main()
