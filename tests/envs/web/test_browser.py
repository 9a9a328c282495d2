"""The web envs in real headless Chromium (marked ``browser``; ``pytest -m browser``). The last test checks that
no browser, driver or server process outlives the envs."""

from __future__ import annotations

import gc
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gym_reason.checker import check_env
from gym_reason.core import INVALID_ACTION, OUTCOME, Outcome
from gym_reason.envs.web import browser, server
from gym_reason.envs.web.actions import ACTIONS
from gym_reason.envs.web.base import SCREENSHOT
from gym_reason.envs.web.miniwob import TASKS, MiniWoBEnv
from gym_reason.envs.web.oracles import RandomWebAgent, ShopOracle, act, miniwob_oracle, read_page
from gym_reason.envs.web.shop_env import WebShopEnv
from tests.envs.web.browser_guard import require_browser

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def shop():
    require_browser()
    env = WebShopEnv(backend="browser", split="test")
    yield env
    env.close()


def play(env, seed: int, policy) -> tuple[float, list, dict]:
    obs, info = env.reset(seed=seed)
    total, steps = 0.0, []
    while True:
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        total += reward
        steps.append((obs, reward))
        if terminated or truncated:
            return total, steps, info


def test_the_twin_and_the_browser_agree_on_50_seeded_action_sequences(shop):
    twin = WebShopEnv(backend="text", split="test")
    compared = invalid = 0
    for seed in range(50):
        reference, info_b = shop.reset(seed=seed)
        obs, info_t = twin.reset(seed=seed)
        assert obs == reference and info_t == info_b, seed
        agent = RandomWebAgent(seed, invalid=0.15)
        for _ in range(6):
            action = agent(obs)
            expected = shop.step(action)
            got = twin.step(action)
            assert got[:4] == expected[:4], (seed, action, expected[0], got[0])
            assert got[4] == expected[4], (seed, action)
            compared += 1
            invalid += got[4][INVALID_ACTION]
            obs = got[0]
            if got[2] or got[3]:
                break
    assert compared >= 250 and 0 < invalid < compared / 2


def test_the_twin_encodes_typed_text_as_chromium_does(shop):
    """Form encoding (Chromium keeps ``*`` and encodes ``~``), escapes, long text, Enter and go_back."""
    twin = WebShopEnv(backend="text", split="test")
    texts = ['a~b*c é ü & = + % # ? / "quote" <tag>', "  spaced   out  ", "☃ snow\tman\nnew", "x" * 250, "100%"]
    for seed, text in enumerate(texts):
        shop.reset(seed=seed)
        twin.reset(seed=seed)
        for action in [
            act("type", id=2, text=text, submit=True),
            act("click", id=5),
            act("go_back"),
            act("type", id=2, text=text),
            act("press", key="Enter"),
            act("click", id=18),
        ]:
            expected, got = shop.step(action), twin.step(action)
            assert got[:4] == expected[:4] and got[4] == expected[4], (text, action, expected[0], got[0])


def test_an_action_the_browser_refuses_is_scored_not_raised(shop):
    obs, _info = shop.reset(seed=0)
    shop.client.page.evaluate("() => document.querySelector('[data-gid=\"5\"]').remove()")  # gone after the digest
    obs, reward, terminated, _truncated, info = shop.step(act("click", id=5))
    assert info[INVALID_ACTION] is True and reward == -0.05 and not terminated
    assert "Error: the browser could not click [5] (TimeoutError)" in obs


def test_the_oracle_completes_20_held_out_shop_tasks_in_the_browser(shop):
    for seed in range(100, 120):
        shop.reset(seed=seed)
        oracle = ShopOracle(shop.goal, shop.catalog)
        total, _steps, info = play(shop, seed, oracle)
        assert total == pytest.approx(1.0) and info[OUTCOME] is Outcome.WIN, seed


def test_a_random_agent_scores_low_in_the_browser(shop):
    totals = [play(shop, seed, RandomWebAgent(seed))[0] for seed in range(5)]
    assert max(totals) < 0.5, totals


def test_miniwob_oracles_get_positive_reward_on_every_task():
    require_browser()
    solved = 0
    for task in TASKS:
        env = MiniWoBEnv(task)
        try:
            total, _steps, info = play(env, 11, lambda obs, task=task: miniwob_oracle(task, obs))
        finally:
            env.close()
        assert total > 0 and info[OUTCOME] is Outcome.WIN, task
        solved += 1
    assert solved >= 10


