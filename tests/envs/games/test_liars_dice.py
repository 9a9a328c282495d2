"""Liar's Dice: the rules checked against OpenSpiel's ``liars_dice`` on every deal and bidding line, the
text env, the bots, and exact exploitability against OpenSpiel's."""

from __future__ import annotations

import math
import random

import pytest

import gym_reason
from gym_reason.agents import fixed_agent_names, make_agent, strongest_fixed_agent
from gym_reason.core import GAME_OBSERVATION, INVALID_ACTION, LEGAL_ACTIONS, OUTCOME, Outcome
from gym_reason.envs.games.base import CHANCE, TERMINAL
from gym_reason.envs.games.liars_dice.bots import (
    LiarsDiceAlwaysLiar,
    LiarsDiceHeuristic,
    LiarsDiceLowestBid,
    bid_probability,
)
from gym_reason.envs.games.liars_dice.rules import LIAR, LiarsDice, LiarsDiceState
from gym_reason.eval.exact import expected_returns, scripted_policy, uniform_policy
from gym_reason.eval.exploitability import exact_analysis_games, exploitability, policy_table, tabular_policy

pyspiel = pytest.importorskip("pyspiel")
from open_spiel.python import policy as os_policy  # noqa: E402
from open_spiel.python.algorithms import exploitability as os_exploitability  # noqa: E402

FACES = range(1, 7)
DEALS = [(a, b) for a in FACES for b in FACES]
BIDS = 12  # 1x1 .. 2x6 with one die each
LINES_PER_DEAL = 2**BIDS - 1  # every non-empty increasing sequence of bids, then liar
FAST_DEALS = {(1, 6), (3, 5), (6, 6)}  # a wild die, plain dice, two wild dice; the rest run with -m slow
UNIFORM_EXPLOITABILITY = 0.7807443231922397  # OpenSpiel 1.x: exploitability(liars_dice, UniformRandomPolicy)


def _action(game: LiarsDice, move: str) -> int:
    """OpenSpiel's action number of our move."""
    if move == LIAR:
        return 2 * game.num_dice * game.dice_sides
    quantity, face = (int(x) for x in move.split("x"))
    return (quantity - 1) * game.dice_sides + face - 1


def _same_node(game: LiarsDice, ours: LiarsDiceState, theirs, line: list[str]) -> None:
    assert ours.current_player() == theirs.current_player(), line
    assert ours.is_terminal() == theirs.is_terminal(), line
    assert ours.returns() == theirs.returns(), line
    for player in (0, 1):
        assert ours.information_state(player) == theirs.information_state_string(player), (line, player)
    if ours.current_player() == CHANCE:
        assert [(int(face) - 1, p) for face, p in ours.chance_outcomes()] == theirs.chance_outcomes(), line
    else:
        assert [_action(game, m) for m in ours.legal_actions()] == theirs.legal_actions(), line
        assert [theirs.action_to_string(a) for a in theirs.legal_actions()] == [
            "Liar" if m == LIAR else m.replace("x", "-") for m in ours.legal_actions()
        ], line


def _compare(game: LiarsDice, ours: LiarsDiceState, theirs, line: list[str]) -> int:
    """Walk both trees below ``ours``/``theirs`` together, chance nodes included; the number of terminal lines."""
    _same_node(game, ours, theirs, line)
    if ours.is_terminal():
        assert ours.legal_actions() == [] and ours.current_player() == TERMINAL
        return 1
    if ours.current_player() == CHANCE:
        branches = [(face, int(face) - 1) for face, _ in ours.chance_outcomes()]
    else:
        branches = [(m, _action(game, m)) for m in ours.legal_actions()]
    terminals = 0
    for move, action in branches:
        child, their_child = ours.clone(), theirs.clone()
        child.apply(move)
        their_child.apply_action(action)
        terminals += _compare(game, child, their_child, [*line, move])
    return terminals


