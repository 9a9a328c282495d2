"""WebShop-v0 on the text twin (no browser): tasks, splits, rewards, actions, errors, snapshots."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gym_reason
from gym_reason import grammar
from gym_reason.core import ACTION_GRAMMAR, INVALID_ACTION, OUTCOME, REWARD_COMPONENTS, Outcome
from gym_reason.envs.web.catalog import CATALOG_SIZE, catalog
from gym_reason.envs.web.oracles import RandomWebAgent, ShopOracle, read_page
from gym_reason.envs.web.shop_env import WebShopEnv
from gym_reason.envs.web.tasks import draw_goal, split_of


def play(env: WebShopEnv, seed: int, policy) -> tuple[float, list[float], str, dict]:
    obs, info = env.reset(seed=seed)
    rewards = []
    while True:
        obs, reward, terminated, truncated, info = env.step(policy(obs))
        rewards.append(reward)
        if terminated or truncated:
            return sum(rewards), rewards, obs, info


def test_the_catalog_has_over_a_thousand_products_with_attributes_and_options():
    products = catalog().products
    assert len(products) == CATALOG_SIZE >= 1000
    assert len({p.name for p in products}) == len(products)
    assert all(p.colors and p.sizes and p.features and p.price > 0 for p in products)
    assert len({p.category for p in products}) == 15 and len({p.material for p in products}) >= 15


def test_the_oracle_buys_20_held_out_goals_with_full_reward_and_sub_goal_rewards():
    env = WebShopEnv(split="test")
    for seed in range(20):
        env.reset(seed=seed)
        oracle = ShopOracle(env.goal, env.catalog)
        total, rewards, obs, info = play(env, seed, oracle)
        assert total == pytest.approx(1.0), (seed, rewards)
        assert info[OUTCOME] is Outcome.WIN and info["metrics"] == {"purchase_score": 1.0, "success": 1.0}
        # search, product page, color, size, add to cart (options), checkout, place order
        assert rewards == pytest.approx([0.1, 0.1, 0, 0, 0.1, 0.1, 0.6])
        assert "Thank you! Your order is placed." in obs


def test_a_random_agent_scores_low():
    env = WebShopEnv(split="test", max_turns=20)
    totals = [play(env, seed, RandomWebAgent(seed))[0] for seed in range(30)]
    assert max(totals) < 0.5 and sum(totals) / len(totals) < 0.1, totals


def test_splits_are_disjoint_by_goal_signature():
    import random

    rng = random.Random(0)
    train = {draw_goal(catalog(), rng, "train").signature for _ in range(400)}
    test = {draw_goal(catalog(), rng, "test").signature for _ in range(400)}
    assert not train & test and len(test) > 100
    assert {split_of(s) for s in train} == {"train"} and {split_of(s) for s in test} == {"test"}
    instructions = {WebShopEnv(split="test").reset(seed=s)[0].splitlines()[0] for s in range(30)}
    assert len(instructions) == 30  # seeds give different tasks


def test_same_seed_same_episode_and_different_seeds_differ():
    a, b = WebShopEnv(), WebShopEnv()
    assert a.reset(seed=7) == b.reset(seed=7)
    assert a.reset(seed=7)[0] != a.reset(seed=8)[0]
    agent_a, agent_b = RandomWebAgent(3), RandomWebAgent(3)
    assert play(a, 5, agent_a)[1:3] == play(b, 5, agent_b)[1:3]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("hello", "no JSON action"),
        ('{"action": "click", "id": 99}', "no element [99] on this page (ids on this page: 1-19)"),
        ('{"action": "type", "id": 5, "text": "x"}', "[5] is a link, not a text box"),
        ('{"action": "click"}', "needs the field 'id'"),
        ('{"action": "fly"}', "unknown action"),
        ('{"action": "press", "key": "F5"}', "key must be one of Enter"),
        ('{"action": "go_back"}', "no page to go back to"),
        ('{"action": "click_xy", "x": 1, "y": 2}', "click_xy needs screenshot mode"),
        ('{"action": "click", "id": "3"}', "'id' must be an integer"),
    ],
)
def test_bad_actions_are_scored_with_the_error_in_the_next_observation(reply, message):
    env = WebShopEnv()
    env.reset(seed=1)
    obs, reward, terminated, truncated, info = env.step(reply)
    assert info[INVALID_ACTION] is True and info[REWARD_COMPONENTS] == {"invalid_action": -0.05}
    assert reward == -0.05 and not terminated and not truncated
    head, _ = read_page(obs)
    assert message in head["Error"], head


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80) | st.builds(json.dumps, st.dictionaries(st.sampled_from(["action", "id", "text", "x"]),
                                                                    st.integers() | st.text(max_size=5))))  # fmt: skip
def test_garbage_never_raises(reply):
    env = _GARBAGE_ENV
    if env.done:
        env.reset(seed=0)
    obs, _reward, _t, _tr, info = env.step(reply)
    assert isinstance(obs, str) and isinstance(info[INVALID_ACTION], bool)


_GARBAGE_ENV = WebShopEnv(max_turns=500)


def test_the_grammar_lists_exactly_the_valid_actions_of_the_page():
    env = WebShopEnv()
    _obs, info = env.reset(seed=2)
    g = info[ACTION_GRAMMAR]
    assert grammar.accepts(g, '{"action": "click", "id": 19}')
    assert not grammar.accepts(g, '{"action": "click", "id": 20}')
    assert grammar.accepts(g, '{"action": "type", "id": 2, "text": "red shirt", "submit": true}')
    assert not grammar.accepts(g, '{"action": "type", "id": 3, "text": "red shirt", "submit": true}')
    assert not grammar.accepts(g, '{"action": "go_back"}')  # nothing to go back to yet
    obs, *_rest, info = env.step('{"action": "click", "id": 8}')
    assert grammar.accepts(info[ACTION_GRAMMAR], '{"action": "go_back"}')
    product = json.dumps({"action": "click", "id": read_page(obs)[1][-3].gid})
    obs, *_rest, info = env.step(product)
    color = next(e for e in read_page(obs)[1] if e.role == "select")
    ok = json.dumps({"action": "select", "id": color.gid, "option": color.options[1]})
    assert grammar.accepts(info[ACTION_GRAMMAR], ok)
    assert not grammar.accepts(info[ACTION_GRAMMAR], json.dumps({"action": "select", "id": color.gid, "option": "XXL"}))


def test_thinking_before_the_action_is_read_and_go_back_returns():
    env = WebShopEnv()
    env.reset(seed=3)
    obs, *_r, info = env.step('I will open the hats. {"action": "click", "id": 17}')
    assert info[INVALID_ACTION] is False and read_page(obs)[0]["URL"] == "/search?q=hat"
    obs, *_r, info = env.step('{"action": "go_back"}')
    assert read_page(obs)[0]["URL"] == "/"


def test_snapshot_restore_replays_exactly():
    env = WebShopEnv()
    obs, _ = env.reset(seed=4)
    oracle = ShopOracle(env.goal, env.catalog)
    for _ in range(3):
        obs = env.step(oracle(obs))[0]
    snap = env.snapshot()
    first = []
    o = obs
    while True:
        step = env.step(oracle(o))
        first.append(step[:4])
        o = step[0]
        if step[2] or step[3]:
            break
    env.restore(snap)
    again = []
    o = obs
    while True:
        step = env.step(oracle(o))
        again.append(step[:4])
        o = step[0]
        if step[2] or step[3]:
            break
    assert first == again and sum(r for _o, r, _t, _tr in first) == pytest.approx(0.8)


def test_bad_constructor_arguments_raise_with_the_valid_options():
    with pytest.raises(ValueError, match="backend must be one of 'text', 'browser'"):
        WebShopEnv(backend="chrome")
    with pytest.raises(ValueError, match="split must be one of 'train', 'test'"):
        WebShopEnv(split="dev")
    with pytest.raises(ValueError, match="only backend='browser' takes"):
        WebShopEnv(obs_mode="text+screenshot")
    with pytest.raises(ValueError, match="max_turns must be an integer"):
        WebShopEnv(max_turns=0)
    env = WebShopEnv()
    with pytest.raises(RuntimeError, match="call reset"):
        env.step('{"action": "go_back"}')
    env.reset(seed=0)
    env.close()
    with pytest.raises(RuntimeError, match="call reset"):
        env.step('{"action": "go_back"}')
    with pytest.raises(ValueError, match="takes no reset options"):
        env.reset(seed=0, options={"goal": "anything"})


def test_registered_and_made_through_gymnasium():
    import gymnasium

    env = gym_reason.make("gym_reason/WebShop-v0", split="test")
    assert env.reset(seed=0)[0].startswith("Task: Buy ")
    assert gymnasium.make("gym_reason/WebShop-v0").reset(seed=0)[0].startswith("Task: Buy ")


def test_miniwob_arguments_are_checked_before_any_browser_starts():
    from gym_reason.envs.web import browser
    from gym_reason.envs.web.miniwob import MiniWoBEnv

    with pytest.raises(ValueError, match="task must be one of 'click-test'"):
        MiniWoBEnv("click-everything")
    with pytest.raises(ValueError, match="only in a browser"):
        MiniWoBEnv("click-test", backend="text")
    assert not browser.running()
