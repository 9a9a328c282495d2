"""The checker passes every registered env and catches envs that break the contract."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys

import gymnasium
import pytest

import gym_reason
from gym_reason.checker import check_env
from gym_reason.core import (
    ACTION_FORMAT,
    INVALID_ACTION,
    OUTCOME,
    PARSED_ACTION,
    REWARD_COMPONENTS,
    ROLE,
    STATE_KEY,
    AnswerFormat,
    Outcome,
    text_space,
)
from gym_reason.envs.game_env import GameEnv
from gym_reason.envs.games.kuhn_poker.rules import KuhnPoker, KuhnPokerState
from gym_reason.envs.games.kuhn_poker.template import KuhnPokerTemplate
from gym_reason.sandboxes import SandboxUnavailable
from tests.envs.web.browser_guard import browser_missing
from tests.sandbox_guard import sandbox_missing


def _needs_browser(env_id: str) -> bool:
    return env_id.startswith("gym_reason/MiniWoB-")  # tasks that run their own scripts in Chromium


@pytest.mark.parametrize(
    "env_id",
    [pytest.param(s.id, marks=pytest.mark.browser) if _needs_browser(s.id) else s.id for s in gym_reason.list_envs()],
)
def test_every_registered_env_passes(env_id):
    report = check_env(env_id)
    if report.unavailable is not None and not report.failures():
        if _needs_browser(env_id):
            browser_missing(report.unavailable)  # fails instead where $GYM_REASON_REQUIRE_BROWSER says so (CI)
        sandbox_missing("bwrap", report.unavailable)  # the code envs' default sandbox
    assert report.ok, str(report)
    assert sum(r.passed for r in report.results) >= 6
    if env_id.startswith("gym_reason/"):  # every built-in env declares its action grammar, and its parser agrees
        (grammar,) = [r for r in report.results if r.name.startswith("action grammar")]
        assert grammar.passed, str(report)


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


def test_an_env_whose_sandbox_is_missing_is_unavailable_neither_passed_nor_failed():
    def needs_bwrap():
        raise SandboxUnavailable(
            "bubblewrap (bwrap) not found at 'bwrap': install bubblewrap: apt-get install bubblewrap"
        )

    report = check_env(needs_bwrap)
    assert report.status == "UNAVAILABLE" and not report.ok and report.failures() == []
    assert str(report).startswith("needs_bwrap: UNAVAILABLE (") and "apt-get install bubblewrap" in str(report)


def test_episodes_below_one_is_an_error_not_a_vacuous_pass():
    with pytest.raises(ValueError, match="episodes must be an int >= 1, got 0"):
        check_env("kuhn_poker", episodes=0)


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


class _Countdown(gymnasium.Env):
    """A single-agent task: name the secret digit within 6 turns; every observation shows the turn."""

    observation_space = action_space = text_space()

    def __init__(self):
        self.fmt, self.rng = AnswerFormat.named("bracket"), random.Random()

    def _info(self, **extra):
        return {ROLE: "guesser", ACTION_FORMAT: "Write a digit in brackets, e.g. [5].", STATE_KEY: self.turn, **extra}

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        if seed is not None:
            self.rng.seed(seed)
        self.secret, self.turn = self.rng.randint(1, 9), 0
        return "Name my digit (1-9) in 6 turns.", self._info()

    def step(self, action):
        self.turn += 1
        answer = self.fmt.extract(action)
        guess = int(answer) if answer in set("123456789") else None
        won = guess == self.secret
        reward = 1.0 if won else -0.1
        info = self._info(**{INVALID_ACTION: guess is None, PARSED_ACTION: answer if guess else None})
        info[REWARD_COMPONENTS] = {"outcome": reward}
        over = self.turn >= 6 and not won
        if won or over:
            info[OUTCOME] = Outcome.WIN if won else Outcome.TRUNCATED
        return f"turn {self.turn}: {'right' if won else 'wrong'}", reward, won, over, info


class _CountdownWithSnapshots(_Countdown):
    """With snapshot()/restore(): a restore that loses any state shows in the observations that follow."""

    def snapshot(self):
        return {"secret": self.secret, "turn": self.turn, "rng": self.rng.getstate()}

    def restore(self, snapshot):
        self.secret, self.turn = snapshot["secret"], snapshot["turn"]
        self.rng.setstate(snapshot["rng"])


class _ForgetsTheTurn(_CountdownWithSnapshots):
    def restore(self, snapshot):
        turn = self.turn
        super().restore(snapshot)
        self.turn = turn


class _RestoresNothing(_CountdownWithSnapshots):
    def restore(self, snapshot):
        pass


def test_single_agent_snapshot_check_passes_a_correct_restore():
    report = check_env(_CountdownWithSnapshots, episodes=5)
    snapshots = next(r for r in report.results if r.name == "snapshot/restore")
    assert report.ok and snapshots.passed, str(report)
    assert "replayed identically" in snapshots.detail


@pytest.mark.parametrize("broken", [_ForgetsTheTurn, _RestoresNothing])
def test_single_agent_snapshot_check_fails_a_restore_that_loses_state(broken):
    report = check_env(broken, episodes=5)
    assert [r.name for r in report.failures()] == ["snapshot/restore"], str(report)
    assert report.status == "FAIL" and "restore()" in report.failures()[0].detail


def test_an_env_without_snapshot_is_not_applicable_not_ok():
    report = check_env(_Countdown, episodes=2)
    line = next(r for r in report.results if r.name == "snapshot/restore")
    assert line.status == "n/a" and not line.passed and not line.failed
    assert report.ok and "[n/a] snapshot/restore" in str(report)


@pytest.mark.slow  # ~12 s: `check --all` in a subprocess
def test_check_reports_envs_whose_sandbox_is_missing_apart_from_failures(tmp_path):
    """`gym-reason check` on a machine without bubblewrap (an empty PATH hides it): the code envs are
    "unavailable" with the install command, the rest pass, and the exit status is 0."""
    env = {**os.environ, "PATH": str(tmp_path)}
    env.pop("GYM_REASON_CHROMIUM", None)  # Chromium is then unavailable too
    cli = [sys.executable, "-m", "gym_reason.cli", "check"]
    out = subprocess.run([*cli, "--all", "--episodes", "2"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and "FAIL" not in out.stdout, out.stdout + out.stderr
    needing = {"gym_reason/CodeInterpreter-v0", "gym_reason/CodeTests-v0"}
    for env_id in needing:
        assert f"{env_id}: unavailable: bubblewrap (bwrap) not found" in out.stdout, out.stdout
    browser_envs = {s.id for s in gym_reason.list_envs() if _needs_browser(s.id)}  # Chromium is found on PATH too
    for env_id in browser_envs:
        assert f"{env_id}: unavailable: Chromium not found" in out.stdout, out.stdout
    needing |= browser_envs
    total = len(gym_reason.list_envs())
    summary = out.stdout.strip().splitlines()[-1]
    assert summary.startswith(f"{total - len(needing)} of {total} envs pass, {len(needing)} unavailable ("), summary
    assert "apt-get install bubblewrap" in summary
    shapes = re.compile(r"\S+: (PASS|unavailable: .+)|  \[(ok|n/a)\] .+|\d+ of \d+ envs pass.*")
    assert all(shapes.fullmatch(line) for line in out.stdout.splitlines()), out.stdout  # one line per check
    out = subprocess.run([*cli, "gym_reason/CodeTests-v0"], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and "PASS" not in out.stdout and "FAIL" not in out.stdout, out.stdout + out.stderr
    assert (
        out.stdout.startswith("gym_reason/CodeTests-v0: unavailable: ") and "apt-get install bubblewrap" in out.stdout
    )


class _OneShotRound(_Countdown):
    """One answer per episode, read as a number and rounded: round(float("NaN")) raises, a bug the garbage
    probes must reach although every episode is over after one step (the probes' random prefixes end it)."""

    def step(self, action):
        answer = self.fmt.extract(action) or ""
        try:
            value = float(answer)
        except ValueError:
            value = None
        guess = None if value is None else round(value)
        won = guess == self.secret
        info = self._info(**{INVALID_ACTION: guess is None, PARSED_ACTION: answer if guess is not None else None})
        info[REWARD_COMPONENTS] = {"outcome": float(won)}
        info[OUTCOME] = Outcome.WIN if won else Outcome.LOSS
        return "over", float(won), True, False, info


def test_garbage_probes_reach_the_env_even_when_episodes_end_within_their_prefix():
    report = check_env(_OneShotRound, episodes=3)
    failures = {r.name: r.detail for r in report.failures()}
    assert list(failures) == ["garbage actions"] and "[NaN]" in failures["garbage actions"], str(report)
