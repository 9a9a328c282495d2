"""Leduc Hold'em rules: checked against OpenSpiel's ``leduc_poker`` on every deal and line, then the text env."""

from __future__ import annotations

import random

import pytest

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.checker import check_env
from gym_reason.core import GAME_OBSERVATION, INVALID_ACTION, LEGAL_ACTIONS, OUTCOME, PARSED_ACTION, Outcome
from gym_reason.envs.games.base import CHANCE, TERMINAL
from gym_reason.envs.games.leduc_holdem.bots import LeducAlwaysCall, LeducAlwaysRaise, LeducHeuristic
from gym_reason.envs.games.leduc_holdem.rules import CARDS, OPENSPIEL_ACTION, LeducHoldem, LeducHoldemState
from gym_reason.eval.exact import expected_returns, scripted_policy, uniform_policy
from gym_reason.eval.exploitability import decision_points

pyspiel = pytest.importorskip("pyspiel")

OS_GAME = pyspiel.load_game("leduc_poker")
DEALS = [(a, b) for a in CARDS for b in CARDS if a != b]
# Lines of one betting round (c = check/call, r = raise, f = fold): five go on, four end in a fold.
ROUND_LINES_ON, ROUND_LINES_FOLD = 5, 4
TERMINALS_PER_DEAL = ROUND_LINES_FOLD + 4 * ROUND_LINES_ON * (ROUND_LINES_ON + ROUND_LINES_FOLD)  # 184


def _same_node(ours: LeducHoldemState, theirs, line: list[str]) -> None:
    assert ours.current_player() == theirs.current_player(), line
    assert ours.is_terminal() == theirs.is_terminal(), line
    assert ours.returns() == theirs.returns(), line
    for player in (0, 1):
        assert ours.information_state(player) == theirs.information_state_string(player), (line, player)
    if ours.current_player() == CHANCE:
        assert [(CARDS.index(c), p) for c, p in ours.chance_outcomes()] == theirs.chance_outcomes(), line
    else:
        assert [OPENSPIEL_ACTION[m] for m in ours.legal_actions()] == theirs.legal_actions(), line


def _compare(ours: LeducHoldemState, theirs, line: list[str]) -> int:
    """Walk both trees below ``ours``/``theirs`` together, chance nodes included; the number of terminal lines."""
    _same_node(ours, theirs, line)
    if ours.is_terminal():
        assert ours.legal_actions() == []
        return 1
    if ours.current_player() == CHANCE:
        branches = [(c, CARDS.index(c)) for c, _ in ours.chance_outcomes()]
    else:
        branches = [(m, OPENSPIEL_ACTION[m]) for m in ours.legal_actions()]
    terminals = 0
    for move, action in branches:
        child, their_child = ours.clone(), theirs.clone()
        child.apply(move)
        their_child.apply_action(action)
        terminals += _compare(child, their_child, [*line, move])
    return terminals


def _play(*moves: str) -> LeducHoldemState:
    """Apply ``moves``: card names at chance nodes, legal moves elsewhere."""
    state = LeducHoldem().new_initial_state()
    for move in moves:
        if state.current_player() == CHANCE:
            assert move in dict(state.chance_outcomes()), (move, str(state))
        else:
            assert move in state.legal_actions(), (move, str(state))
        state.apply(move)
    return state


# --- (a) every deal, public card and betting line ------------------------------------------------------
@pytest.mark.parametrize(("first", "second"), DEALS)
def test_every_line_matches_openspiel(first: str, second: str) -> None:
    ours, theirs = LeducHoldem().new_initial_state(), OS_GAME.new_initial_state()
    for card in (first, second):
        _same_node(ours, theirs, [])
        ours.apply(card)
        theirs.apply_action(CARDS.index(card))
    assert _compare(ours, theirs, [first, second]) == TERMINALS_PER_DEAL


def test_the_whole_tree_has_the_openspiel_sizes() -> None:
    """30 deals x 184 lines; 936 information states (OpenSpiel's TabularPolicy rows), 468 per player."""
    infos = {0: set(), 1: set()}
    terminals = 0
    stack = [LeducHoldem().new_initial_state()]
    while stack:
        state = stack.pop()
        if state.is_terminal():
            terminals += 1
            continue
        player = state.current_player()
        moves = [c for c, _ in state.chance_outcomes()] if player == CHANCE else state.legal_actions()
        if player != CHANCE:
            infos[player].add(state.information_state(player))
        for move in moves:
            child = state.clone()
            child.apply(move)
            stack.append(child)
    assert terminals == 30 * TERMINALS_PER_DEAL == 5520
    assert len(infos[0]) == len(infos[1]) == 468


