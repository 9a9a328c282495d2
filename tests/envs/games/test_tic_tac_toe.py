"""TicTacToe rules: checked against OpenSpiel's ``tic_tac_toe`` on the whole game tree."""

from __future__ import annotations

import random

import pytest

from gym_reason.envs.games.base import TERMINAL
from gym_reason.envs.games.tic_tac_toe.rules import TicTacToe, TicTacToeState

pyspiel = pytest.importorskip("pyspiel")

OS_GAME = pyspiel.load_game("tic_tac_toe")
TERMINAL_GAMES = 255_168  # distinct move sequences that end the game
NODES = 549_946  # every position reachable by a move sequence, the empty board included


def _same(ours: TicTacToeState, theirs, line: list[str]) -> list[str]:
    """Compare one node; our legal moves there."""
    legal = ours.legal_actions()
    assert [int(m) for m in legal] == theirs.legal_actions(), line
    assert ours.current_player() == theirs.current_player(), line
    assert ours.is_terminal() == theirs.is_terminal(), line
    assert ours.returns() == theirs.returns(), line
    return legal


def _walk(ours: TicTacToeState, theirs, line: list[str], counts: list[int]) -> None:
    """Depth-first over the whole tree; OpenSpiel's state is moved forward and back with undo."""
    counts[0] += 1
    legal = _same(ours, theirs, line)
    if not legal:
        counts[1] += 1
        return
    player = theirs.current_player()
    for move in legal:
        child = ours.clone()
        child.apply(move)
        theirs.apply_action(int(move))
        line.append(move)
        _walk(child, theirs, line, counts)
        line.pop()
        theirs.undo_action(player, int(move))


def test_whole_game_tree_matches_openspiel() -> None:
    counts = [0, 0]  # nodes, terminal games
    _walk(TicTacToe().new_initial_state(), OS_GAME.new_initial_state(), [], counts)
    assert counts == [NODES, TERMINAL_GAMES]


def test_random_games_match_openspiel() -> None:
    rng = random.Random(0)
    outcomes = {1.0: 0, -1.0: 0, 0.0: 0}
    for _ in range(2_000):
        ours, theirs, line = TicTacToe().new_initial_state(), OS_GAME.new_initial_state(), []
        while legal := _same(ours, theirs, line):
            move = rng.choice(legal)
            ours.apply(move)
            theirs.apply_action(int(move))
            line.append(move)
        assert ours.current_player() == TERMINAL
        outcomes[ours.returns()[0]] += 1
    assert all(n > 100 for n in outcomes.values()), outcomes


def test_board_and_views() -> None:
    state = TicTacToe().new_initial_state()
    for move in ("4", "0", "8"):
        state.apply(move)
    assert state.board() == "o...x...x"
    assert state.current_player() == 1
    assert state.observation(1) == {"player": 1, "mark": "o", "board": "o...x...x", "to_act": True}
    assert state.observation(0)["to_act"] is False
    assert state.information_state(0) == state.information_state(1) == "o...x...x"
    assert str(state) == "o..\n.x.\n..x"


def test_full_board_draw_and_last_move_win() -> None:
    draw = TicTacToe().new_initial_state()
    for move in "012435768":  # x o x / x o o / o x x
        draw.apply(move)
    assert draw.board() == "xoxxooox" + "x"
    assert draw.is_terminal() and draw.returns() == [0.0, 0.0]
    win = TicTacToe().new_initial_state()
    for move in "01245367":  # o completes the middle column on move 8
        win.apply(move)
    assert win.is_terminal() and win.returns() == [-1.0, 1.0]