# --- (1) every deal and every bidding line, one die each -------------------------------------------------
@pytest.mark.parametrize(
    ("first", "second"), [pytest.param(*d, marks=() if d in FAST_DEALS else pytest.mark.slow) for d in DEALS]
)
def test_every_bidding_line_matches_openspiel(first: int, second: int) -> None:
    game = LiarsDice()
    os_game = pyspiel.load_game("liars_dice")
    assert os_game.get_parameters() == {"bidding_rule": "reset-face", "dice_sides": 6, "numdice": 1, "players": 2}
    ours, theirs = game.new_initial_state(), os_game.new_initial_state()
    for face in (first, second):
        _same_node(game, ours, theirs, [])
        ours.apply(str(face))
        theirs.apply_action(face - 1)
    assert _compare(game, ours, theirs, [str(first), str(second)]) == LINES_PER_DEAL


def test_game_facts_match_openspiel() -> None:
    game, os_game = LiarsDice(), pyspiel.load_game("liars_dice")
    assert game.max_game_length == os_game.max_game_length() == 13
    assert os_game.get_type().utility == pyspiel.GameType.Utility.ZERO_SUM and game.zero_sum
    assert len(game.new_initial_state().chance_outcomes()) == os_game.max_chance_outcomes() == 6
    assert game.exact_analysis and not LiarsDice(num_dice=2).exact_analysis
    assert "liars_dice" in exact_analysis_games()


@pytest.mark.parametrize(("num_dice", "dice_sides"), [(2, 6), (1, 4), (3, 3)])
def test_random_games_match_openspiel_with_other_parameters(num_dice: int, dice_sides: int) -> None:
    game = LiarsDice(num_dice=num_dice, dice_sides=dice_sides)
    os_game = pyspiel.load_game("liars_dice", {"numdice": num_dice, "dice_sides": dice_sides})
    assert game.max_game_length == os_game.max_game_length()
    rng = random.Random(num_dice * 10 + dice_sides)
    for _ in range(300):
        ours, theirs, line = game.new_initial_state(), os_game.new_initial_state(), []
        while True:
            _same_node(game, ours, theirs, line)
            if ours.is_terminal():
                break
            if ours.current_player() == CHANCE:
                move = rng.choice([face for face, _ in ours.chance_outcomes()])
                action = int(move) - 1
            else:
                legal = ours.legal_actions()
                move = LIAR if LIAR in legal and rng.random() < 0.3 else rng.choice(legal)
                action = _action(game, move)
            ours.apply(move)
            theirs.apply_action(action)
            line.append(move)


@pytest.mark.parametrize(
    ("dice", "bid", "caller_wins"),
    [
        ((3, 5), "1x4", True),  # no 4 and no 6
        ((3, 6), "2x3", False),  # the 6 is wild: two 3s
        ((6, 1), "2x6", True),  # a bid on sixes counts sixes only
        ((6, 6), "2x6", False),
        ((2, 2), "2x2", False),
    ],
)
def test_wild_sixes_and_who_wins_a_call(dice: tuple[int, int], bid: str, caller_wins: bool) -> None:
    state = LiarsDice().new_initial_state()
    for move in (str(dice[0]), str(dice[1]), bid, LIAR):  # player 0 bids, player 1 calls
        state.apply(move)
    assert state.returns() == ([-1.0, 1.0] if caller_wins else [1.0, -1.0])


def test_bad_parameters_are_refused_with_the_default() -> None:
    for kwargs in ({"num_dice": 0}, {"num_dice": True}, {"dice_sides": 1}, {"dice_sides": 10}):
        with pytest.raises(ValueError, match=r"num_dice|dice_sides"):
            LiarsDice(**kwargs)
    with pytest.raises(ValueError, match="num_dice"):
        gym_reason.make("liars_dice", num_dice=0)