def test_chance_outcomes_deal_one_card_at_a_time() -> None:
    state = LeducHoldem().new_initial_state()
    assert state.chance_outcomes() == [(c, 1 / 6) for c in CARDS]
    state.apply("Qh")
    assert [c for c, _ in state.chance_outcomes()] == ["Js", "Jh", "Qs", "Ks", "Kh"]
    assert state.current_player() == CHANCE
    state.apply("Js")
    assert state.current_player() == 0
    with pytest.raises(ValueError, match="not at a chance node"):
        state.chance_outcomes()
    state.apply("check")
    state.apply("check")
    assert state.current_player() == CHANCE
    assert state.chance_outcomes() == [("Jh", 0.25), ("Qs", 0.25), ("Ks", 0.25), ("Kh", 0.25)]


# --- (b) random lines ----------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_random_games_match_openspiel(seed: int) -> None:
    rng = random.Random(seed)
    lengths = set()
    for _ in range(500):
        ours, theirs, line = LeducHoldem().new_initial_state(), OS_GAME.new_initial_state(), []
        while not ours.is_terminal():
            _same_node(ours, theirs, line)
            if ours.current_player() == CHANCE:
                move = rng.choice(ours.chance_outcomes())[0]
                theirs.apply_action(CARDS.index(move))
            else:
                move = rng.choice(ours.legal_actions())
                theirs.apply_action(OPENSPIEL_ACTION[move])
            ours.apply(move)
            line.append(move)
        _same_node(ours, theirs, line)
        assert ours.returns() == theirs.returns() and sum(ours.returns()) == 0
        lengths.add(len(line))
    # From two cards and a raise-fold to three cards and four moves a round.
    assert min(lengths) == 4 and max(lengths) <= 3 + 8 and len(lengths) >= 7


# --- hand-worked payoffs -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("moves", "expected"),
    [
        (["Ks", "Jh", "raise", "fold"], 1.0),  # a fold to the first raise loses the ante
        (["Js", "Kh", "check", "raise", "fold"], -1.0),
        (["Js", "Kh", "raise", "raise", "fold"], -3.0),  # player 0 folds to a re-raise: its 3 chips are lost
        (["Js", "Kh", "check", "check", "Qs", "check", "check"], -1.0),  # King high beats Jack high
        (["Js", "Kh", "check", "check", "Jh", "check", "check"], 1.0),  # a pair of Jacks beats King high
        (["Ks", "Kh", "raise", "call", "Qs", "raise", "call"], 0.0),  # equal ranks split the pot
        (["Qs", "Jh", "raise", "raise", "call", "Js", "raise", "raise", "call"], -13.0),  # the largest pot
        (["Kh", "Qs", "check", "raise", "raise", "call", "Jh", "raise", "raise", "call"], 13.0),
    ],
)
def test_hand_worked_returns(moves: list[str], expected: float) -> None:
    state = _play(*moves)
    assert state.is_terminal() and state.current_player() == TERMINAL
    assert state.returns() == [expected, -expected]


def test_two_raises_per_round_then_fold_or_call_only() -> None:
    state = _play("Ks", "Jh")
    assert state.legal_actions() == ["check", "raise"]  # no fold without a bet, as in OpenSpiel
    state.apply("raise")
    assert state.legal_actions() == ["fold", "call", "raise"]
    state.apply("raise")
    assert state.legal_actions() == ["fold", "call"]
    state.apply("call")
    state.apply("Qs")
    assert state.current_player() == 0  # player 0 opens round 2 too
    assert state.legal_actions() == ["check", "raise"]
    state.apply("check")
    assert state.current_player() == 1 and state.legal_actions() == ["check", "raise"]


def test_views_and_observation_keys() -> None:
    state = _play("Ks", "Jh", "raise", "call", "Js")
    view = state.observation(1)
    assert view["card"] == "J" and view["public_card"] == "J" and view["round"] == 2
    assert view["moves"] == (("raise", "call"), ())
    assert (view["pot"], view["chips_in"], view["opponent_chips_in"]) == (6, 3, 3)
    assert view["to_act"] is False and view["to_call"] == 0
    state.apply("raise")
    view = state.observation(1)
    assert view["to_act"] and view["to_call"] == 4 and view["raise_size"] == 4 and view["raises_left"] == 1
    state.apply("call")
    ended = state.observation(0)
    assert ended["finished"] and ended["showdown"] == ("K", "J") and ended["result"] == -7.0
    # The information state does not hold the opponent's card; the view at a showdown does, so the key must.
    versus_queen = _play("Js", "Qs", "check", "check", "Jh", "check", "check")
    versus_king = _play("Js", "Ks", "check", "check", "Jh", "check", "check")
    assert versus_queen.information_state(0) == versus_king.information_state(0)
    assert versus_queen.observation(0)["showdown"] == ("J", "Q") and versus_king.observation(0)["showdown"] == (
        "J",
        "K",
    )
    assert versus_queen.observation_key(0) != versus_king.observation_key(0)
    folded = _play("Ks", "Jh", "raise", "fold")
    assert folded.observation(0)["showdown"] is None and folded.observation(0)["result"] == 1.0


