"""KGNav-v0: the oracle earns the maximum on held-out questions, random play little; step rewards, tool errors,
answer scoring, determinism, snapshots and the constructor's checks."""

from __future__ import annotations

import json
import math
import statistics

import pytest

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.core import ACTION_GRAMMAR, OUTCOME, REWARD_COMPONENTS, STATE_KEY
from gym_reason.envs.kg.nav import DEFAULT_WEIGHTS, KGNavEnv, answer_score
from gym_reason.envs.tool_calls import ToolCall
from gym_reason.grammar import accepts
from tests.envs.reward_hacking import assert_no_cheat_pays

MAX_REWARD = DEFAULT_WEIGHTS["answer"] + DEFAULT_WEIGHTS["on_gold_path"]


def call(name: str, **arguments) -> str:
    return "[" + ToolCall(name, arguments).to_json() + "]"


def play(env, seed, policy):
    obs, info = env.reset(seed=seed)
    total, steps = 0.0, []
    while True:
        action = policy(obs, info)
        obs, reward, terminated, truncated, info = env.step(action)
        assert math.isclose(sum(info[REWARD_COMPONENTS].values()), reward, abs_tol=1e-12)
        total += reward
        steps.append((action, obs, reward, terminated, truncated, info[STATE_KEY]))
        if terminated or truncated:
            return total, info, steps


def test_the_oracle_earns_the_maximum_on_100_held_out_questions():
    env = gym_reason.make("gym_reason/KGNav-v0", split="test")
    hops = set()
    for seed in range(100):
        total, info, _ = play(env, seed, lambda obs, info: env.oracle_reply())
        assert math.isclose(total, MAX_REWARD), (seed, env.task.question.text, total)
        assert info[OUTCOME] == "win"
        hops.add(env.task.level)
    assert hops == {1, 2, 3, 4}


def test_the_path_walking_bot_earns_the_maximum_from_what_it_is_shown():
    env = gym_reason.make("gym_reason/KGNav-v0", split="test")
    agent = make_agent("fixed:oracle", env, seed=0)
    for seed in range(100):
        total, info, steps = play(env, seed, lambda obs, info: agent.act([(obs, info)])[0])
        assert math.isclose(total, MAX_REWARD) and info[OUTCOME] == "win", (seed, env.task.question.text)
        assert len(steps) == env.task.question.expansions + 1


def test_random_play_earns_little():
    env = gym_reason.make("gym_reason/KGNav-v0", split="test")
    agent = make_agent("random", env, seed=0)
    totals = [play(env, seed, lambda obs, info: agent.act([(obs, info)])[0])[0] for seed in range(100)]
    assert statistics.mean(totals) < 0.05 * MAX_REWARD


def test_a_walk_pays_each_gold_expansion_once_and_the_answer_by_f1():
    env = KGNavEnv(difficulty=1, split="test")
    env.reset(seed=3)
    question = env.task.question
    (start,), relation = question.frontiers[0], question.path[0]
    step = env.step(call("get_neighbors", entity=start.upper(), relation=relation))  # names match case-blind
    assert step[4][REWARD_COMPONENTS] == {"on_gold_path": DEFAULT_WEIGHTS["on_gold_path"]}
    assert (
        step[4][REWARD_COMPONENTS]
        != env.step(call("get_neighbors", entity=start, relation=relation))[4][REWARD_COMPONENTS]
    )  # the same expansion again pays nothing
    off_path = next(r for r in env.graph.relations_of(start) if r != relation)
    assert env.step(call("get_neighbors", entity=start, relation=off_path))[1] == 0.0
    assert env.step(call("get_relations", entity=start))[1] == 0.0
    gold = sorted(question.answer)
    _obs, _reward, terminated, _t, info = env.step(call("answer", entities="; ".join([*gold, "Atlantis"])))
    expected = answer_score({*gold, "?Atlantis"}, question.answer)[0]
    assert terminated and info[REWARD_COMPONENTS] == {"answer": expected} and 0 < expected < 1
    assert info[OUTCOME] == "loss"


def test_tool_errors_are_scored_apart_from_wrong_answers_and_invalid_replies():
    env = KGNavEnv(split="test")
    env.reset(seed=0)
    obs, *_, info = env.step(call("get_relations", entity="Atlantis"))
    assert info[REWARD_COMPONENTS] == {"tool_error": DEFAULT_WEIGHTS["tool_error"]} and "Atlantis" in obs
    obs, *_, info = env.step(call("get_neighbors", entity="Germany", relation="sister_city"))
    assert info[REWARD_COMPONENTS] == {"invalid_action": DEFAULT_WEIGHTS["invalid_action"]}
    assert "must be one of" in obs
    *_, info = env.step("The answer is France.")
    assert info["invalid_action"] and info[REWARD_COMPONENTS] == {"invalid_action": DEFAULT_WEIGHTS["invalid_action"]}
    obs, _reward, terminated, *_, info = env.step(call("answer", entities="Atlantis; Lemuria"))
    assert terminated and info[REWARD_COMPONENTS] == {"answer": 0.0}