# --- the text env ------------------------------------------------------------------------------------------
def test_text_env_plays_a_called_bluff() -> None:
    env = gym_reason.make("liars_dice")
    env.reset(seed=3)
    obs, _, _, _, info = env.last()
    assert "Liar's Dice" in obs and "a 6 is wild" in obs and "Your die:" in obs
    assert info[LEGAL_ACTIONS][0] == "[1x1]" and "[liar]" not in info[LEGAL_ACTIONS]
    env.step("[2x6]")  # the highest bid: only liar is left
    obs, _, _, _, info = env.last()
    assert info[LEGAL_ACTIONS] == ["[liar]"] and "Player 0 bid 2x6" in obs
    assert info[GAME_OBSERVATION]["bids"] == ("2x6",)
    env.step("I think you are bluffing: [Liar]")
    assert GAME_OBSERVATION not in env.infos["player_0"]  # views go at the end; the text shows the dice
    final = env.observe("player_0")
    assert "Player 1 called liar on 2x6" in final and "Player 0 had" in final
    two_sixes = final.count("had 6") == 2
    assert env.rewards["player_0"] == (1.0 if two_sixes else -1.0)
    assert env.infos["player_1"][OUTCOME] == (Outcome.LOSS if two_sixes else Outcome.WIN)


def test_text_env_scores_an_illegal_bid_as_an_invalid_move() -> None:
    env = gym_reason.make("liars_dice")
    env.reset(seed=0)
    env.step("[1x3]")
    env.step("[1x2]")  # lower than the last bid
    assert env.infos["player_1"][INVALID_ACTION]
    assert env.rewards == {"player_0": 1.0, "player_1": -1.0}


# --- bots ---------------------------------------------------------------------------------------------------
def test_bots_are_declared_with_the_game() -> None:
    assert fixed_agent_names("liars_dice") == ["always_liar", "heuristic", "lowest_bid"]
    assert strongest_fixed_agent("liars_dice") == "fixed:heuristic"


def test_bid_probability_from_own_dice() -> None:
    view = {"dice": (4,), "num_dice": 1, "dice_sides": 6}
    assert bid_probability("1x4", view) == 1.0  # my own 4
    assert bid_probability("1x3", view) == pytest.approx(1 / 3)  # a 3 or a wild 6 from the other die
    assert bid_probability("1x6", view) == pytest.approx(1 / 6)  # sixes count only themselves
    assert bid_probability("2x4", view) == pytest.approx(1 / 3)
    assert bid_probability("2x3", view) == 0.0
    assert bid_probability("2x2", {"dice": (6,), "num_dice": 1, "dice_sides": 6}) == pytest.approx(1 / 3)


def _bot_move(die: int, *bids: str) -> str:
    """The heuristic's move holding ``die`` in the seat to move after ``bids`` (the other die is a 1)."""
    state = LiarsDice().new_initial_state()
    for move in (str(die), "1") if len(bids) % 2 == 0 else ("1", str(die)):
        state.apply(move)
    for move in bids:
        state.apply(move)
    return LiarsDiceHeuristic().move(state.observation(state.current_player()), state.legal_actions())


@pytest.mark.parametrize(
    ("die", "bids", "expected"),
    [
        (4, (), "1x4"),  # the lowest bid it is sure of
        (6, (), "1x1"),  # a wild six makes a bid of one of any face true
        (4, ("1x2",), "1x4"),  # a sure raise beats calling a bid that is false 2/3 of the time
        (3, ("1x3",), "1x4"),  # 1x3 is true: calling loses; 1x4 holds 1/3 of the time
        (2, ("1x3",), LIAR),  # calling wins 2/3; every bid left holds at most 1/3
        (4, ("1x5", "1x6"), LIAR),  # 1x6 holds 1/6
    ],
)
def test_heuristic_moves(die: int, bids: tuple[str, ...], expected: str) -> None:
    assert _bot_move(die, *bids) == expected


@pytest.mark.parametrize("bot", [LiarsDiceHeuristic, LiarsDiceLowestBid, LiarsDiceAlwaysLiar])
def test_bots_play_only_legal_moves(bot) -> None:
    state_rng = random.Random(1)
    policy = scripted_policy(bot())
    for _ in range(200):
        state = LiarsDice().new_initial_state()
        while not state.is_terminal():
            if state.current_player() == CHANCE:
                state.apply(state_rng.choice([face for face, _ in state.chance_outcomes()]))
                continue
            probs = policy(state, state.current_player())
            assert set(probs) <= set(state.legal_actions()) and math.isclose(sum(probs.values()), 1.0)
            state.apply(state_rng.choice(state.legal_actions()))


