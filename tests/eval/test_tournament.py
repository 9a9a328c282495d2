"""Tournaments: duplicate (per-deal) scoring, the rated order of known bots, failures."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from gym_reason.agents import AgentError
from gym_reason.agents.base import Observation
from gym_reason.core import Outcome
from gym_reason.eval.engine import Episode as GameRecord
from gym_reason.eval.tournament import default_pool, pair_results, tournament


def _record(seed: int, seats: list[str], rewards: list[float], outcomes: list[Outcome | None], error=None):
    return GameRecord(seed, seats, rewards, outcomes, [0, 0], [1, 1], [None, None], error=error)


def test_a_deal_is_won_by_the_bigger_total_over_both_seats() -> None:
    W, L = Outcome.WIN, Outcome.LOSS
    records = [
        _record(1, ["a", "b"], [2.0, -2.0], [W, L]),  # a wins 2 with the good cards ...
        _record(1, ["b", "a"], [1.0, -1.0], [W, L]),  # ... and loses only 1 without them: a wins the deal
        _record(2, ["a", "b"], [-1.0, 1.0], [L, W]),
        _record(2, ["b", "a"], [-1.0, 1.0], [L, W]),  # each wins once by 1: a drawn deal
        _record(3, ["a", "b"], [1.0, -1.0], [W, L]),
        _record(3, ["b", "a"], [0.0, 0.0], [None, None], error="timeout"),  # a deal with a failed game is left out
    ]
    by_deal = pair_results(records, "a", "b")
    assert (by_deal.wins, by_deal.losses, by_deal.draws) == (1, 0, 1)
    assert by_deal.mean_reward == pytest.approx((2 - 1 - 1 + 1) / 4)
    by_game = pair_results(records, "a", "b", by_deal=False)
    assert (by_game.wins, by_game.losses, by_game.draws) == (3, 2, 0)


def test_forfeits_lose_and_truncated_games_draw_when_scored_per_game() -> None:
    records = [
        _record(1, ["a", "b"], [-1.0, 1.0], [Outcome.FORFEIT, Outcome.WIN]),
        _record(2, ["a", "b"], [0.0, 0.0], [Outcome.TRUNCATED, Outcome.TRUNCATED]),
    ]
    result = pair_results(records, "a", "b", by_deal=False)
    assert (result.wins, result.losses, result.draws) == (0, 1, 1)


def test_tic_tac_toe_ratings_rank_the_known_order() -> None:
    board = tournament("tic_tac_toe", ["random", "fixed:heuristic", "fixed:minimax"], games=120, seed=0)
    assert [row.name for row in board.rows] == ["fixed:minimax", "fixed:heuristic", "random"]
    _, middle, worst = board.rows
    assert middle.elo_low > worst.elo_high  # random is separated from both, not just ranked below
    assert board.win_rates["fixed:minimax"]["fixed:heuristic"] > 0.5  # mostly draws, but minimax never loses
    assert board.win_rates["random"]["fixed:minimax"] == 0.0  # minimax never loses a game, so never a deal
    assert board.exploitability == {}  # no exact exploitability for a game it does not solve


def test_kuhn_nash_is_never_beaten_per_deal_on_average() -> None:
    board = tournament("kuhn_poker", ["fixed:always_check", "random", "fixed:nash"], games=1000, seed=1)
    assert board.rows[0].name == "fixed:nash" and board.rows[-1].name == "fixed:always_check"
    assert all(board.win_rates["fixed:nash"][other] > 0.5 for other in ("random", "fixed:always_check"))
    # Beside the ratings, what a best response takes from each (exact, whatever the games drew).
    assert board.exploitability == pytest.approx({"fixed:nash": 0.0, "random": 11 / 24, "fixed:always_check": 1.0})


def test_a_tournament_where_every_game_fails_says_why() -> None:
    class Down:
        name = "down"

        def act(self, batch: Sequence[Observation]) -> list[str]:
            raise AgentError([None] * len(batch), dict.fromkeys(range(len(batch)), "HTTP 503 after 3 retries"))

    with pytest.raises(ValueError, match=r"every game of the tournament failed.*HTTP 503"):
        tournament("kuhn_poker", ["down", "random"], games=4, agents={"down": Down()})


def test_pool_checks() -> None:
    with pytest.raises(ValueError, match="at least two different agents"):
        tournament("kuhn_poker", ["random", "random"], games=4)
    import gym_reason

    pool = default_pool(gym_reason.make("leduc_holdem"), "leduc_holdem", agents_dir="/nonexistent")
    assert pool == ["random", "fixed:always_call", "fixed:always_raise", "fixed:heuristic"]
