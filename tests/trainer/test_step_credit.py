"""Step-level estimators: state-grouped advantages, the per-turn normalisation caveat (against the exact
policy gradient of a task where the policy decides when to stop), Monte-Carlo step values."""

from __future__ import annotations

import math
import random

import pytest

from gym_reason.trainer.advantages import (
    per_turn_normalized_advantages,
    state_grouped_advantages,
    step_value_advantage,
    turn_baseline_advantages,
    turn_returns,
)

# --- a task where the policy chooses when to stop -------------------------------------------------------
# At turn t < 2 the policy continues (reward STEP, probability sigmoid(THETA[t])) or stops (reward STOP[t]);
# at turn 2 it must stop. Its exact policy gradient is a sum over the three possible episodes.
STEP, STOP, THETA = 0.5, (0.0, 1.0, 3.0), (0.3, -0.2)


def _continue(t: int) -> float:
    return 1 / (1 + math.exp(-THETA[t]))


def _score(t: int, move: str) -> list[float]:
    """d log pi(move at turn t) / d theta."""
    grad = [0.0, 0.0]
    if t < 2:
        p = _continue(t)
        grad[t] = (1 - p) if move == "continue" else -p
    return grad


def _exact_gradient() -> list[float]:
    grad = [0.0, 0.0]
    for stop in range(3):
        moves = ["continue"] * stop + ["stop"]
        rewards = [STEP] * stop + [STOP[stop]]
        prob = math.prod(_continue(u) for u in range(stop)) * ((1 - _continue(stop)) if stop < 2 else 1.0)
        for t, move in enumerate(moves):
            grad = [g + prob * sum(rewards) * s for g, s in zip(grad, _score(t, move), strict=True)]
    return grad


def _episodes(n: int, seed: int) -> list[tuple[list[str], list[float]]]:
    rng = random.Random(seed)
    episodes = []
    for _ in range(n):
        moves, rewards = [], []
        for t in range(3):
            if t < 2 and rng.random() < _continue(t):
                moves.append("continue")
                rewards.append(STEP)
            else:
                moves.append("stop")
                rewards.append(STOP[t])
                break
        episodes.append((moves, rewards))
    return episodes


def _gradient(episodes, advantages) -> list[float]:
    grad = [0.0, 0.0]
    for (moves, _), row in zip(episodes, advantages, strict=True):
        for t, (move, a) in enumerate(zip(moves, row, strict=True)):
            grad = [g + a * s / len(episodes) for g, s in zip(grad, _score(t, move), strict=True)]
    return grad


def test_turn_baseline_is_unbiased_and_per_turn_normalisation_is_not_when_the_policy_stops() -> None:
    exact = _exact_gradient()
    episodes = _episodes(20_000, seed=0)
    keys = ["task"] * len(episodes)
    rewards = [r for _, r in episodes]
    plain = _gradient(episodes, [turn_returns(r) for r in rewards])
    baseline = _gradient(episodes, turn_baseline_advantages(keys, rewards))
    per_turn = _gradient(episodes, per_turn_normalized_advantages(keys, rewards))
    # Sampling error of 20,000 episodes: the plain REINFORCE estimate shows its size.
    noise = max(abs(p - e) for p, e in zip(plain, exact, strict=True))
    assert noise < 0.02
    for got, want in zip(baseline, exact, strict=True):
        assert got == pytest.approx(want, abs=0.02)
    # The per-turn-normalised gradient points elsewhere: here it even says "stop earlier" at turn 1,
    # where continuing is better (exact gradient +0.36).
    assert exact[1] > 0.3 and per_turn[1] < 0
    assert max(abs(p - e) for p, e in zip(per_turn, exact, strict=True)) > 10 * noise


def test_state_grouped_advantages_compare_with_the_other_turns_from_the_same_state() -> None:
    states = ["s", "s", "s", "t", "u"]
    returns = [3.0, 1.0, 2.0, 5.0, -1.0]
    roles = ["r"] * 5
    adv = state_grouped_advantages(states, returns, roles)
    assert adv[:3] == [3.0 - 1.5, 1.0 - 2.5, 2.0 - 2.0]  # leave-one-out means
    # "t" and "u" are alone: each against the mean of the other four turns of its role.
    assert adv[3] == pytest.approx(5.0 - (3 + 1 + 2 - 1) / 4)
    assert adv[4] == pytest.approx(-1.0 - (3 + 1 + 2 + 5) / 4)
    with pytest.raises(ValueError, match="2 state keys but 1 returns"):
        state_grouped_advantages(["a", "b"], [1.0])


