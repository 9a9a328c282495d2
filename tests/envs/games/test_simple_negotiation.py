"""Simple Negotiation: the deal, the move grammar and its legality, trades, scoring, privacy, agents."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.core import GAME_OBSERVATION, INVALID_ACTION, METRICS, OUTCOME, TEXT_CHARSET, Outcome
from gym_reason.envs.games.base import CHANCE, TERMINAL, resolve_chance
from gym_reason.envs.games.simple_negotiation.rules import (
    BASE_VALUES,
    RESOURCES,
    SimpleNegotiation,
    SimpleNegotiationState,
    value_range,
)
from gym_reason.envs.games.simple_negotiation.template import SimpleNegotiationTemplate

QTY0 = [10, 10, 10, 10, 10]
VAL0 = [5, 10, 15, 25, 40]  # initial value 950
QTY1 = [20, 5, 8, 12, 6]
VAL1 = [6, 8, 12, 20, 32]  # initial value 120 + 40 + 96 + 240 + 192 = 688


def dealt(
    qty0: list[int] = QTY0,
    val0: list[int] = VAL0,
    qty1: list[int] = QTY1,
    val1: list[int] = VAL1,
    max_turns: int = 10,
) -> SimpleNegotiationState:
    """A state after a chosen deal, fed through the 20 chance nodes in their documented order."""
    state = SimpleNegotiation(max_turns).new_initial_state()
    for qty, val in ((qty0, val0), (qty1, val1)):
        for q, v in zip(qty, val, strict=True):
            for outcome in (str(q), str(v)):
                assert state.current_player() == CHANCE
                assert outcome in dict(state.chance_outcomes())
                state.apply(outcome)
    assert state.current_player() == 0
    return state


def play(state: SimpleNegotiationState, *moves: str) -> SimpleNegotiationState:
    for move in moves:
        canonical = state.parse_move(move)
        assert canonical is not None, f"{move!r} should be legal in\n{state}"
        state.apply(canonical)
    return state


def run_env(env: Any, seed: int, answer: Any) -> tuple[dict[str, tuple[float, dict]], list[tuple[str, str]]]:
    """Play one game with ``answer(agent, obs, info) -> raw text``; per-agent final (reward, info) and
    the transcript of (agent, observation) pairs."""
    env.reset(seed=seed)
    final: dict[str, tuple[float, dict]] = {}
    transcript = []
    for agent in env.agent_iter():
        obs, reward, term, trunc, info = env.last()
        transcript.append((agent, obs))
        if term or trunc:
            final[agent] = (reward, dict(info))
            env.step(None)
        else:
            env.step(answer(agent, obs, info))
    return final, transcript


def agents_answer(agents: dict[str, Any]) -> Any:
    return lambda agent, obs, info: agents[agent].act([(obs, info)])[0]


def script_answer(moves: list[str]) -> Any:
    it = iter(moves)
    return lambda agent, obs, info: f"[{next(it)}]"


# --------------------------------------------------------------------------- the deal


def test_chance_nodes_are_twenty_small_uniform_lists() -> None:
    state = SimpleNegotiation().new_initial_state()
    sizes = []
    while state.current_player() == CHANCE:
        outcomes = state.chance_outcomes()
        assert sum(p for _, p in outcomes) == pytest.approx(1.0)
        assert len({p for _, p in outcomes}) == 1
        sizes.append(len(outcomes))
        state.apply(outcomes[0][0])
    # quantity (5..25) then value per resource, player 0 then player 1
    assert sizes == [21, 2, 21, 5, 21, 7, 21, 11, 21, 9] * 2
    assert [value_range(b) for b in BASE_VALUES] == [(5, 6), (8, 12), (12, 18), (20, 30), (32, 40)]


def test_deal_ranges_over_many_seeds() -> None:
    game = SimpleNegotiation()
    quantities: Counter[int] = Counter()
    values: dict[str, set[int]] = {r: set() for r in RESOURCES}
    for seed in range(400):
        state = game.new_initial_state()
        resolve_chance(state, random.Random(seed))
        for p in (0, 1):
            view = state.observation(p)
            for r, base in zip(RESOURCES, BASE_VALUES, strict=True):
                lo, hi = value_range(base)
                assert 5 <= view["inventory"][r] <= 25
                assert lo <= view["values"][r] <= hi
                quantities[view["inventory"][r]] += 1
                values[r].add(view["values"][r])
            expected = sum(view["inventory"][r] * view["values"][r] for r in RESOURCES)
            assert view["initial_value"] == view["value"] == expected
            assert view["value_change"] == 0
    assert set(quantities) == set(range(5, 26))
    for r, base in zip(RESOURCES, BASE_VALUES, strict=True):
        lo, hi = value_range(base)
        assert values[r] == set(range(lo, hi + 1))


def test_env_deal_matches_views_and_varies_with_seed() -> None:
    env = gym_reason.make("simple_negotiation")
    seen = set()
    for seed in range(20):
        env.reset(seed=seed)
        view = env.infos["player_0"][GAME_OBSERVATION]
        assert view["to_act"] and view["turn"] == 0 and view["turns_left"] == 10
        assert all(5 <= q <= 25 for q in view["inventory"].values())
        seen.add(tuple(view["inventory"].values()))
    assert len(seen) == 20


# --------------------------------------------------------------------------- trades


def test_accepted_trade_updates_both_inventories_and_values_exactly() -> None:
    state = play(dealt(), "offer: 2 wheat, 1 wood -> 1 ore")
    assert state.observation(1)["pending_offer"] == {
        "from": 0,
        "give": {"wheat": 2, "wood": 1},
        "get": {"ore": 1},
    }
    play(state, "accept")
    v0, v1 = state.observation(0), state.observation(1)
    assert list(v0["inventory"].values()) == [8, 9, 10, 10, 11]
    assert list(v1["inventory"].values()) == [22, 6, 8, 12, 5]
    assert v0["value"] == 950 - 2 * 5 - 10 + 40 == 970
    assert v1["value"] == 688 + 2 * 6 + 8 - 32 == 676
    assert (v0["value_change"], v1["value_change"]) == (20, -12)
    assert v0["trades"] == v1["trades"] == 1
    assert v0["pending_offer"] is None
    assert state.metrics(0) == {"value_change": 20.0, "opponent_value_change": -12.0, "trades": 1.0}


def test_accept_executes_and_every_other_move_rejects_the_pending_offer() -> None:
    for rejection in ("deny", "talk: no thanks", "offer: 1 sheep -> 1 brick"):
        state = play(dealt(), "offer: 1 wheat -> 1 ore", rejection)
        before = state.observation(0)["inventory"]
        assert state.observation(0)["trades"] == 0
        if rejection.startswith("offer"):
            # the counter-offer is now the pending one, and accepting it trades it, not the first offer
            assert state.observation(0)["pending_offer"]["from"] == 1
            play(state, "accept")
            after = state.observation(0)["inventory"]
            assert (after["sheep"], after["brick"], after["wheat"], after["ore"]) == (11, 9, 10, 10)
        else:
            assert state.observation(0)["pending_offer"] is None
            assert state.parse_move("accept") is None
            assert state.parse_move("deny") is None
            assert state.observation(0)["inventory"] == before


def test_scripted_game_outcome_and_metrics_by_hand() -> None:
    state = play(
        dealt(max_turns=6),
        "offer: 4 wheat -> 1 brick",  # p0: -20 + 25 = +5;  p1: +24 - 20 = +4
        "accept",
        "talk: thanks",
        "offer: 2 wood -> 1 sheep",  # p1: -16 + 12 = -4;  p0: +20 - 15 = +5
        "accept",
        "offer: 1 ore -> 1 wheat",  # still pending when the game ends: never executed
    )
    assert state.is_terminal() and state.current_player() == TERMINAL
    assert list(state.observation(0)["inventory"].values()) == [6, 12, 9, 11, 10]
    assert list(state.observation(1)["inventory"].values()) == [24, 3, 9, 11, 6]
    assert state.observation(0)["value"] == 30 + 120 + 135 + 275 + 400 == 960
    assert state.observation(1)["value"] == 144 + 24 + 108 + 220 + 192 == 688
    assert state.returns() == [1.0, -1.0]
    assert state.metrics(0) == {"value_change": 10.0, "opponent_value_change": 0.0, "trades": 2.0}
    assert state.metrics(1) == {"value_change": 0.0, "opponent_value_change": 10.0, "trades": 2.0}
    assert state.parse_move("talk: hi") is None


def test_returns_draw_and_second_player_win() -> None:
    quiet = play(dealt(max_turns=4), "talk: a", "talk: b", "offer: 1 wheat -> 1 ore", "deny")
    assert quiet.returns() == [0.0, 0.0]
    assert quiet.metrics(1)["trades"] == 0.0
    # p0 gives 1 ore (-40) for 1 wheat (+5); p1 gains 32 - 6 = +26
    lost = play(dealt(max_turns=2), "offer: 1 ore -> 1 wheat", "accept")
    assert lost.returns() == [-1.0, 1.0]
    assert lost.metrics(0) == {"value_change": -35.0, "opponent_value_change": 26.0, "trades": 1.0}
    assert dealt(max_turns=2).returns() == [0.0, 0.0]  # nothing is paid before the end


def test_env_scripted_game_scores_from_the_deal() -> None:
    env = gym_reason.make("simple_negotiation")
    moves = ["offer: 4 wheat -> 1 brick", "accept", "talk: thanks", "offer: 2 wood -> 1 sheep", "accept"]
    moves += ["talk: ok", "talk: bye", "talk: fine", "talk: done", "talk: end"]
    views: dict[str, dict] = {}

    def answer(agent: str, obs: str, info: dict) -> str:
        views.setdefault(agent, info[GAME_OBSERVATION])
        return f"[{moves[info[GAME_OBSERVATION]['turn']]}]"

    final, _ = run_env(env, 3, answer)
    v0, v1 = views["player_0"]["values"], views["player_1"]["values"]
    change0 = -4 * v0["wheat"] + v0["brick"] + 2 * v0["wood"] - v0["sheep"]
    change1 = 4 * v1["wheat"] - v1["brick"] - 2 * v1["wood"] + v1["sheep"]
    sign = (change0 > change1) - (change0 < change1)
    assert final["player_0"][0] == sign and final["player_1"][0] == -sign
    assert final["player_0"][1][METRICS] == {
        "value_change": change0,
        "opponent_value_change": change1,
        "trades": 2,
    }
    assert final["player_1"][1][METRICS] == {
        "value_change": change1,
        "opponent_value_change": change0,
        "trades": 2,
    }
    assert final["player_0"][1][OUTCOME] == {1: Outcome.WIN, -1: Outcome.LOSS, 0: Outcome.DRAW}[sign]


def test_max_turns_sets_the_game_length() -> None:
    env = gym_reason.make("simple_negotiation", max_turns=3)
    final, transcript = run_env(env, 0, script_answer(["talk: a", "talk: b", "talk: c"]))
    assert final["player_0"][1][OUTCOME] == Outcome.DRAW  # ended by the game, not truncated
    assert final["player_0"][0] == final["player_1"][0] == 0.0
    assert "you make 2 moves" in transcript[0][1]
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_turns"):
            gym_reason.make("simple_negotiation", max_turns=bad)


# --------------------------------------------------------------------------- move grammar


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("offer: 2 wheat, 1 wood -> 1 ore", "offer: 2 wheat, 1 wood -> 1 ore"),
        ("OFFER: 2 Wheat, 1 Wood -> 1 Ore", "offer: 2 wheat, 1 wood -> 1 ore"),
        ("  offer   1 wood and 2 wheat for 1 ore. ", "offer: 2 wheat, 1 wood -> 1 ore"),
        ("Offer: I give 2 wheats, 1 woods -> 1 ores!", "offer: 2 wheat, 1 wood -> 1 ore"),
        ("offer:I offer 1 sheep->1 brick, and 1 ore", "offer: 1 sheep -> 1 brick, 1 ore"),
        ("offer: 1 wheat, 1 wheat → 3 sheeps", "offer: 2 wheat -> 3 sheep"),
        ("offer:\n1 bricks\n->\n2 wood", "offer: 1 brick -> 2 wood"),
        ("offer: 10 ore -> 1 wheat", "offer: 10 ore -> 1 wheat"),
        ("talk: Hello   there\n friend ", "talk: Hello there friend"),
        ("TALK hi", "talk: hi"),
        ("talk:" + "x" * 500, "talk: " + "x" * 300),
        ("talk: accept", "talk: accept"),
    ],
)
def test_parse_move_variants(text: str, canonical: str) -> None:
    state = dealt()
    assert state.parse_move(text) == canonical
    assert state.parse_move(canonical) == canonical  # canonical moves are fixed points
    state.apply(canonical)
    assert state.observation(1)["history"] == [{"player": 0, "move": canonical}]


def test_accept_and_deny_variants() -> None:
    state = play(dealt(), "offer: 1 wheat -> 1 ore")
    for text, move in [("accept", "accept"), (" Accept. ", "accept"), ("DENY", "deny"), ("deny!", "deny")]:
        assert state.parse_move(text) == move


# Each illegal move, given as (moves that lead to the situation, the illegal text).
ILLEGAL = {
    "accept without an offer": ([], "accept"),
    "deny without an offer": ([], "deny"),
    "accept a rejected offer": (["offer: 1 wheat -> 1 ore", "talk: no"], "accept"),
    "accept without the requested items": (["offer: 1 wheat -> 26 ore"], "accept"),
    "empty give side": ([], "offer: -> 1 ore"),
    "empty get side": ([], "offer: 1 wheat ->"),
    "unknown resource": ([], "offer: 1 gold -> 1 ore"),
    "zero quantity": ([], "offer: 0 wheat -> 1 ore"),
    "negative quantity": ([], "offer: -1 wheat -> 1 ore"),
    "fractional quantity": ([], "offer: 1.5 wheat -> 1 ore"),
    "word quantity": ([], "offer: one wheat -> 1 ore"),
    "huge quantity": ([], "offer: 1 wheat -> 1000000 ore"),
    "resource on both sides": ([], "offer: 1 wheat -> 1 wheat, 1 ore"),
    "giving more than held": ([], "offer: 26 wheat -> 1 ore"),
    "no separator": ([], "offer: 1 wheat 1 ore"),
    "two separators": ([], "offer: 1 wheat -> 1 ore -> 1 sheep"),
    "item without quantity": ([], "offer: wheat -> 1 ore"),
    "no offer keyword": ([], "1 wheat -> 1 ore"),
    "offering": ([], "offering 1 wheat -> 1 ore"),
    "empty talk": ([], "talk:   "),
    "talkative": ([], "talkative"),
    "free text": ([], "I accept your offer"),
    "nothing": ([], ""),
}


@pytest.mark.parametrize("case", sorted(ILLEGAL))
def test_illegal_move_is_not_parsed(case: str) -> None:
    setup, text = ILLEGAL[case]
    # quantities are 5..25, so 26 of anything is never held before a trade
    state = play(dealt(qty0=[25] * 5, qty1=[25] * 5), *setup)
    assert state.parse_move(text) is None
    with pytest.raises(ValueError):
        state.apply(text)


def test_proposer_must_hold_what_it_gives_after_trades() -> None:
    state = play(dealt(qty0=[5, 5, 5, 5, 5]), "offer: 5 wheat -> 1 ore", "accept")
    assert state.observation(0)["inventory"]["wheat"] == 0
    assert state.parse_move("offer: 1 wheat -> 1 ore") is None
    assert state.parse_move("offer: 1 ore -> 1 wheat") == "offer: 1 ore -> 1 wheat"
    play(state, "talk: thanks")
    assert state.parse_move("offer: 26 wheat -> 1 ore") is None
    assert state.parse_move("offer: 25 wheat -> 1 ore") == "offer: 25 wheat -> 1 ore"


def test_accept_of_own_offer_is_impossible() -> None:
    state = play(dealt(), "offer: 1 wheat -> 1 ore")
    assert state.parse_move("accept") == "accept"
    # the proposer never faces its own offer: any reply of player 1 clears it before player 0 moves
    state.apply("talk: hmm")
    assert state.current_player() == 0 and state.parse_move("accept") is None


@pytest.mark.parametrize("case", sorted(ILLEGAL))
def test_illegal_move_in_env_is_scored_and_ends_the_game(case: str) -> None:
    setup, text = ILLEGAL[case]
    env = gym_reason.make("simple_negotiation")
    moves = [*setup, text]
    final, _ = run_env(env, 7, script_answer(moves))
    offender = f"player_{len(setup) % 2}"
    other = f"player_{1 - len(setup) % 2}"
    assert final[offender][0] == -1.0 and final[other][0] == 1.0
    assert final[offender][1][OUTCOME] == Outcome.FORFEIT and final[other][1][OUTCOME] == Outcome.WIN
    assert final[offender][1][INVALID_ACTION] is True
    assert final[offender][1][METRICS]["trades"] == 0


def test_invalid_move_in_env_uses_the_invalid_move_rule() -> None:
    env = gym_reason.make("simple_negotiation", invalid_move="spiral")
    final, _ = run_env(env, 0, script_answer(["accept"]))
    assert (final["player_0"][0], final["player_1"][0]) == (-1.5, 0.5)


# --------------------------------------------------------------------------- views and privacy


def test_private_information_never_reaches_the_other_player() -> None:
    template = SimpleNegotiationTemplate()
    moves = [
        "offer: 1 wheat -> 2 ore",
        "accept",
        "talk: more?",
        "offer: 2 sheep -> 1 wood, 1 brick",
        "deny",
        "talk: ok",
    ]
    rng = random.Random(0)
    reference = None
    for _ in range(30):
        qty0 = [rng.randint(5, 25) for _ in RESOURCES]
        val0 = [rng.randint(*value_range(b)) for b in BASE_VALUES]
        state = dealt(qty0, val0)
        seen = [(template.state(state.observation(1)), state.information_state(1), state.observation(1))]
        for move in moves:
            play(state, move)
            seen.append((template.state(state.observation(1)), state.information_state(1), state.observation(1)))
        # same deal for player 1, same public moves: identical views whatever player 0 holds
        if reference is None:
            reference = seen
        assert seen == reference
    assert template.state(dealt().observation(0)) != template.state(dealt(val0=[6, 8, 12, 20, 32]).observation(0))


def test_observation_fields_and_text() -> None:
    state = play(dealt(), "talk: hi \u2603", "offer: 2 wheat -> 1 ore")
    view = state.observation(0)
    assert set(view) == {
        "player", "inventory", "values", "initial_value", "value", "value_change", "pending_offer",
        "history", "trades", "turn", "max_turns", "turns_left", "to_act",
    }  # fmt: skip
    assert view["turn"] == 2 and view["turns_left"] == 8 and view["to_act"] is True
    assert view["history"] == [
        {"player": 0, "move": "talk: hi \u2603"},
        {"player": 1, "move": "offer: 2 wheat -> 1 ore"},
    ]
    text = SimpleNegotiationTemplate().state(view)
    assert 'You said: "hi \\u2603"' in text
    assert "Pending offer from Player 1: you would receive 2 Wheat and give 1 Ore" in text
    assert "Ore     10 x 40 =  400" in text
    assert "Move 3 of 10: 8 moves left, 4 of them yours." in text
    assert set(text) <= set(TEXT_CHARSET)
    assert state.information_state(0) != state.information_state(1)
    assert "player 0" in str(state) and "player 1" in str(state)  # omniscient


def test_env_observations_stay_in_charset_and_show_the_grammar() -> None:
    env = gym_reason.make("simple_negotiation")
    _, transcript = run_env(env, 1, script_answer(["talk: snow \u2603 \U0001f600"] + ["talk: ok"] * 9))
    for _agent, obs in transcript:
        assert env.observation_space("player_0").contains(obs)
    assert "offer: 2 wheat -> 1 ore" in transcript[0][1] and "talk: hello" in transcript[0][1]
    assert "\\u2603" in transcript[-1][1]


def test_clone_is_independent() -> None:
    state = play(dealt(), "offer: 1 wheat -> 1 ore")
    copy = state.clone()
    play(copy, "accept", "talk: x")
    assert state.observation(0)["inventory"]["wheat"] == 10 and state.observation(0)["turn"] == 1
    assert copy.observation(0)["inventory"]["wheat"] == 9 and copy.observation(0)["turn"] == 3
    assert state.observation(1)["pending_offer"] is not None


def test_same_seed_and_actions_give_identical_observations() -> None:
    def transcript(env_seed: int) -> list[tuple[str, str]]:
        env = gym_reason.make("simple_negotiation")
        agents = {
            "player_0": make_agent("random", env, seed=5),
            "player_1": make_agent("random", env, seed=6),
        }
        return run_env(env, env_seed, agents_answer(agents))[1]

    assert transcript(11) == transcript(11)
    assert transcript(11) != transcript(12)


# --------------------------------------------------------------------------- agents


def test_random_agent_only_makes_legal_moves() -> None:
    env = gym_reason.make("simple_negotiation")
    kinds: Counter[str] = Counter()
    for seed in range(100):
        agents = {
            "player_0": make_agent("random", env, seed=seed),
            "player_1": make_agent("random", env, seed=-seed),
        }

        def answer(agent: str, obs: str, info: dict, agents: dict = agents) -> str:
            move = agents[agent].act([(obs, info)])[0]
            kinds[move[1:].split(":")[0].rstrip("]")] += 1
            return move

        final, _ = run_env(env, seed, answer)
        for _reward, info in final.values():
            assert info[INVALID_ACTION] is False and info[OUTCOME] != Outcome.FORFEIT
    assert set(kinds) == {"offer", "talk", "accept", "deny"}


def test_heuristic_never_accepts_a_losing_trade_and_beats_random() -> None:
    env = gym_reason.make("simple_negotiation")
    rewards, accepts, gains = [], 0, []
    for seed in range(200):
        hero = f"player_{seed % 2}"
        agents = {hero: make_agent("fixed:heuristic", env, seed=0)}
        agents[f"player_{1 - seed % 2}"] = make_agent("random", env, seed=seed)
        steps: list[tuple[int, str]] = []  # (hero's value change when it moved, its answer)

        def answer(
            agent: str, obs: str, info: dict, agents: dict = agents, hero: str = hero, steps: list = steps
        ) -> str:
            move = agents[agent].act([(obs, info)])[0]
            if agent == hero:
                steps.append((info[GAME_OBSERVATION]["value_change"], move))
            return move

        final, _ = run_env(env, seed, answer)
        end_change = final[hero][1][METRICS]["value_change"]
        changes = [change for change, _ in steps] + [end_change]
        # its value never falls: it accepts only gains, and its own offers give a lower-valued unit
        assert changes == sorted(changes), (seed, steps)
        for i, (change, move) in enumerate(steps):
            if move == "[accept]":
                accepts += 1
                assert changes[i + 1] > change  # only the accept happens before its next move
        rewards.append(final[hero][0])
        gains.append(end_change - final[hero][1][METRICS]["opponent_value_change"])
    assert accepts > 20
    assert sum(rewards) / len(rewards) > 0.5
    assert sum(gains) / len(gains) > 0


def test_heuristic_policy_is_deterministic_and_sensible() -> None:
    env = gym_reason.make("simple_negotiation")
    agent = make_agent("fixed:heuristic", env, seed=0)
    assert agent.policy(dealt().observation(0), []) == {"offer: 1 wheat -> 1 ore": 1.0}
    state = play(dealt(), "offer: 1 wheat -> 1 ore")  # player 1 would give 32 for 6
    assert agent.policy(state.observation(1), []) == {"deny": 1.0}
    state = play(dealt(), "talk: hi", "offer: 1 ore -> 2 wheat")  # +40 - 10 for player 0
    assert agent.policy(state.observation(0), []) == {"accept": 1.0}
    # a gain it cannot afford
    state = play(dealt(qty0=[5, 5, 5, 5, 5]), "talk: hi", "offer: 1 ore -> 6 wheat")
    assert agent.policy(state.observation(0), []) == {"deny": 1.0}