def test_miniwob_is_deterministic_under_a_seed_and_garbage_is_scored():
    require_browser()
    env = MiniWoBEnv("click-button")
    try:
        first, again = env.reset(seed=5)[0], env.reset(seed=5)[0]
        assert first == again and env.reset(seed=6)[0] != first
        for reply in ["", "{", act("click", id=999), act("select", id=1, option="x"), act("type", id=1, text="a")]:
            obs, reward, terminated, _tr, info = env.step(reply)
            assert info[INVALID_ACTION] is True and reward == -0.05 and not terminated
            assert "Error: " in obs
    finally:
        env.close()


def test_garbage_never_raises_in_miniwob():
    """Hypothesis throws text and JSON-ish replies at a MiniWoB task mid-episode: scored, never raised."""
    require_browser()
    env = MiniWoBEnv("click-checkboxes", max_turns=500)
    fields = st.sampled_from(["action", "id", "text", "option", "key", "x", "submit"])
    values = st.integers(-5, 40) | st.text(max_size=6) | st.sampled_from(ACTIONS) | st.booleans()
    replies = st.text(max_size=60) | st.dictionaries(fields, values, max_size=4).map(json.dumps)

    @settings(max_examples=80, deadline=None, database=None, derandomize=True)
    @given(reply=replies)
    def probe(reply: str) -> None:
        if env.done:
            env.reset(seed=0)
        obs, reward, _terminated, _truncated, info = env.step(reply)
        assert isinstance(obs, str) and isinstance(reward, float)
        assert info[INVALID_ACTION] is ("Error: " in obs)

    try:
        env.reset(seed=0)
        probe()
    finally:
        env.close()


def test_screenshot_mode_gives_png_and_boxes_and_click_xy_hits_the_element(tmp_path: Path):
    require_browser()
    env = WebShopEnv(backend="browser", obs_mode="text+screenshot")
    try:
        obs, info = env.reset(seed=0)
        assert info[SCREENSHOT][:8] == b"\x89PNG\r\n\x1a\n"
        line = next(line for line in obs.splitlines() if '] link "Hat"' in line)
        x, y, w, h = (int(v) for v in line.rsplit("@(", 1)[1].rstrip(")").split(","))
        assert w > 0 and h > 0
        obs, _r, _t, _tr, info = env.step(act("click_xy", x=x + w // 2, y=y + h // 2))
        assert info[INVALID_ACTION] is False and read_page(obs)[0]["URL"] == "/search?q=hat"
    finally:
        env.close()


def test_the_shop_in_the_browser_passes_the_checker_with_snapshots():
    require_browser()
    report = check_env("gym_reason/WebShop-v0", episodes=2, env_kwargs={"backend": "browser"})
    assert report.ok, str(report)
    (snapshots,) = [r for r in report.results if r.name == "snapshot/restore"]
    assert snapshots.passed, str(report)


def test_16_envs_share_one_browser_each_with_its_own_context():
    require_browser()
    envs = [WebShopEnv(backend="browser") for _ in range(16)]
    try:
        assert browser.users() >= 16
        first = [env.reset(seed=i)[0] for i, env in enumerate(envs)]
        for env in envs:
            env.step(act("click", id=4))  # each its own cart page, its own session
        assert len({env._hold.context for env in envs}) == 16
        assert [env.reset(seed=i)[0] for i, env in enumerate(envs)] == first
    finally:
        for env in envs:
            env.close()


def _descendants() -> dict[int, str]:
    """The processes below this one (pid -> command line)."""
    children: dict[int, list[int]] = {}
    cmd: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            state = stat.rsplit(")", 1)[1].split()[0]
            if state == "Z":
                continue
            cmd[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = {}, [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            found[child] = cmd.get(child, "")
            todo.append(child)
    return found


def test_zz_no_browser_or_server_process_outlives_the_envs(shop):
    require_browser()
    gc.collect()  # envs the checker made and never closed: their holds go back at the next browser call
    assert any("chrom" in c or "playwright" in c for c in _descendants().values())
    port = shop._server.port
    shop.close()
    assert not browser.running() and not server.running() and browser.users() == 0
    left = {pid: c for pid, c in _descendants().items() if "chrom" in c or "playwright" in c or "node" in c}
    assert not left, left
    import socket

    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0  # the shop server stopped listening