# --- (c) the text env ----------------------------------------------------------------------------------
def test_text_env_plays_random_answers_and_scores_invalid_moves() -> None:
    env = gym_reason.make("leduc_holdem")
    rng = random.Random(0)
    results = {"game": 0, "invalid": 0}
    for episode in range(300):
        env.reset(seed=episode)
        invalid_by = None
        for agent in env.agent_iter():
            obs, _reward, terminated, truncated, info = env.last()
            if terminated or truncated:
                env.step(None)
                continue
            assert "Leduc Hold'em" in obs and info[GAME_OBSERVATION]["to_act"]
            legal = info[LEGAL_ACTIONS]
            answer = rng.choice(legal) if rng.random() < 0.97 else rng.choice(["[bet]", "fold", "[all in]", ""])
            env.step(answer)
            if env.infos[agent][INVALID_ACTION]:
                invalid_by = agent
                assert env.infos[agent][PARSED_ACTION] is None
        if invalid_by is None:
            results["game"] += 1
        else:
            results["invalid"] += 1
    assert results["game"] > 100 and results["invalid"] > 10


def test_invalid_move_ends_the_game_with_the_default_rule() -> None:
    env = gym_reason.make("leduc_holdem")
    env.reset(seed=1)
    env.step("[fold]")  # not legal without a bet
    assert env.infos["player_0"][INVALID_ACTION]
    assert env.rewards == {"player_0": -1.0, "player_1": 1.0}
    assert env.infos["player_0"][OUTCOME] == Outcome.FORFEIT and env.infos["player_1"][OUTCOME] == Outcome.WIN


def test_text_env_pays_the_chips() -> None:
    env = gym_reason.make("leduc_holdem")
    env.reset(seed=5)
    for answer in ("[raise]", "[raise]", "[call]", "[raise]", "[raise]", "[call]"):
        env.step(answer)
    assert all(env.terminations.values())
    assert env.rewards["player_0"] in (-13.0, 0.0, 13.0)
    assert env.rewards["player_0"] == -env.rewards["player_1"]


# --- (d) the conformance checker ---------------------------------------------------------------------
@pytest.mark.parametrize("kwargs", [{}, {"answer_format": "boxed", "invalid_move": "spiral"}])
def test_checker_passes(kwargs: dict) -> None:
    report = check_env("gym_reason/LeducHoldem-v0", env_kwargs=kwargs)
    assert report.ok, str(report)
    assert len(report.results) >= 6


# --- (e) fixed opponents -----------------------------------------------------------------------------
AGENTS = {"always_call": LeducAlwaysCall, "always_raise": LeducAlwaysRaise, "heuristic": LeducHeuristic}


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_fixed_agents_put_all_probability_on_legal_moves(name: str) -> None:
    agent = AGENTS[name]()
    for player in (0, 1):
        for _info, state in decision_points(LeducHoldem(), player):
            probs = agent.policy(state.observation(player), state.legal_actions())
            assert set(probs) <= set(state.legal_actions()) and sum(probs.values()) == 1.0


def test_heuristic_moves() -> None:
    heuristic = LeducHeuristic()

    def move(*moves: str, player: int) -> str:
        state = _play(*moves)
        return heuristic.move(state.observation(player), state.legal_actions())

    assert move("Ks", "Jh", player=0) == "raise"
    assert move("Qs", "Jh", player=0) == "check"
    assert move("Ks", "Jh", "raise", player=1) == "call"  # a Jack calls in round 1
    assert move("Ks", "Jh", "raise", "raise", player=0) == "call"  # no raise left
    assert move("Ks", "Jh", "check", "check", "Qs", "raise", player=1) == "fold"  # a Jack folds in round 2
    assert move("Ks", "Jh", "check", "check", "Js", "raise", player=1) == "raise"  # unless it pairs
    assert move("Qs", "Jh", "check", "check", "Ks", player=0) == "check"


def test_heuristic_beats_the_pure_styles_and_random_exactly() -> None:
    game, heuristic = LeducHoldem(), scripted_policy(LeducHeuristic())
    for other in (scripted_policy(LeducAlwaysCall()), scripted_policy(LeducAlwaysRaise()), uniform_policy):
        as_first = expected_returns(game, [heuristic, other])[0]
        as_second = expected_returns(game, [other, heuristic])[1]
        assert (as_first + as_second) / 2 > 0.1, (other, as_first, as_second)


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_fixed_agents_play_the_text_env_without_invalid_moves(name: str) -> None:
    env = gym_reason.make("leduc_holdem")
    agent, opponent = make_agent(f"fixed:{name}", env, seed=1), make_agent("random", env, seed=2)
    for episode in range(50):
        env.reset(seed=episode)
        seats = {"player_0": agent, "player_1": opponent} if episode % 2 else {"player_0": opponent, "player_1": agent}
        for current in env.agent_iter():
            obs, _reward, terminated, truncated, info = env.last()
            if terminated or truncated:
                env.step(None)
                continue
            env.step(seats[current].act([(obs, info)])[0])
            assert not env.infos[current][INVALID_ACTION]
        assert all(env.terminations.values())
