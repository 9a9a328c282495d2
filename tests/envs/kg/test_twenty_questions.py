"""TwentyQuestions-v0: questions the graph answers, exact information gain, the oracle's maximum, fixed:halving
against log2(candidates), random play, disjoint splits, snapshots."""

from __future__ import annotations

import math
import statistics

import pytest

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.core import OUTCOME, REWARD_COMPONENTS
from gym_reason.envs.kg.graph import load_graph
from gym_reason.envs.kg.questions import split_of
from gym_reason.envs.kg.twenty_questions import (
    ALL,
    CITIES,
    DEFAULT_WEIGHTS,
    HELD_OUT,
    Predicate,
    TwentyQuestionsEnv,
    entropy,
    parse_question,
    universe,
)
from gym_reason.envs.tool_calls import ToolCall, ToolError
from tests.envs.reward_hacking import assert_no_cheat_pays


def ask(question: str) -> str:
    return "[" + ToolCall("ask", {"question": question}).to_json() + "]"


def guess(entity: str) -> str:
    return "[" + ToolCall("guess", {"entity": entity}).to_json() + "]"


def play(env, seed, policy):
    obs, info = env.reset(seed=seed)
    total, questions = 0.0, 0
    while True:
        obs, reward, terminated, truncated, info = env.step(policy(obs, info))
        assert math.isclose(sum(info[REWARD_COMPONENTS].values()), reward, abs_tol=1e-12)
        total += reward
        questions += "question_cost" in info[REWARD_COMPONENTS]
        if terminated or truncated:
            return total, questions, info


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("continent = Europe?", "continent = Europe"),
        ("CONTINENT is europe", "continent = Europe"),
        ("borders germany ?", "borders Germany"),
        ("currency = EUR", "currency = Euro (EUR)"),
        ("language = de", "language = lang:de"),
        ("population > 50 million", "population > 50000000"),
        ("population < 1,500,000", "population < 1500000"),
        ("area > 0.5", "area > 0.5"),
        ("neighbors = 0", "neighbours = 0"),
        ("in japan", "in Japan"),
        ("country = Japan", "in Japan"),
        ("in Europe", "continent = Europe"),
        ("is it a capital?", "capital"),
    ],
)
def test_the_documented_question_forms_read(text, canonical):
    assert parse_question(load_graph(), text).text == canonical


@pytest.mark.parametrize(
    "text", ["is it big?", "continent = Atlantis", "borders Euro (EUR)", "population > lots", "in Atlantis"]
)
def test_other_questions_are_tool_errors(text):
    with pytest.raises(ToolError, match=r"not a|cannot read"):
        parse_question(load_graph(), text)


def test_the_judge_answers_from_the_graph():
    graph = load_graph()
    assert Predicate("borders", "=", "France").holds(graph, "Germany")
    assert not Predicate("borders", "=", "Japan").holds(graph, "Germany")
    assert parse_question(graph, "population > 80 million").holds(graph, "Germany")
    assert parse_question(graph, "neighbours = 9").holds(graph, "Germany")
    assert not parse_question(graph, "continent = Asia").holds(graph, "Germany")
    # a city: its own continent and population, its country's currency and languages
    assert parse_question(graph, "in Japan").holds(graph, "Tokyo")
    assert parse_question(graph, "continent = Asia").holds(graph, "Tokyo")
    assert parse_question(graph, "currency = JPY").holds(graph, "Tokyo")
    assert parse_question(graph, "capital").holds(graph, "Tokyo") and not parse_question(graph, "capital").holds(
        graph, "Osaka"
    )
    assert parse_question(graph, "population > 5 million").holds(graph, "Tokyo")
    assert not parse_question(graph, "capital").holds(graph, "Japan")  # a country question of the other kind: no


@pytest.mark.parametrize("split", ["train", "test"])
def test_some_question_tells_every_two_candidates_apart(split):
    env = TwentyQuestionsEnv(split=split)
    for name in (*env._continents, ALL, CITIES):
        world = universe(name, split)
        answers = {tuple(m >> i & 1 for m in world.question_masks) for i in range(len(world.candidates))}
        assert len(answers) == len(world.candidates), name


