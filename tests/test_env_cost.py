"""The env-cost card (gym_reason.eval.env_cost, `gym-reason bench-env`): measured over the whole registry with
loose bounds, and its blocking detection and counts checked on an env whose cost is known."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

import gym_reason
from gym_reason.envs.game_env import GameEnv
from gym_reason.envs.games.kuhn_poker.rules import KuhnPoker
from gym_reason.envs.games.kuhn_poker.template import KuhnPokerTemplate
from gym_reason.eval.env_cost import env_cost, percentile
from gym_reason.sandboxes import SandboxUnavailable
from tests.envs.web.browser_guard import browser_missing
from tests.sandbox_guard import sandbox_missing


def _needs_browser(env_id: str) -> bool:
    return env_id.startswith("gym_reason/MiniWoB-")


@pytest.mark.parametrize(
    "env_id",
    [pytest.param(s.id, marks=pytest.mark.browser) if _needs_browser(s.id) else s.id for s in gym_reason.list_envs()],
)
def test_every_registered_env_has_a_cost_card(env_id):
    try:
        card = env_cost(env_id, episodes=2, seed=0)
    except SandboxUnavailable as error:
        if _needs_browser(env_id):
            browser_missing(str(error))
        sandbox_missing("bwrap", str(error))
    assert card.failed == 0, card.first_error
    assert card.reset.calls == 2 and card.step.calls >= 2  # every episode resets once and moves at least once
    for latency in (card.reset, card.step):
        assert 0 < latency.p50_ms <= latency.p99_ms <= latency.max_ms
        assert latency.p99_ms < 10_000  # loose: no env takes ten seconds for a call on a loaded 2-core machine
    assert 0 < card.env_seconds <= card.wall_seconds
    assert card.episodes_per_s <= card.env_episodes_per_s
    assert card.lines()[0].startswith(f"{card.env_id}: 2 episodes by random")


class _SlowKuhn(GameEnv):
    """Kuhn poker whose every step sleeps ``delay`` seconds: a known cost."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(KuhnPoker(), KuhnPokerTemplate())
        self.delay = delay

    def step(self, action):
        time.sleep(self.delay)
        super().step(action)


@pytest.fixture
def slow_kuhn():
    gym_reason.register("test_cost/SlowKuhn-v0", _SlowKuhn)
    yield "test_cost/SlowKuhn-v0"
    gym_reason.registry.deregister("test_cost/SlowKuhn-v0")


def test_a_call_past_the_threshold_is_reported_as_blocking(slow_kuhn):
    card = env_cost(slow_kuhn, episodes=3, seed=1, block_ms=15, env_kwargs={"delay": 0.02})
    assert card.blocked
    assert {name for name, _ in card.slow_calls} == {"step"}
    assert len(card.slow_calls) == card.step.calls  # every step sleeps past 15 ms; no reset does
    assert card.step.p50_ms >= 20 and card.reset.p99_ms < 15
    assert card.env_episodes_per_s < 1000 / (20 * 2)  # at least two sleeping steps per Kuhn hand
    assert not env_cost(slow_kuhn, episodes=3, seed=1, block_ms=15).blocked  # no delay: nothing blocks


def test_a_slow_construction_counts_as_blocking():
    gym_reason.register("test_cost/SlowBuild-v0", lambda: (time.sleep(0.05), _SlowKuhn())[1], kind="game", players=2)
    try:
        card = env_cost("test_cost/SlowBuild-v0", episodes=2, block_ms=30)
    finally:
        gym_reason.registry.deregister("test_cost/SlowBuild-v0")
    assert [name for name, _ in card.slow_calls] == ["construct"] and card.construct_ms >= 50


def test_the_card_is_seeded(slow_kuhn):
    """Same seed, same episodes: the number of calls (and so the moves played) repeats; another seed differs."""
    counts = {s: [env_cost(slow_kuhn, episodes=20, seed=s).step.calls for _ in range(2)] for s in (0, 1)}
    assert counts[0][0] == counts[0][1] and counts[1][0] == counts[1][1]
    assert counts[0][0] != counts[1][0]


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="episodes must be at least 1, got 0"):
        env_cost("kuhn_poker", episodes=0)
    with pytest.raises(ValueError, match="block_ms must be a positive"):
        env_cost("kuhn_poker", block_ms=0)
    with pytest.raises(ValueError, match="percentile q must be in"):
        percentile([1.0], 101)


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0 and percentile(values, 99) == 99.0 and percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0


def test_bench_env_cli_prints_the_card_as_json():
    out = subprocess.run(
        [sys.executable, "-m", "gym_reason.cli", "bench-env", "kuhn_poker", "--episodes", "5", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    card = json.loads(out.stdout)
    assert card["env_id"] == "gym_reason/KuhnPoker-v0" and card["episodes"] == 5 and card["failed"] == 0
    assert card["reset"]["calls"] == 5 and card["step"]["p50_ms"] <= card["step"]["p99_ms"]
    assert card["blocked"] is False


def test_bench_env_cli_exit_status_on_a_blocking_call(slow_kuhn, capsys):
    from gym_reason.cli import main

    args = ["bench-env", slow_kuhn, "--episodes", "2", "--block-ms", "5", "--env-arg", "delay=0.01"]
    assert main(args) == 0  # reported, not failed
    assert "BLOCKS:" in capsys.readouterr().out
    assert main([*args, "--fail-on-block"]) == 1
    with pytest.raises(SystemExit) as stop:  # argparse's usage error
        main(["bench-env", "kuhn_poker", "--episodes", "0"])
    assert stop.value.code == 2
    assert main(["bench-env", "kuhn_poker", "--agent", "bogus"]) == 2  # a bad agent spec: one line, status 2