def test_hedging_with_every_candidate_earns_nothing():
    env = KGNavEnv(difficulty=2, split="test")
    for seed in range(20):
        env.reset(seed=seed)
        question = env.task.question
        kind = env.graph.entities[next(iter(question.answer))].kind
        names = list(question.answer) + [n for n in env.graph.by_kind[kind] if n not in question.answer]
        everything = "; ".join(names)
        while len(everything) > 2000:  # as many candidates as the answer tool takes
            names.pop()
            everything = "; ".join(names)
        if len(question.answer) * 2 >= len(names):
            continue  # every candidate of a tiny kind (continents) is not a hedge
        *_, info = env.step(call("answer", entities=everything))
        assert info[REWARD_COMPONENTS] == {"answer": 0.0}
    assert answer_score({"a", "b", "c"}, frozenset({"a", "b"}))[0] == pytest.approx(0.8)


def test_parallel_hermes_calls_run_in_order():
    env = KGNavEnv(split="test")
    env.reset(seed=1)
    reply = "".join(
        f"<tool_call>{ToolCall('get_neighbors', {'entity': c, 'relation': 'capital'}).to_json()}</tool_call>"
        for c in ("France", "Japan")
    )
    obs = env.step(reply)[0]
    france = '{"entity": "France", "relation": "capital", "neighbors": ["Paris"]}'
    assert obs.index(france) < obs.index('{"entity": "Japan", "relation": "capital", "neighbors": ["Tokyo"]}')


def test_determinism_and_exact_snapshots():
    env, other = KGNavEnv(), KGNavEnv()
    agent = make_agent("random", env, seed=4)
    for seed in range(5):
        agent.rng.seed(seed)
        first = play(env, seed, lambda obs, info: agent.act([(obs, info)])[0])[2]
        replies = iter([s[0] for s in first])
        assert play(other, seed, lambda obs, info, replies=replies: next(replies))[2] == first
    env.reset(seed=9)
    env.step(env.oracle_reply())
    snap = env.snapshot()
    tail = [env.step(env.oracle_reply()) for _ in range(1)]
    env.restore(snap)
    assert [env.step(env.oracle_reply()) for _ in range(1)] == tail


def test_the_grammar_holds_the_oracle_replies_and_weights_are_configurable():
    env = KGNavEnv(split="test", weights={"answer": 2.0, "on_gold_path": 0.5}, max_calls=1)
    _obs, info = env.reset(seed=2)
    total = 0.0
    while True:
        reply = env.oracle_reply()
        if reply.startswith("<tool_call>"):
            reply = "[" + reply.removeprefix("<tool_call>").removesuffix("</tool_call>") + "]"
        assert accepts(info[ACTION_GRAMMAR], reply), reply
        _obs, reward, terminated, truncated, info = env.step(reply)
        total += reward
        if terminated or truncated:
            break
    assert math.isclose(total, 2.5)
    assert json.loads(reply[1:-1])["name"] == "answer"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"split": "dev"}, r"split must be one of \['train', 'test'\]"),
        ({"difficulty": 5}, r"difficulty must be one of \[1, 2, 3, 4\]"),
        ({"weights": {"bonus": 1.0}}, r"unknown reward weight\(s\) \['bonus'\]; valid: "),
        ({"max_turns": 0}, "max_turns must be an integer in 1..64"),
    ],
)
def test_bad_constructor_arguments_name_the_valid_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        KGNavEnv(**kwargs)


@pytest.mark.parametrize("env_id", ["gym_reason/KGNav-v0", "gym_reason/KGNavHard-v0"])
def test_no_cheat_pays_more_than_a_random_answer(env_id, tmp_path):
    means = assert_no_cheat_pays(lambda: gym_reason.make(env_id, split="test"), seeds=range(8), tmp=tmp_path)
    assert means["every_candidate_joined"] == 0.0 and means["repeat_one_call"] <= means["random_answer"]


@pytest.mark.slow
def test_no_cheat_pays_more_than_a_random_answer_over_100_questions(tmp_path):
    means = assert_no_cheat_pays(
        lambda: gym_reason.make("gym_reason/KGNav-v0", split="test"), seeds=range(100), tmp=tmp_path
    )
    assert max(v for k, v in means.items() if k != "random_answer") <= 0.0  # no cheat earns anything at all
