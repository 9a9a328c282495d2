"""Kuhn Poker rules: checked against OpenSpiel's ``kuhn_poker`` on every deal and line, plus matches."""

from __future__ import annotations

import pytest

import gym_reason
from gym_reason.core import GAME_OBSERVATION, METRICS
from gym_reason.envs.games.base import CHANCE, TERMINAL
from gym_reason.envs.games.kuhn_poker.rules import CARDS, DEALS, KuhnPoker, KuhnPokerState

pyspiel = pytest.importorskip("pyspiel")

OS_GAME = pyspiel.load_game("kuhn_poker")
# OpenSpiel's actions: 0 = pass (our check or fold), 1 = bet (our bet or call).
TO_OPENSPIEL = {"check": 0, "fold": 0, "bet": 1, "call": 1}


def _deal(deal: str, num_hands: int = 1) -> KuhnPokerState:
    state = KuhnPoker(num_hands).new_initial_state()
    state.apply(deal)
    return state


def _play(state: KuhnPokerState, *moves: str) -> KuhnPokerState:
    """Apply ``moves``: deals (``"KJ"``) at chance nodes, legal moves elsewhere."""
    for move in moves:
        if state.current_player() == CHANCE:
            assert move in dict(state.chance_outcomes()), (move, str(state))
        else:
            assert move in state.legal_actions(), (move, str(state))
        state.apply(move)
    return state


def _compare(ours: KuhnPokerState, theirs, line: list[str]) -> int:
    """Walk both trees below ``ours``/``theirs`` together; the number of terminal lines."""
    where = f"deal/line {line}"
    assert ours.current_player() == theirs.current_player(), where
    assert ours.is_terminal() == theirs.is_terminal(), where
    assert ours.returns() == pytest.approx(theirs.returns(), abs=0), where
    for player in (0, 1):
        assert ours.information_state(player) == theirs.information_state_string(player), (where, player)
    legal = ours.legal_actions()
    assert [TO_OPENSPIEL[m] for m in legal] == theirs.legal_actions(), where
    if ours.is_terminal():
        assert legal == []
        return 1
    terminals = 0
    for move in legal:
        child, their_child = ours.clone(), theirs.clone()
        child.apply(move)
        their_child.apply_action(TO_OPENSPIEL[move])
        terminals += _compare(child, their_child, [*line, move])
    return terminals


@pytest.mark.parametrize("deal", DEALS)
def test_every_line_matches_openspiel(deal: str) -> None:
    ours = KuhnPoker().new_initial_state()
    theirs = OS_GAME.new_initial_state()
    assert ours.current_player() == theirs.current_player() == CHANCE
    probability = 1.0
    for card in deal:
        outcomes = dict(theirs.chance_outcomes())
        probability *= outcomes[CARDS.index(card)]
        theirs.apply_action(CARDS.index(card))
    assert dict(ours.chance_outcomes())[deal] == pytest.approx(probability, abs=1e-15)
    ours.apply(deal)
    assert _compare(ours, theirs, [deal]) == 5  # pp, pbp, pbb, bp, bb


def test_chance_outcomes_cover_the_six_deals() -> None:
    outcomes = KuhnPoker().new_initial_state().chance_outcomes()
    assert sorted(d for d, _ in outcomes) == sorted(DEALS) and len(DEALS) == 6
    assert sum(p for _, p in outcomes) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="not at a chance node"):
        _deal("KJ").chance_outcomes()


def _terminal_returns(state: KuhnPokerState) -> list[list[float]]:
    if state.is_terminal():
        return [state.returns()]
    if state.current_player() == CHANCE:
        moves = [m for m, _ in state.chance_outcomes()]
    else:
        moves = state.legal_actions()
    out = []
    for move in moves:
        child = state.clone()
        child.apply(move)
        out += _terminal_returns(child)
    return out


def test_single_hand_payoffs_are_one_or_two_chips_and_zero_sum() -> None:
    returns = _terminal_returns(KuhnPoker().new_initial_state())
    assert len(returns) == 30
    assert {r[0] for r in returns} == {-2.0, -1.0, 1.0, 2.0}
    assert all(r[0] + r[1] == 0 for r in returns)


@pytest.mark.parametrize(
    ("deal", "moves", "expected"),
    [
        ("KJ", ["bet", "call"], 2.0),  # TextArena pays +1 here
        ("JK", ["bet", "call"], -2.0),
        ("QJ", ["check", "bet", "call"], 2.0),
        ("QK", ["check", "bet", "call"], -2.0),
        ("KQ", ["check", "check"], 1.0),
        ("JQ", ["bet", "fold"], 1.0),
        ("KJ", ["check", "bet", "fold"], -1.0),
    ],
)
def test_called_bets_pay_two_chips_regression_textarena(deal: str, moves: list[str], expected: float) -> None:
    """TextArena's KuhnPoker (textarena 0.7.x, ``envs/KuhnPoker/env.py``) never adds a bet or a call to the
    pot: the pot stays at the two antes, so a called bet is won for 1 chip, as if nobody had bet. Kuhn's
    game (and OpenSpiel) stake 2 chips on a called bet; we must pay 2."""
    state = _play(_deal(deal), *moves)
    assert state.is_terminal()
    assert state.returns() == [expected, -expected]
    assert state.metrics(0) == {"chips": expected}
    assert state.metrics(1) == {"chips": -expected}