def test_information_gain_is_the_entropy_of_the_answer_over_the_live_candidates():
    env = TwentyQuestionsEnv(difficulty=2, split="test")
    env.reset(seed=0)
    world = universe(ALL, "test")
    europe = world.mask(parse_question(env.graph, "continent = Europe")).bit_count()
    info = env.step(ask("continent = Europe"))[4]
    bits = entropy(europe, len(world.candidates))
    assert info[REWARD_COMPONENTS] == {
        "question_cost": DEFAULT_WEIGHTS["question_cost"],
        "information_gain": pytest.approx(DEFAULT_WEIGHTS["information_gain"] * bits),
    }
    # asked again, the answer is known: no information
    assert env.step(ask("continent = Europe"))[4][REWARD_COMPONENTS]["information_gain"] == 0.0
    assert entropy(126, 252) == 1.0


def test_the_oracle_earns_the_maximum_on_100_held_out_games():
    env = gym_reason.make("gym_reason/TwentyQuestions-v0", split="test")
    for seed in range(100):
        total, questions, info = play(env, seed, lambda obs, info: env.oracle_reply())
        assert total == DEFAULT_WEIGHTS["success"] and info[OUTCOME] == "win" and questions == 0


@pytest.mark.parametrize(
    ("env_id", "slack"),
    [
        ("gym_reason/TwentyQuestionsEasy-v0", 0.6),
        ("gym_reason/TwentyQuestionsHard-v0", 0.3),
        ("gym_reason/TwentyQuestionsCities-v0", 0.3),
    ],
)
def test_halving_wins_every_game_in_about_log2_candidates_questions(env_id, slack):
    env = gym_reason.make(env_id, split="test")
    agent = make_agent("fixed:halving", env, seed=0)
    asked, bounds = [], []
    for seed in range(100 if "Easy" in env_id else 25):
        total, questions, info = play(env, seed, lambda obs, info: agent.act([(obs, info)])[0])
        assert info[OUTCOME] == "win"
        assert total < DEFAULT_WEIGHTS["success"]  # every question costs more than its bit pays
        asked.append(questions)
        bounds.append(math.log2(len(universe(env.task.universe, "test").candidates)))
    assert statistics.mean(bounds) - 0.01 <= statistics.mean(asked) <= statistics.mean(bounds) + slack


def test_halving_guesses_when_its_questions_are_spent_and_the_task_states_the_budget():
    """With a budget below log2(candidates), halving asked on past it (a tool error a turn until the game was cut,
    a loss) and the task still said 20 questions; now it guesses the first candidate left once the budget is
    spent, and wins about as often as the groups three answers leave allow."""
    env = gym_reason.make("gym_reason/TwentyQuestionsEasy-v0", split="test", max_questions=3)
    agent = make_agent("fixed:halving", env, seed=0)
    obs, _ = env.reset(seed=0)
    assert "At most 3 questions are answered." in obs
    wins = 0
    for seed in range(40):
        obs, info = env.reset(seed=seed)
        for turn in range(1, 5):
            obs, _r, terminated, truncated, info = env.step(agent.act([(obs, info)])[0])
            assert "tool_error" not in info[REWARD_COMPONENTS]
            assert terminated == (turn == 4) and not truncated
        wins += info[OUTCOME] == "win"
    assert 0.15 < wins / 40 < 0.9


def test_random_play_rarely_wins():
    env = gym_reason.make("gym_reason/TwentyQuestions-v0", split="test")
    agent = make_agent("random", env, seed=0)
    totals = [play(env, seed, lambda obs, info: agent.act([(obs, info)])[0])[0] for seed in range(60)]
    assert statistics.mean(totals) < 0.15


def test_the_splits_draw_secrets_from_disjoint_countries_and_cities():
    graph = load_graph()
    secrets = {}
    for split in ("train", "test"):
        env = TwentyQuestionsEnv(split=split)
        secrets[split] = set()
        for seed in range(200):
            env.reset(seed=seed)
            secrets[split].add(env.task.secret)
        countries = {s for s in secrets[split] if graph.entities[s].kind == "country"}
        assert {split_of(graph.entities[s].code, HELD_OUT) for s in countries} == {split}
        assert {split_of(s, HELD_OUT) for s in secrets[split] - countries} == {split}
        assert set(universe(ALL, split).candidates) | set(universe(CITIES, split).candidates) >= secrets[split]
    assert not secrets["train"] & secrets["test"]
    assert not set(universe(ALL, "train").candidates) & set(universe(ALL, "test").candidates)
    assert len(universe(ALL, "train").candidates) + len(universe(ALL, "test").candidates) == 252
    assert not set(universe(CITIES, "train").candidates) & set(universe(CITIES, "test").candidates)


