"""ToolUse-v0: tasks, step rewards, the oracle, splits, determinism, snapshots and the cheating battery."""

from __future__ import annotations

import math
import random

import pytest

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.core import ACTION_GRAMMAR, OUTCOME, REWARD_COMPONENTS, STATE_KEY, Outcome
from gym_reason.envs.tool_calls import HERMES_CLOSE, HERMES_OPEN, ToolCall, ToolError, render_call
from gym_reason.envs.tools import tasks as t
from gym_reason.envs.tools import world as w
from gym_reason.envs.tools.env import ToolUseEnv
from tests.envs.reward_hacking import assert_no_cheat_pays

PERFECT = 1.25  # answer 1 + tool_name 0.1 + tool_args 0.05 + tool_values 0.1


def play(env, agent, seed):
    obs, info = env.reset(seed=seed)
    total, steps = 0.0, []
    while True:
        action = agent.act([(obs, info)])[0]
        obs, reward, terminated, truncated, info = env.step(action)
        assert math.isclose(sum(info[REWARD_COMPONENTS].values()), reward, abs_tol=1e-12)
        total += reward
        steps.append((action, obs, reward, info[STATE_KEY]))
        if terminated or truncated:
            return total, steps, info


def step_call(env, call):
    return env.step(render_call(call, env.answer_format))


def test_oracle_scores_the_maximum_on_100_held_out_tasks():
    env = gym_reason.make("gym_reason/ToolUse-v0", split="test")
    oracle = make_agent("fixed:oracle", env, seed=0)
    levels = set()
    for seed in range(100):
        total, steps, info = play(env, oracle, seed)
        assert math.isclose(total, PERFECT), (seed, env.task, steps[-1][1][-400:])
        assert info[OUTCOME] is Outcome.WIN and info["metrics"]["tool_errors"] == 0
        assert len(steps) == len(env.task.gold_calls) + 1
        levels.add(info["difficulty"])
    assert levels == {1, 2, 3}


def test_random_agent_scores_low():
    env = gym_reason.make("gym_reason/ToolUse-v0", split="test")
    agent = make_agent("random", env, seed=1)
    returns = [play(env, agent, seed)[0] for seed in range(60)]
    assert sum(returns) / len(returns) < 0.1
    assert max(returns) < PERFECT


def test_levels_need_one_two_to_three_and_four_or_more_calls_with_dependencies():
    rng = random.Random(0)
    for template in t.TEMPLATES:
        for split in ("train", "test"):
            task = t.generate(template, rng, split)
            n = len(task.gold_calls)
            assert {1: n == 1, 2: n in (2, 3), 3: n >= 4}[task.level], (template.name, n)
    # A dependent call: the currency conversion uses the looked-up price and currency.
    task = t.generate(t.BY_NAME["product_price_in"], rng, "train")
    price = w.world().products[task.params["product"]]
    assert task.gold_calls[2].arguments == {
        "amount": price["price"],
        "from_currency": price["currency"],
        "to_currency": task.params["to"],
    }
    assert len({t.level for t in t.TEMPLATES}) == 3 and len(w.TOOLS) >= 9


def test_splits_share_no_entity_and_no_task():
    for table in ("cities", "products", "employees"):
        assert not set(w.entities(table, "train")) & set(w.entities(table, "test"))
    envs = {split: ToolUseEnv(split=split) for split in ("train", "test")}
    seen = {split: set() for split in envs}
    names = {split: set() for split in envs}
    all_names = {n for table in ("cities", "products", "employees") for n in getattr(w.world(), table)}
    for split, env in envs.items():
        for seed in range(300):
            env.reset(seed=seed)
            seen[split].add(env.task.statement)
            names[split] |= {n for n in all_names if n in env.task.statement}
    assert not seen["train"] & seen["test"]
    assert not names["train"] & names["test"]
    assert names["test"] <= {n for table in ("cities", "products", "employees") for n in w.entities(table, "test")}


def test_step_rewards_match_calls_against_gold_improvement_only():
    env = ToolUseEnv(templates=["product_price_in"], split="train")
    env.reset(seed=3)
    gold = env.task.gold_calls
    n = len(gold)
    # Right tool, one of two values wrong: name, keys and half the values.
    wrong = ToolCall("lookup_product", {"product": gold[0].arguments["product"], "field": "stock"})
    _, reward, _, _, info = step_call(env, wrong)
    parts = info[REWARD_COMPONENTS]
    assert parts["tool_name"] == pytest.approx(0.1 / n) and parts["tool_args"] == pytest.approx(0.05 / n)
    assert parts["tool_values"] == pytest.approx(0.1 / n / 2)
    # The right call of that gold step pays only the missing values...
    _, reward, _, _, info = step_call(env, gold[0])
    assert info[REWARD_COMPONENTS] == pytest.approx({"tool_values": 0.1 / n / 2})
    # ...and repeating it pays nothing and costs an extra call.
    _, reward, _, _, info = step_call(env, gold[0])
    assert info[REWARD_COMPONENTS] == {"extra_call": -0.05} and reward == -0.05