def test_heuristic_beats_random_in_seeded_games() -> None:
    """2,000 seeded games through the text env, seats alternating: the bot's mean reward with a 95% interval."""
    games, rewards = 2000, []
    for g in range(games):
        env = gym_reason.make("liars_dice")
        env.reset(seed=g)
        seat = env.possible_agents[g % 2]
        agents = {
            seat: make_agent("fixed:heuristic", env, seed=g),
            env.possible_agents[1 - g % 2]: make_agent("random", env, seed=10_000 + g),
        }
        total = 0.0
        for agent in env.agent_iter():
            obs, reward, done, truncated, info = env.last()
            total += reward if agent == seat else 0.0
            env.step(None if done or truncated else agents[agent].act([(obs, info)])[0])
        rewards.append(total)
    mean = sum(rewards) / games
    sd = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (games - 1))
    low, high = mean - 1.96 * sd / math.sqrt(games), mean + 1.96 * sd / math.sqrt(games)
    assert low > 0.3, (mean, low, high)
    assert low <= HEURISTIC_VS_UNIFORM <= high, (mean, low, high)


HEURISTIC_VS_UNIFORM = 0.7039708148504444
"""The heuristic's exact expected reward against uniform play, averaged over the two seats
(computed by ``test_heuristic_value_against_uniform_exactly``)."""


def test_heuristic_value_against_uniform_exactly() -> None:
    """Exact tree walks (the bot's moves are deterministic, so they prune the tree): the bot beats uniform
    play from both seats, and the pure styles do worse (lowest_bid loses)."""
    game = LiarsDice()

    def value(bot) -> tuple[float, float]:
        policy = scripted_policy(bot)
        return expected_returns(game, [policy, uniform_policy])[0], expected_returns(game, [uniform_policy, policy])[1]

    first, second = value(LiarsDiceHeuristic())
    assert first > 0.7 and second > 0.68
    assert (first + second) / 2 == pytest.approx(HEURISTIC_VS_UNIFORM, abs=1e-12)
    assert sum(value(LiarsDiceAlwaysLiar())) / 2 == pytest.approx(43 / 108, abs=1e-12)
    assert sum(value(LiarsDiceLowestBid())) / 2 < 0


# --- (3) exact exploitability against OpenSpiel's ------------------------------------------------------------
def _openspiel_tabular(os_game, table: dict[str, dict[str, float]], game: LiarsDice):
    tabular = os_policy.TabularPolicy(os_game)
    for info, probs in table.items():
        row = tabular.policy_for_key(info)
        row[:] = 0.0
        for move, p in probs.items():
            row[_action(game, move)] = p
    return tabular


@pytest.mark.parametrize("seed", [None, 0, 1])
def test_exploitability_equals_openspiel_on_a_small_die(seed: int | None) -> None:
    """Three-sided dice (the same code on a tree of 9 deals x 64 bidding lines): uniform and random policies."""
    game = LiarsDice(dice_sides=3)
    os_game = pyspiel.load_game("liars_dice", {"dice_sides": 3})
    table = policy_table(game, uniform_policy)
    if seed is not None:
        rng = random.Random(seed)
        for info, probs in table.items():
            weights = [rng.random() for _ in probs]
            table[info] = {m: w / sum(weights) for m, w in zip(probs, weights, strict=True)}
    ours = exploitability(game, tabular_policy(table))
    theirs = os_exploitability.exploitability(os_game, _openspiel_tabular(os_game, table, game))
    assert abs(ours - theirs) < 1e-9, (ours, theirs)


@pytest.mark.slow
def test_uniform_exploitability_equals_openspiel() -> None:
    os_game = pyspiel.load_game("liars_dice")
    theirs = os_exploitability.exploitability(os_game, os_policy.UniformRandomPolicy(os_game))
    ours = exploitability(LiarsDice(), uniform_policy)
    assert abs(ours - theirs) < 1e-9 and abs(ours - UNIFORM_EXPLOITABILITY) < 1e-12, (ours, theirs)