def test_a_question_about_the_other_kind_of_secret_is_a_tool_error():
    env = TwentyQuestionsEnv(difficulty=3)
    env.reset(seed=0)
    obs, _r, _t, _tr, info = env.step(ask("borders Germany"))
    assert info[REWARD_COMPONENTS] == {"tool_error": DEFAULT_WEIGHTS["tool_error"]}
    assert "not a question about a city" in obs and "'in China'" in obs
    assert "question_cost" in env.step(ask("in China"))[4][REWARD_COMPONENTS]


def test_bad_questions_cost_a_tool_error_and_the_question_budget_holds():
    env = TwentyQuestionsEnv(difficulty=1, max_questions=2)
    env.reset(seed=0)
    assert env.step(ask("is it big?"))[4][REWARD_COMPONENTS] == {"tool_error": DEFAULT_WEIGHTS["tool_error"]}
    env.step(ask("population > 1 million"))
    env.step(ask("area > 1000"))
    obs, _r, _t, _tr, info = env.step(ask("area > 5000"))
    assert info[REWARD_COMPONENTS] == {"tool_error": DEFAULT_WEIGHTS["tool_error"]} and "questions are used" in obs
    obs, reward, terminated, _tr, info = env.step(guess("Atlantis"))
    assert terminated and reward == 0.0 and info[OUTCOME] == "loss" and env.task.secret in obs


def test_snapshots_are_exact_and_transcripts_deterministic():
    env = TwentyQuestionsEnv(split="test")
    env.reset(seed=4)
    env.step(ask("continent = Africa"))
    snap = env.snapshot()
    first = [env.step(ask("population > 10 million")), env.step(guess("Kenya"))]
    env.restore(snap)
    assert [env.step(ask("population > 10 million")), env.step(guess("Kenya"))] == first
    replies = [ask("continent = Africa"), ask("population > 10 million"), ask("nonsense"), guess("Kenya")]
    transcripts = []
    for fresh in (TwentyQuestionsEnv(split="test"), TwentyQuestionsEnv(split="test"), env):
        transcripts.append([fresh.reset(seed=4), *(fresh.step(r) for r in replies)])
    assert transcripts[0] == transcripts[1] == transcripts[2]
    assert TwentyQuestionsEnv(split="test").reset(seed=5)[0] != transcripts[0][0][0]  # another seed, another game


def _guess_noise(seeds: int) -> float:
    """Three standard errors of the mean return of one guess among the fewest candidates a game lists (the
    cheats that guess at once, like the baseline, are random answers: equal in expectation, not per sample)."""
    env = TwentyQuestionsEnv(split="test")
    p = 1 / min(len(universe(c, "test").candidates) for c in (*env._continents, ALL, CITIES))
    return 3 * math.sqrt(p * (1 - p) / seeds)


def test_no_cheat_pays_more_than_a_random_answer(tmp_path):
    means = assert_no_cheat_pays(
        lambda: gym_reason.make("gym_reason/TwentyQuestions-v0", split="test"),
        seeds=range(8),
        tmp=tmp_path,
        tolerance=_guess_noise(8),
    )
    # what goes beyond guessing (parallel guesses, echoes, long replies, hostile or repeated calls) loses outright
    for name in (
        "every_candidate_parallel",
        "repeat_observation",
        "very_long_reply",
        "reach_outside",
        "repeat_one_call",
    ):
        assert means[name] < 0, (name, means)


@pytest.mark.slow
def test_no_cheat_pays_more_than_a_random_answer_over_200_games(tmp_path):
    assert_no_cheat_pays(
        lambda: gym_reason.make("gym_reason/TwentyQuestions-v0", split="test"),
        seeds=range(200),
        tmp=tmp_path,
        tolerance=_guess_noise(200),
    )
