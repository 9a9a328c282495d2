"""Role-conditioned advantages and returns against hand-computed values."""

import pytest

from gym_reason.trainer.advantages import (
    episode_returns,
    group_normalized_advantages,
    process_reward,
    role_conditioned_advantages,
    turn_returns,
)

P0 = ("gym_reason/KuhnPoker-v0", "player_0")
P1 = ("gym_reason/KuhnPoker-v0", "player_1")
T0 = ("gym_reason/TicTacToe-v0", "player_0")


def test_baseline_is_read_before_it_is_updated():
    # First batch: baselines start at 0, so the advantage is the raw return.
    adv, b = role_conditioned_advantages([P0, P0], [1.0, 3.0], {}, decay=0.5)
    assert adv == [1.0, 3.0]
    assert b == {P0: 1.0}  # 0.5 * 0 + 0.5 * mean(1, 3)
    # Second batch reads 1.0 (not the value it is about to become).
    adv, b = role_conditioned_advantages([P0], [2.0], b, decay=0.5)
    assert adv == [1.0]
    assert b == {P0: 1.5}


def test_each_role_and_game_has_its_own_baseline():
    baselines = {P0: -0.5, P1: 0.5, T0: 0.25}
    adv, b = role_conditioned_advantages([P0, P1, T0, P1], [1.0, 1.0, 1.0, -1.0], baselines, decay=0.9)
    assert adv == [1.5, 0.5, 0.75, -1.5]
    assert b[P0] == pytest.approx(0.9 * -0.5 + 0.1 * 1.0)
    assert b[P1] == pytest.approx(0.9 * 0.5 + 0.1 * 0.0)  # mean of +1 and -1
    assert b[T0] == pytest.approx(0.9 * 0.25 + 0.1 * 1.0)
    assert baselines == {P0: -0.5, P1: 0.5, T0: 0.25}  # the input is left alone


def test_roles_missing_from_a_batch_keep_their_baseline():
    _, b = role_conditioned_advantages([P0], [1.0], {P0: 0.0, P1: 0.7}, decay=0.95)
    assert b[P1] == 0.7


def test_ema_converges_to_the_mean_return():
    b: dict = {}
    for _ in range(400):
        _, b = role_conditioned_advantages([P0, P0], [-1.0, 0.0], b, decay=0.95)
    assert b[P0] == pytest.approx(-0.5, abs=1e-6)


def test_bad_decay_is_named():
    with pytest.raises(ValueError, match="decay must be in"):
        role_conditioned_advantages([P0], [1.0], {}, decay=1.0)


def test_group_normalisation_is_per_role():
    adv = group_normalized_advantages([P0, P0, P1, P1], [2.0, 0.0, 5.0, 5.0])
    assert adv[:2] == pytest.approx([1.0, -1.0], abs=1e-5)
    assert adv[2:] == [0.0, 0.0]  # no spread, no signal


def test_turn_returns_add_process_rewards():
    rewards = [process_reward({"format": 0.1}, 0.1, {"format": 1.0}), 0.0, 1.0]
    assert turn_returns(rewards, gamma=1.0) == pytest.approx([1.1, 1.0, 1.0])
    assert turn_returns(rewards, gamma=0.9) == pytest.approx([0.1 + 0.81, 0.9, 1.0])
    assert episode_returns(rewards) == pytest.approx([1.1] * 3)
    # A weight of 0 removes a component from the return.
    assert process_reward({"format": 0.1, "outcome": 1.0}, 1.1, {"format": 0.0}) == pytest.approx(1.0)


def test_the_config_names_exactly_the_estimators_advantages_defines():
    import typing

    from gym_reason.trainer.advantages import AdvantageEstimator
    from gym_reason.trainer.config import ConfigError, SelfPlayConfig, load_config

    assert SelfPlayConfig.model_fields["advantage"].annotation == AdvantageEstimator
    with pytest.raises(ConfigError) as error:
        load_config(overrides={"advantage": "ppo"})
    assert all(f"'{name}'" in str(error.value) for name in typing.get_args(AdvantageEstimator))