# --- matches ---------------------------------------------------------------------------------------
def test_match_accumulates_chips_and_alternates_the_first_player() -> None:
    state = KuhnPoker(num_hands=3).new_initial_state()
    assert state.current_player() == CHANCE
    # Hand 1: player 0 opens, K vs J, bet-call: player 0 +2.
    state.apply("KJ")
    assert state.current_player() == 0
    assert state.observation(0)["first_to_act"] and not state.observation(1)["first_to_act"]
    _play(state, "bet", "call")
    assert state.current_player() == CHANCE and not state.is_terminal()
    assert state.returns() == [0.0, 0.0]
    assert state.metrics(0) == {"chips": 2.0} and state.metrics(1) == {"chips": -2.0}
    # Hand 2: player 1 opens, Q vs K, check-check: player 1's K wins 1, player 0 at +1.
    state.apply("QK")
    assert state.current_player() == 1
    assert state.observation(1)["first_to_act"] and not state.observation(0)["first_to_act"]
    assert state.observation(0)["hand"] == 2
    _play(state, "check", "check")
    assert state.metrics(0) == {"chips": 1.0}
    # Hand 3: player 0 opens again, J vs Q, player 0 bluffs and player 1 folds: player 0 +1, total +2.
    state.apply("JQ")
    assert state.current_player() == 0
    _play(state, "bet", "fold")
    assert state.is_terminal() and state.current_player() == TERMINAL
    assert state.legal_actions() == []
    assert state.metrics(0) == {"chips": 2.0} and state.metrics(1) == {"chips": -2.0}
    assert state.returns() == [1.0, -1.0]  # the match is decided by the sign of the chips
    log = state.observation(1)["finished_hands"]
    assert [h["chips"] for h in log] == [2, 1, 1]
    assert [h["winner"] for h in log] == [0, 1, 0]
    assert log[2]["cards"] is None  # no showdown after a fold


def test_match_folds_are_charged_to_the_right_player_when_player_1_opens() -> None:
    state = KuhnPoker(num_hands=2).new_initial_state()
    _play(state, "JQ", "check", "check")  # player 1 wins 1
    # Hand 2, player 1 opens: check, player 0 bets, player 1 folds -> player 0 wins 1.
    _play(state, "JQ", "check", "bet", "fold")
    assert state.metrics(0) == {"chips": 0.0}
    assert state.returns() == [0.0, 0.0]  # level match


@pytest.mark.parametrize("num_hands", [2, 3, 4, 5])
def test_first_player_alternates_by_hand(num_hands: int) -> None:
    state = KuhnPoker(num_hands=num_hands).new_initial_state()
    for hand in range(num_hands):
        assert state.current_player() == CHANCE
        state.apply("QJ")
        assert state.current_player() == hand % 2
        _play(state, "check", "check")  # Q beats J: player 0 +1 every hand
    assert state.metrics(0) == {"chips": float(num_hands)}
    assert state.returns() == [1.0, -1.0]


def test_match_return_is_the_sign_of_the_chips() -> None:
    lost = _play(KuhnPoker(num_hands=2).new_initial_state(), "JK", "bet", "call", "KJ", "check", "check")
    assert lost.metrics(0) == {"chips": -1.0}  # -2 then +1
    assert lost.returns() == [-1.0, 1.0]
    single = _play(_deal("JK"), "bet", "call")
    assert single.returns() == [-2.0, 2.0]  # a single hand returns the chips themselves


def test_bad_num_hands() -> None:
    for bad in (0, -1, 1.5, "2"):
        with pytest.raises(ValueError, match="num_hands"):
            KuhnPoker(num_hands=bad)  # type: ignore[arg-type]


def test_match_through_the_text_env_reports_chips() -> None:
    env = gym_reason.make("kuhn_poker", num_hands=3)
    env.reset(seed=7)
    expected, first_players = 0, []
    while not any(env.terminations.values()):
        agent = env.agent_selection
        info = env.infos[agent]
        view = info[GAME_OBSERVATION]
        if not view["moves"]:
            first_players.append(agent)
            cards = {agent: view["card"]}
        if view["moves"]:  # the second player checks behind: showdown for 1
            cards[agent] = view["card"]
            p0, p1 = cards["player_0"], cards["player_1"]
            expected += 1 if CARDS.index(p0) > CARDS.index(p1) else -1
        env.step("[check]")
    assert first_players == ["player_0", "player_1", "player_0"]
    assert env.infos["player_0"][METRICS] == {"chips": float(expected)}
    assert env.infos["player_1"][METRICS] == {"chips": float(-expected)}
    sign = (expected > 0) - (expected < 0)
    assert env.rewards == {"player_0": float(sign), "player_1": float(-sign)}
