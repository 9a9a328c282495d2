"""The checker passes every registered env and catches envs that break the contract."""

from __future__ import annotations

import random

import pytest

import gym_reason
from gym_reason.checker import check_env
from gym_reason.envs.game_env import GameEnv
from gym_reason.envs.games.kuhn_poker.rules import KuhnPoker, KuhnPokerState
from gym_reason.envs.games.kuhn_poker.template import KuhnPokerTemplate


@pytest.mark.parametrize("env_id", [s.id for s in gym_reason.list_envs()])
def test_every_registered_env_passes(env_id):
    report = check_env(env_id)
    assert report.ok, str(report)
    assert len(report.results) >= 6


@pytest.mark.parametrize(
    "kwargs",
    [
        {"answer_format": "boxed"},
        {"invalid_move": "spiral"},
        {"num_hands": 3},
        {"max_turns": 2},
    ],
)
def test_kuhn_variants_pass(kwargs):
    report = check_env("kuhn_poker", env_kwargs=kwargs)
    assert report.ok, str(report)


def _kuhn() -> GameEnv:
    return GameEnv(KuhnPoker(), KuhnPokerTemplate())


class _RaisesOnGarbage(GameEnv):
    def step(self, action):
        if isinstance(action, str) and not self._over and self.answer_format.extract(action) is None:
            raise ValueError("cannot parse")
        super().step(action)


class _GlobalRandom(GameEnv):
    """Deals from the global random module, as a peer library does."""

    def reset(self, seed=None, options=None):
        super().reset(seed=random.randrange(10**9))


class _ForgetsCumulative(GameEnv):
    def step(self, action):
        super().step(action)
        for a in self._cumulative_rewards:
            self._cumulative_rewards[a] = 0.0


class _NoStateKey(GameEnv):
    def _select(self, player):
        super()._select(player)
        self.infos[self.agent_selection].pop("state_key")


@pytest.mark.parametrize(
    ("broken", "failing_check"),
    [
        (_RaisesOnGarbage, "garbage actions"),
        (_GlobalRandom, "determinism"),
        (_ForgetsCumulative, "api"),
        (_NoStateKey, "api"),
    ],
)
def test_checker_catches_broken_envs(broken, failing_check):
    report = check_env(lambda: broken(KuhnPoker(), KuhnPokerTemplate()), episodes=10)
    assert not report.ok
    assert any(r.name.startswith(failing_check) for r in report.failures()), str(report)


def test_check_env_reports_a_constructor_that_raises():
    def boom():
        raise RuntimeError("no")

    report = check_env(boom)
    assert not report.ok and report.results[0].name == "construct"


class _ConstantKeyState(KuhnPokerState):
    """Claims every position looks the same, so the env's memo would show stale text."""

    def observation_key(self, player):
        return "same"


class _ConstantKeyKuhn(KuhnPoker):
    def new_initial_state(self):
        return _ConstantKeyState(self.num_hands)


def test_checker_catches_observation_keys_that_hide_differences():
    report = check_env(lambda: GameEnv(_ConstantKeyKuhn(), KuhnPokerTemplate()), episodes=5)
    assert "observation keys" in [r.name for r in report.failures()], str(report)


class _ViewKeyState(KuhnPokerState):
    """Keys views on what they show, but its information states hold the opponent's card too, so
    the env's memo would report a stale ``info[STATE_KEY]``."""

    def information_state(self, player):
        return f"{KuhnPokerState.information_state(self, player)}/{self._cards}"

    def observation_key(self, player):
        key = KuhnPokerState.information_state(self, player)
        return f"{key}|{self._cards}" if self.is_terminal() else key


class _ViewKeyKuhn(KuhnPoker):
    def new_initial_state(self):
        return _ViewKeyState(self.num_hands)


def test_checker_catches_observation_keys_that_do_not_determine_the_information_state():
    report = check_env(lambda: GameEnv(_ViewKeyKuhn(), KuhnPokerTemplate()), episodes=5)
    failures = [r for r in report.failures() if r.name == "observation keys"]
    assert failures and "information state" in failures[0].detail, str(report)


def test_single_agent_env_with_a_non_text_space_fails_the_spaces_check():
    import gymnasium

    from gym_reason.core import ACTION_FORMAT, OUTCOME, ROLE, STATE_KEY, text_space

    class Counter(gymnasium.Env):
        """Text observations, but a Discrete action space: breaks the text-in contract."""

        observation_space = text_space()
        action_space = gymnasium.spaces.Discrete(2)

        def reset(self, seed=None, options=None):
            super().reset(seed=seed)
            return "count", {ROLE: "agent", ACTION_FORMAT: "[n]", STATE_KEY: 0}

        def step(self, action):
            return "done", 0.0, True, False, {ROLE: "agent", ACTION_FORMAT: "[n]", STATE_KEY: 1, OUTCOME: "draw"}

    report = check_env(Counter, episodes=2)
    spaces = next(r for r in report.results if r.name == "spaces")
    assert not spaces.passed and "Discrete" in spaces.detail and "action space" in spaces.detail
