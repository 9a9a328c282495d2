"""Exact advantages (the oracle of the process-reward estimators) against a brute-force enumeration of whole games."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest

from gym_reason.envs.games.base import CHANCE, Game, State
from gym_reason.envs.games.kuhn_poker.rules import KuhnPoker
from gym_reason.envs.games.leduc_holdem.rules import LeducHoldem
from gym_reason.envs.games.tic_tac_toe.rules import TicTacToe
from gym_reason.eval.exact import exact_advantages, expected_returns, history_key, uniform_policy
from gym_reason.eval.exploitability import information_states, tabular_policy


def _random_table(game: Game, seed: int) -> dict[str, dict[str, float]]:
    """A tabular policy over every information state, some entries pure (zero-probability moves included)."""
    rng = random.Random(seed)
    table = {}
    for player in range(game.num_players):
        for info, states in information_states(game)[player].items():
            legal = states[0][0].legal_actions()
            weights = [0.0 if rng.random() < 0.2 else rng.random() for _ in legal]
            if sum(weights) == 0:
                weights[0] = 1.0
            table[info] = {move: w / sum(weights) for move, w in zip(legal, weights, strict=True)}
    return table


def _whole_games(state: State, policy, prob: float, moves: tuple, out: list) -> None:
    """Every finished game as (moves from the start, probability, returns), enumerated move by move."""
    if state.is_terminal():
        out.append((moves, prob, state.returns()))
        return
    player = state.current_player()
    branches = state.chance_outcomes() if player == CHANCE else list(policy(state, player).items())
    for move, p in branches:
        child = state.clone()
        child.apply(move)
        _whole_games(child, policy, prob * p, (*moves, move), out)


def _brute_force(game: Game, policy) -> tuple[dict, dict]:
    """``V(h)`` and ``Q(h, a)`` of the mover from the list of whole games: sums over the games that pass
    through ``h`` (and then ``a``), each weighted by its probability, divided by the probability of ``h``."""
    games: list = []
    _whole_games(game.new_initial_state(), policy, 1.0, (), games)
    reach: dict[tuple, float] = defaultdict(float)
    total: dict[tuple, list[float]] = defaultdict(lambda: [0.0] * game.num_players)
    for moves, prob, returns in games:
        for depth in range(len(moves) + 1):
            prefix = moves[:depth]
            reach[prefix] += prob
            for i, r in enumerate(returns):
                total[prefix][i] += prob * r
    values, qs = {}, {}
    for prefix, p in reach.items():
        if p == 0:
            continue
        state = game.new_initial_state()
        for move in prefix:
            state.apply(move)
        mover = state.current_player()
        if mover < 0:
            continue
        values[prefix] = (state, total[prefix][mover] / p)
        qs[prefix] = {
            move: total[(*prefix, move)][mover] / reach[(*prefix, move)]
            for move in state.legal_actions()
            if reach.get((*prefix, move), 0) > 0
        }
    return values, qs


@pytest.mark.parametrize(
    ("game", "seed"),
    [(KuhnPoker(), 0), (KuhnPoker(), 1), (KuhnPoker(), 2), (LeducHoldem(), 0)],
    ids=lambda x: getattr(x, "name", str(x)),
)
def test_exact_advantages_of_a_tabular_policy_equal_brute_force(game: Game, seed: int) -> None:
    policy = tabular_policy(_random_table(game, seed))
    exact = exact_advantages(game, policy)
    values, qs = _brute_force(game, policy)
    assert len(values) > 10
    for prefix, (state, value) in values.items():
        assert exact.value(state) == pytest.approx(value, abs=1e-12), prefix
        for move, q in qs[prefix].items():
            assert exact.q(state, move) == pytest.approx(q, abs=1e-12), (prefix, move)
            assert exact.advantage(state, move) == pytest.approx(q - value, abs=1e-12)
    # The decisions it has values for are exactly those the enumeration reaches.
    assert exact.value_of.keys() == {history_key(s, game.num_players) for s, _ in values.values()}


def test_the_value_at_the_start_is_the_expected_return() -> None:
    game = KuhnPoker()
    policy = tabular_policy(_random_table(game, 5))
    exact = exact_advantages(game, policy)
    state = game.new_initial_state()
    expected = expected_returns(game, [policy, policy])
    # Kuhn starts with the deal: average player 0's value over the six deals.
    deals = state.chance_outcomes()
    total = 0.0
    for deal, p in deals:
        child = state.clone()
        child.apply(deal)
        total += p * exact.value(child)
    assert total == pytest.approx(expected[0], abs=1e-12)


def test_information_state_advantages_average_the_histories_by_reach() -> None:
    game = KuhnPoker()
    exact = exact_advantages(game, uniform_policy)
    # Player 1 holds Q after a bet: player 0 holds J or K, each reached with probability 1/6 * 1/2.
    # Calling wins 2 against J and loses 2 against K; folding loses 1: Q(call) = 0, Q(fold) = -1, V = -0.5.
    assert exact.information_state_advantage(1, "1b", "call") == pytest.approx(0.5)
    assert exact.information_state_advantage(1, "1b", "fold") == pytest.approx(-0.5)


def _lowest_three(state: State, player: int) -> dict[str, float]:
    """Uniform over the three lowest free cells: a TicTacToe policy whose tree is small enough for a unit test."""
    legal = state.legal_actions()[:3]
    return dict.fromkeys(legal, 1 / len(legal))


def test_perfect_information_transpositions_share_one_key() -> None:
    """TicTacToe's state key is the board: histories that reach one board by different orders of moves
    have one value (the policy reads the board only)."""
    game = TicTacToe()
    first, second = game.new_initial_state(), game.new_initial_state()
    for move in ("0", "3", "1"):
        first.apply(move)
    for move in ("1", "3", "0"):
        second.apply(move)
    exact = exact_advantages(game, _lowest_three)
    assert exact.value(first) == exact.value(second)
    assert exact.advantage(first, "2") > 0  # blocking the top row beats the average move


def test_unreached_states_and_bad_moves_are_refused_with_the_reason() -> None:
    game = KuhnPoker()
    always_check = {info: {"check": 1.0} for info in ("0", "1", "2")}
    always_check |= {info: {"check": 1.0} for info in ("0p", "1p", "2p")}
    always_check |= {info: {"fold": 1.0} for info in ("0b", "1b", "2b", "0pb", "1pb", "2pb")}
    exact = exact_advantages(game, tabular_policy(always_check))
    state = game.new_initial_state()
    state.apply("JQ")
    state.apply("bet")  # never played: player 1 never faces a bet
    with pytest.raises(KeyError, match="not a decision the policies reach"):
        exact.value(state)
    state = game.new_initial_state()
    state.apply("JQ")
    assert exact.q(state, "bet") == pytest.approx(1.0)  # never played, still exact: player 1 folds
    with pytest.raises(KeyError, match="not a legal move"):
        exact.advantage(state, "call")
    with pytest.raises(ValueError, match="one per player"):
        exact_advantages(game, [uniform_policy])


@pytest.mark.slow
def test_liars_dice_exact_advantages_agree_with_its_expected_returns() -> None:
    """The whole Liar's Dice tree (~300,000 nodes) under a random tabular policy: the deal-weighted values of
    the first decision are the expected return, and at every decision V is the policy's average of Q."""
    from gym_reason.envs.games.liars_dice.rules import LiarsDice

    game = LiarsDice()
    table = _random_table(game, 3)
    policy = tabular_policy(table)
    exact = exact_advantages(game, policy)
    start = game.new_initial_state()
    total = 0.0
    for roll, p in start.chance_outcomes():
        child = start.clone()
        child.apply(roll)
        for second, q in child.chance_outcomes():
            grandchild = child.clone()
            grandchild.apply(second)
            total += p * q * exact.value(grandchild)
    assert total == pytest.approx(expected_returns(game, [policy, policy])[0], abs=1e-12)
    for (player, info), q_values in exact.info_q_of.items():
        probs = table[info]
        assert sum(probs.get(m, 0.0) * q for m, q in q_values.items()) == pytest.approx(
            exact.info_value_of[player, info], abs=1e-9
        )
