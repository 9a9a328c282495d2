"""Property test: whatever text a model writes, every registered env scores it and never raises."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gym_reason
from gym_reason.checker import GARBAGE_ACTIONS, probe_invalid_action
from gym_reason.sandboxes import SandboxUnavailable
from tests.sandbox_guard import sandbox_missing

_words = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)
garbage = st.one_of(
    st.text(max_size=200),
    _words.map(lambda t: f"[{t}]"),
    _words.map(lambda t: f"\\boxed{{{t}}}"),
    _words.map(lambda t: f"I think {t}. [{t}] final answer [{t}"),
    st.sampled_from(GARBAGE_ACTIONS),
    st.integers(-(10**12), 10**12).map(lambda n: f"[{n}]"),
    st.sampled_from(["check", "bet", "call", "fold", "offer", "accept", "deny", "talk"]).map(lambda m: f"[{m}{m}]"),
)


@pytest.mark.slow
@pytest.mark.parametrize(
    "env_id",
    # MiniWoB tasks need Chromium (~0.1 s a probe): tests/envs/web/test_browser.py throws garbage at them instead
    [s.id for s in gym_reason.list_envs() if not s.id.startswith("gym_reason/MiniWoB-")],
)
def test_garbage_answers_are_scored_not_raised(env_id):
    try:
        env = gym_reason.make(env_id)
    except SandboxUnavailable as missing:
        sandbox_missing("bwrap", str(missing))  # the code envs' default sandbox

    @settings(max_examples=10_000, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(action=garbage, seed=st.integers(0, 2**31 - 1), prefix=st.integers(0, 6))
    def probe(action: str, seed: int, prefix: int) -> None:
        probe_invalid_action(env, action, seed, prefix)

    probe()