def test_tool_errors_invalid_replies_and_wrong_answers_are_told_apart():
    env = ToolUseEnv(templates=["city_fact"])
    env.reset(seed=0)
    obs, _, _, _, info = step_call(env, ToolCall("weekday", {"date": "2024-02-30"}))
    assert info[REWARD_COMPONENTS] == {"tool_error": -0.05, "extra_call": -0.05}
    assert "tool error: '2024-02-30' is not a date in the form YYYY-MM-DD" in obs
    assert info["invalid_action"] is False
    obs, _, _, _, info = env.step("the answer is probably 7")
    assert info[REWARD_COMPONENTS] == {"invalid_action": -0.1} and info["invalid_action"] is True
    assert "invalid reply: no tool call was found" in obs
    obs, _, terminated, _, info = step_call(env, ToolCall("answer", {"value": "no idea"}))
    assert terminated and info[REWARD_COMPONENTS] == {"answer": 0.0} and info[OUTCOME] is Outcome.LOSS
    assert f"the expected answer was {env.task.answer}" in obs
    assert ACTION_GRAMMAR not in info


def test_parallel_calls_run_in_order_and_each_is_scored():
    env = ToolUseEnv(templates=["city_population_sum"])
    env.reset(seed=5)
    first, second, _ = env.task.gold_calls
    reply = "".join(f"{HERMES_OPEN}{c.to_json()}{HERMES_CLOSE}" for c in (first, second))
    obs, reward, *_ = env.step(reply)
    assert reward == pytest.approx(2 * 0.25 / 3)
    population = w.world().cities[first.arguments["city"]]["population"]
    assert obs.index(f"result: {population}") < obs.index(second.arguments["city"] + '", "field"')


def test_answers_match_numbers_to_the_cent_and_text_case_insensitively():
    env = ToolUseEnv(templates=["weekday_of"])
    env.reset(seed=1)
    _, reward, *_ = step_call(env, ToolCall("answer", {"value": env.task.answer.upper()}))
    assert reward == 1.0
    env = ToolUseEnv(templates=["currency_convert"])
    env.reset(seed=1)
    close = str(float(env.task.answer) + 0.004)
    _, reward, *_ = step_call(env, ToolCall("answer", {"value": close}))
    assert reward == 1.0


def test_calculator_reaches_nothing_outside_arithmetic():
    assert w.evaluate("(2 + 3) * 4 - 2 ** 3 / 4") == 18.0
    for hostile in ["__import__('os')", "().__class__", "open('x')", "x", "2 ** 10000", "9e999 * 9e999", "1 / 0",
                    "(-8) ** 0.5", "[1, 2]", "lambda: 1", "-" * 150 + "1"]:  # fmt: skip
        with pytest.raises(ToolError):
            w.evaluate(hostile)


def test_same_seed_same_transcript_and_snapshot_restore_is_exact():
    first, second = ToolUseEnv(split="test"), ToolUseEnv(split="test")
    a = play(first, make_agent("random", first, seed=9), 42)[1]
    b = play(second, make_agent("random", second, seed=9), 42)[1]
    assert a == b
    env = ToolUseEnv(difficulty=3)
    agent = make_agent("random", env, seed=3)
    obs, info = env.reset(seed=11)
    obs, *_, info = env.step(agent.act([(obs, info)])[0])
    saved, at = env.snapshot(), (obs, info)

    def continue_from(obs, info, seed):
        rng_agent = make_agent("random", env, seed=seed)
        out = []
        for _ in range(4):
            obs, reward, term, trunc, info = env.step(rng_agent.act([(obs, info)])[0])
            out.append((obs, reward, term, trunc, repr(info)))
            if term or trunc:
                break
        return out

    first = continue_from(*at, seed=5)
    env.restore(saved)
    assert continue_from(*at, seed=5) == first
    env.restore(saved)
    assert env.snapshot()["episode"] == saved["episode"]


def test_bad_arguments_raise_with_the_valid_options():
    with pytest.raises(ValueError, match=r"split must be one of \['train', 'test'\]"):
        ToolUseEnv(split="dev")
    with pytest.raises(ValueError, match="difficulty must be one of"):
        ToolUseEnv(difficulty=4)
    with pytest.raises(ValueError, match="unknown reward weight"):
        ToolUseEnv(weights={"bonus": 1.0})
    with pytest.raises(ValueError, match="unknown templates"):
        ToolUseEnv(templates=["poetry"])
    env = ToolUseEnv(weights={"answer": 2.0})
    env.reset(seed=0)
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"family": "x"})


def test_weights_are_configurable():
    env = ToolUseEnv(templates=["weekday_of"], weights={"answer": 2.0, "tool_name": 0.0})
    oracle = make_agent("fixed:oracle", env, seed=0)
    assert play(env, oracle, 0)[0] == pytest.approx(2.0 + 0.05 + 0.1)


def test_cheating_battery_pays_no_more_than_answering_at_random(tmp_path):
    means = assert_no_cheat_pays(lambda: gym_reason.make("gym_reason/ToolUse-v0", split="test"), range(25), tmp_path)
    assert means["repeat_observation"] < 0 and means["every_candidate_parallel"] < 0


@pytest.mark.parametrize("env_id", ["gym_reason/ToolUse-v0", "gym_reason/TextToSQL-v0"])
def test_boxed_answer_format_works_end_to_end(env_id):
    env = gym_reason.make(env_id, answer_format="boxed", split="test")
    oracle = make_agent("fixed:oracle", env, seed=0)
    best = PERFECT if "ToolUse" in env_id else 1.3
    for seed in range(10):
        total, steps, _ = play(env, oracle, seed)
        assert steps[0][0].startswith("\\boxed{{") and total == pytest.approx(best)
