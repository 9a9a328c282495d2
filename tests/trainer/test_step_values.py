"""Monte-Carlo step values converge to the exact Q(h, a) - V(h) of the game tree, within a tolerance set by K."""

from __future__ import annotations

import math

import pytest
import torch

import gym_reason
from gym_reason.eval.engine import EpisodeRequest, Learner, play_episodes
from gym_reason.eval.exact import exact_advantages
from gym_reason.eval.exploitability import tabular_policy
from gym_reason.policy import tiny_policy
from gym_reason.trainer.policy_eval import lm_policy_table
from gym_reason.trainer.step_values import monte_carlo_step_values, replay_positions

Z = 4.5
"""Standard errors allowed per turn: with a few dozen turns, a correct estimator exceeds it with
probability ~1e-4."""


def _errors(env_id: str, episodes: int, k: int, seed: int) -> list[tuple[float, float, float, float]]:
    """Per learning turn: (Monte-Carlo advantage, exact advantage, its standard error, before-value error / se)."""
    torch.manual_seed(seed)
    policy = tiny_policy(seed=seed)
    env = gym_reason.make(env_id)
    exact = exact_advantages(env.game, tabular_policy(lm_policy_table(policy, env_id, env)))
    generator = torch.Generator().manual_seed(seed)
    requests = [EpisodeRequest(env_id, gym_reason.make(env_id), seed=100 + i) for i in range(episodes)]
    played = play_episodes(requests, learner=Learner(policy, generator))
    values = monte_carlo_step_values(policy, played, k, gym_reason.make, generator, seed=seed)
    out = []
    for episode, row in zip(played, values, strict=True):
        for position, value in zip(replay_positions(episode, gym_reason.make), row, strict=True):
            state = position.snapshot["_state"]  # GameEnv's game state, as the snapshot holds it
            move = state.parse_move(env.answer_format.extract(position.answer))
            var_before = _variance(value.before)
            se = math.sqrt((var_before + _variance(value.after)) / k) + 1e-12
            before_error = (sum(value.before) / k - exact.value(state)) / (math.sqrt(var_before / k) + 1e-12)
            out.append((value.advantage, exact.advantage(state, move), se, before_error))
    return out


def _variance(xs: list[float]) -> float:
    mean = sum(xs) / len(xs)
    return sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)


def _check(errors: list[tuple[float, float, float, float]]) -> float:
    zs = [(mc - exact) / se for mc, exact, se, _ in errors]
    assert all(abs(z) < Z for z in zs), zs
    assert all(abs(before) < Z for *_, before in errors)
    return sum(z * z for z in zs) / len(zs)


def test_monte_carlo_step_values_on_kuhn_agree_with_the_exact_advantages() -> None:
    errors = _errors("gym_reason/KuhnPoker-v0", episodes=3, k=24, seed=0)
    assert len(errors) >= 6
    _check(errors)


@pytest.mark.slow
def test_monte_carlo_step_values_on_kuhn_converge_as_k_grows() -> None:
    """K = 1000: every turn within 4.5 standard errors (each at most sqrt(8 / K) = 0.09, returns being in
    [-2, 2]), and the mean squared z-score near 1: the spread is what K predicts, no bias on top."""
    k = 1000
    errors = _errors("gym_reason/KuhnPoker-v0", episodes=12, k=k, seed=1)
    mean_z2 = _check(errors)
    assert 0.3 < mean_z2 < 2.5
    assert max(se for _, _, se, _ in errors) <= math.sqrt(8 / k) * 1.01
    assert max(abs(mc - exact) for mc, exact, _, _ in errors) < Z * math.sqrt(8 / k)


@pytest.mark.slow
def test_monte_carlo_step_values_on_leduc_draw_the_public_card_afresh() -> None:
    """Leduc deals its public card after the first round: continuations reseed the env, so the values
    average over the card (the exact ones do) instead of repeating the episode's."""
    _check(_errors("gym_reason/LeducHoldem-v0", episodes=4, k=200, seed=2))


def test_reseed_deals_chance_afresh_after_a_restore() -> None:
    """Continuations of one snapshot: restored alone, every one sees the snapshot's next card; reseeded, fresh ones."""
    env = gym_reason.make("gym_reason/LeducHoldem-v0")
    env.reset(seed=5)
    env.step("[check]")  # player_1's check ends the first round: the public card comes next
    snapshot = env.snapshot()
    fresh, repeated = set(), set()
    for seed in range(20):
        env.restore(snapshot)
        env.reseed(seed)
        env.step("[check]")
        fresh.add(env.last()[4]["game_observation"]["public_card"])
        env.restore(snapshot)
        env.step("[check]")
        repeated.add(env.last()[4]["game_observation"]["public_card"])
    assert len(repeated) == 1 and len(fresh) >= 3


class _CrashingEnv:
    """A Kuhn env whose moves raise: what a continuation meets when an env breaks mid-rollout."""

    def __init__(self, env):
        self._env = env

    def __getattr__(self, name):
        return getattr(self._env, name)

    def step(self, action):
        raise RuntimeError("env crashed")


def test_a_failed_continuation_leaves_its_turn_uncredited_instead_of_stopping_training() -> None:
    policy = tiny_policy(seed=0)
    generator = torch.Generator().manual_seed(0)
    env_id = "gym_reason/KuhnPoker-v0"
    requests = [EpisodeRequest(env_id, gym_reason.make(env_id), seed=100 + i) for i in range(2)]
    played = play_episodes(requests, learner=Learner(policy, generator))
    made = []

    def make_env(name):  # the replays (one env per episode) work; every continuation's env crashes
        made.append(name)
        env = gym_reason.make(name)
        return env if len(made) <= len(played) else _CrashingEnv(env)

    values = monte_carlo_step_values(policy, played, 2, make_env, generator, seed=0)
    turns = [v for row in values for v in row]
    assert turns and all(v.failed and v.advantage is None for v in turns)
    assert all("env crashed" in error for v in turns for error in v.failed)