def test_state_grouped_advantages_estimate_q_minus_v_without_bias() -> None:
    """Two actions from one state with known Q: the leave-one-out group mean makes E[A | a] = Q(a) - V exactly,
    even in small groups (a mean that held the turn itself would shrink it by (n - 1) / n)."""
    rng = random.Random(1)
    q = {"a": 1.0, "b": -0.5}
    p_a = 0.3
    v = p_a * q["a"] + (1 - p_a) * q["b"]
    sums = {"a": [0.0, 0], "b": [0.0, 0]}
    for _ in range(4000):
        actions = ["a" if rng.random() < p_a else "b" for _ in range(4)]
        returns = [q[x] + rng.gauss(0, 1) for x in actions]
        for x, a in zip(actions, state_grouped_advantages(["s"] * 4, returns), strict=True):
            sums[x][0] += a
            sums[x][1] += 1
    for x in ("a", "b"):
        assert sums[x][0] / sums[x][1] == pytest.approx(q[x] - v, abs=0.06)


def test_step_value_advantage_needs_continuations_on_both_sides() -> None:
    assert step_value_advantage([0.0, 2.0], [1.0]) == 0.0
    with pytest.raises(ValueError, match="at least one continuation"):
        step_value_advantage([], [1.0])


# --- through the trainer's credit assignment ---------------------------------------------------------
def _played(tmp_path, **overrides):
    import torch

    from gym_reason.trainer.config import load_config
    from gym_reason.trainer.loop import Trainer, plan_games
    from gym_reason.trainer.rollout import play_episodes

    settings = dict(games="kuhn_poker", games_per_step=12, seed=4, run_dir=str(tmp_path), progress=False)
    trainer = Trainer(load_config(overrides={**settings, **overrides}), tmp_path / "run")
    episodes = play_episodes(trainer.policy, plan_games(trainer, 0), torch.Generator().manual_seed(4))
    return trainer, episodes


def test_assign_advantages_groups_turns_by_their_state_key(tmp_path) -> None:
    from gym_reason.trainer.credit import assign_advantages

    trainer, episodes = _played(tmp_path, advantage="state_grouped")
    assign_advantages(trainer, episodes)
    turns = [t for e in episodes for seq in _by_role(e) for t in seq]
    returns = [g for e in episodes for seq in _by_role(e) for g in turn_returns([t.reward for t in seq])]
    assert all(isinstance(t.state_key, str) for t in turns)  # Kuhn's information state, e.g. "2pb"
    expected = state_grouped_advantages(
        [(t.env_id, t.role, t.state_key) for t in turns], returns, [(t.env_id, t.role) for t in turns]
    )
    assert [t.advantage for t in turns] == pytest.approx(expected)


def test_assign_advantages_turn_grouped_defaults_to_the_unbiased_baseline(tmp_path) -> None:
    from gym_reason.trainer.config import ConfigError, load_config
    from gym_reason.trainer.credit import assign_advantages

    trainer, episodes = _played(tmp_path, advantage="turn_grouped")
    assert trainer.config.turn_normalization == "baseline"
    assign_advantages(trainer, episodes)
    sequences = [seq for e in episodes for seq in _by_role(e)]
    expected = turn_baseline_advantages(
        [(s[0].env_id, s[0].role) for s in sequences], [[t.reward for t in s] for s in sequences]
    )
    assert [t.advantage for s in sequences for t in s] == pytest.approx([a for row in expected for a in row])
    with pytest.raises(ConfigError, match="turn_normalization"):
        load_config(overrides={"turn_normalization": "per_index"})


def _by_role(episode) -> list[list]:
    by_role: dict[str, list] = {}
    for turn in episode.turns:
        by_role.setdefault(turn.role, []).append(turn)
    return list(by_role.values())
