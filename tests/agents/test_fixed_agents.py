"""Fixed opponents: exact values over the rules, OpenSpiel cross-checks, and play through the text envs."""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

import pytest

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.core import METRICS
from gym_reason.envs.games.base import CHANCE
from gym_reason.envs.games.kuhn_poker.bots import KuhnAlwaysBet, KuhnAlwaysCheck, KuhnNash
from gym_reason.envs.games.kuhn_poker.rules import KuhnPoker
from gym_reason.envs.games.tic_tac_toe.bots import TicTacToeMinimax, TicTacToeOnePly
from gym_reason.envs.games.tic_tac_toe.rules import TicTacToe
from gym_reason.eval.exact import expected_returns, scripted_policy, uniform_policy

pyspiel = pytest.importorskip("pyspiel")
from open_spiel.python import policy as os_policy  # noqa: E402
from open_spiel.python.algorithms import expected_game_score, exploitability  # noqa: E402

ALPHAS = [0.0, 1 / 12, 1 / 6, 1 / 4, 1 / 3]
NASH_VALUE = -1 / 18  # the first player's value of Kuhn Poker
# The Nash opponent's exact expectation per hand against a uniformly random player, averaged over the
# two seats: first seat (1 + 6 alpha) / 18, second seat 1/6 (computed by expected_returns, checked
# against OpenSpiel below).
NASH_VS_UNIFORM = {0.0: Fraction(1, 9), 1 / 3: Fraction(1, 6)}
TO_OPENSPIEL = {"check": 0, "fold": 0, "bet": 1, "call": 1}


def _nash(alpha: float):
    return scripted_policy(KuhnNash(alpha=alpha))


def _vs_uniform_by_seat(alpha: float) -> tuple[float, float]:
    """The Nash player's expected chips per hand as the first and as the second player."""
    nash, game = _nash(alpha), KuhnPoker()
    first = expected_returns(game, [nash, uniform_policy])[0]
    second = expected_returns(game, [uniform_policy, nash])[1]
    return first, second


# --- (a) exact values --------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("beta", ALPHAS)
def test_nash_family_value_is_minus_one_eighteenth(alpha: float, beta: float) -> None:
    value = expected_returns(KuhnPoker(), [_nash(alpha), _nash(beta)])
    assert value[0] == pytest.approx(NASH_VALUE, abs=1e-12)
    assert value[1] == pytest.approx(-NASH_VALUE, abs=1e-12)


@pytest.mark.parametrize("alpha", sorted(NASH_VS_UNIFORM))
def test_nash_vs_uniform_exact(alpha: float) -> None:
    first, second = _vs_uniform_by_seat(alpha)
    assert first == pytest.approx((1 + 6 * alpha) / 18, abs=1e-12)
    assert second == pytest.approx(1 / 6, abs=1e-12)
    assert (first + second) / 2 == pytest.approx(float(NASH_VS_UNIFORM[alpha]), abs=1e-12)


def test_nash_beats_the_pure_strategies_exactly() -> None:
    game, nash = KuhnPoker(), _nash(0.0)
    for agent in (KuhnAlwaysBet(), KuhnAlwaysCheck()):
        other = scripted_policy(agent)
        seats = expected_returns(game, [nash, other])[0] + expected_returns(game, [other, nash])[1]
        assert seats > 0, agent.name


def test_expected_returns_rejects_bad_policies() -> None:
    game = KuhnPoker()
    with pytest.raises(ValueError, match="illegal move"):
        expected_returns(game, [lambda s, p: {"call": 1.0}, uniform_policy])
    with pytest.raises(ValueError, match="summing to"):
        expected_returns(game, [lambda s, p: {"check": 0.5, "bet": 0.4}, uniform_policy])
    with pytest.raises(ValueError, match="negative"):
        expected_returns(game, [lambda s, p: dict(zip(s.legal_actions(), (1.5, -0.5), strict=True)), None])
    with pytest.raises(ValueError, match="2 players"):
        expected_returns(game, [uniform_policy])
    # Leaving zero-probability moves out, and summing to 1 within 1e-9, is fine.
    assert expected_returns(game, [lambda s, p: {s.legal_actions()[0]: 1 - 1e-12}, uniform_policy])


def _tabular(agents_by_player: dict[int, KuhnNash]) -> os_policy.TabularPolicy:
    """An OpenSpiel TabularPolicy with our agents' probabilities, keyed by our information states."""
    game = pyspiel.load_game("kuhn_poker")
    table = os_policy.TabularPolicy(game)
    seen: dict[str, dict[str, float]] = {}

    def walk(state) -> None:
        player = state.current_player()
        if state.is_terminal():
            return
        if player == CHANCE:
            moves = [m for m, _ in state.chance_outcomes()]
        else:
            key = state.information_state(player)
            probs = dict(scripted_policy(agents_by_player[player])(state, player))
            assert seen.setdefault(key, probs) == probs, key  # a policy of information states
            row = table.policy_for_key(key)
            row[:] = 0.0
            for move, p in probs.items():
                row[TO_OPENSPIEL[move]] += p
            moves = state.legal_actions()
        for move in moves:
            child = state.clone()
            child.apply(move)
            walk(child)

    walk(KuhnPoker().new_initial_state())
    assert set(seen) == set(table.state_lookup)  # all 12 information states
    return table


@pytest.mark.parametrize("alpha", ALPHAS)
def test_nash_policy_agrees_with_openspiel(alpha: float) -> None:
    game = pyspiel.load_game("kuhn_poker")
    nash = _tabular({0: KuhnNash(alpha=alpha), 1: KuhnNash(alpha=alpha)})
    assert exploitability.exploitability(game, nash) < 1e-9
    root = game.new_initial_state()
    value = expected_game_score.policy_value(root, [nash, nash])
    assert value == pytest.approx([NASH_VALUE, -NASH_VALUE], abs=1e-12)
    uniform = os_policy.UniformRandomPolicy(game)
    first, second = _vs_uniform_by_seat(alpha)
    assert expected_game_score.policy_value(root, [nash, uniform])[0] == pytest.approx(first, abs=1e-12)
    assert expected_game_score.policy_value(root, [uniform, nash])[1] == pytest.approx(second, abs=1e-12)


def test_openspiel_exploitability_sees_non_nash_policies() -> None:
    game = pyspiel.load_game("kuhn_poker")
    always_bet = _tabular({0: KuhnAlwaysBet(), 1: KuhnAlwaysBet()})
    assert exploitability.exploitability(game, always_bet) > 0.1
    assert exploitability.exploitability(game, os_policy.UniformRandomPolicy(game)) > 0.1


# --- (b) statistical: through the text env ----------------------------------------------------------
def _play(env, seats, seed: int) -> dict[str, tuple[float, dict]]:
    """One episode with ``seats[i]`` playing ``player_i``, to the end (dead steps included).

    Returns each agent's total reward (summed from ``last()``, the AEC way) and its final metrics.
    """
    env.reset(seed=seed)
    index = {a: i for i, a in enumerate(env.possible_agents)}
    totals = dict.fromkeys(env.possible_agents, 0.0)
    metrics: dict[str, dict] = {}
    while env.agents:
        agent = env.agent_selection
        obs, reward, terminated, truncated, info = env.last()
        totals[agent] += reward
        if terminated or truncated:
            metrics[agent] = info.get(METRICS, {})
            env.step(None)
        else:
            env.step(seats[index[agent]].act([(obs, info)])[0])
    return {a: (totals[a], metrics[a]) for a in env.possible_agents}


@pytest.mark.parametrize("alpha", sorted(NASH_VS_UNIFORM))
def test_nash_beats_random_in_the_text_env(alpha: float) -> None:
    env = gym_reason.make("kuhn_poker")
    nash = make_agent(f"fixed:nash:alpha={alpha}", env, seed=11)
    rand = make_agent("random", env, seed=12)
    chips = []
    for game in range(10_000):
        seat = game % 2  # the Nash agent's seat alternates
        seats = [nash, rand] if seat == 0 else [rand, nash]
        result = _play(env, seats, seed=1_000_000 * (alpha > 0) + game)
        reward, metrics = result[f"player_{seat}"]
        assert metrics == {"chips": reward} and reward in (-2.0, -1.0, 1.0, 2.0)
        chips.append(reward)
    n = len(chips)
    mean = sum(chips) / n
    sd = math.sqrt(sum((c - mean) ** 2 for c in chips) / (n - 1))
    half = 2.5758 * sd / math.sqrt(n)  # 99% normal interval
    exact = float(NASH_VS_UNIFORM[alpha])
    assert mean - half > 0, (mean, half)
    assert mean - half <= exact <= mean + half, (mean, half, exact)


# --- (c) TicTacToe ----------------------------------------------------------------------------------
def _outcomes(state, policy, player: int) -> set[float]:
    """``player``'s reachable returns when it follows ``policy`` and its opponent may play anything."""
    if state.is_terminal():
        return {state.returns()[player]}
    mover = state.current_player()
    if mover == player:
        moves = [m for m, p in policy(state, mover).items() if p > 0]
    else:
        moves = state.legal_actions()
    out: set[float] = set()
    for move in moves:
        child = state.clone()
        child.apply(move)
        out |= _outcomes(child, policy, player)
    return out


@pytest.mark.parametrize("player", [0, 1])
def test_minimax_never_loses_against_any_opponent(player: int) -> None:
    """Exhaustive: every move of the minimax support against every legal reply."""
    outcomes = _outcomes(TicTacToe().new_initial_state(), scripted_policy(TicTacToeMinimax()), player)
    assert min(outcomes) == 0.0
    assert 1.0 in outcomes  # it does punish mistakes


def test_minimax_self_play_is_always_a_draw_exactly() -> None:
    minimax = scripted_policy(TicTacToeMinimax())
    assert _outcomes_both(TicTacToe().new_initial_state(), minimax) == {0.0}
    assert expected_returns(TicTacToe(), [minimax, minimax]) == [0.0, 0.0]


def _outcomes_both(state, policy) -> set[float]:
    """Player 0's reachable returns when both players follow ``policy``."""
    if state.is_terminal():
        return {state.returns()[0]}
    out: set[float] = set()
    for move, p in policy(state, state.current_player()).items():
        if p > 0:
            child = state.clone()
            child.apply(move)
            out |= _outcomes_both(child, policy)
    return out


def _tally(spec_a: str, spec_b: str, games: int, seed: int) -> Counter:
    """Outcomes for ``spec_a`` ("win"/"draw"/"loss") over ``games`` games, seats alternating."""
    env = gym_reason.make("tic_tac_toe")
    a = make_agent(spec_a, env, seed=seed)
    b = make_agent(spec_b, env, seed=seed + 1)
    tally: Counter = Counter()
    for game in range(games):
        seat = game % 2
        result = _play(env, [a, b] if seat == 0 else [b, a], seed=seed + game)
        reward = result[f"player_{seat}"][0]
        tally["win" if reward > 0 else "loss" if reward < 0 else "draw"] += 1
    return tally


def test_minimax_never_loses_to_random() -> None:
    tally = _tally("fixed:minimax", "random", 1_000, seed=100)
    assert tally["loss"] == 0, tally
    assert tally["win"] > 800, tally


def test_minimax_always_draws_against_itself() -> None:
    assert _tally("fixed:minimax", "fixed:minimax", 100, seed=200) == Counter(draw=100)


def test_heuristic_beats_random_most_of_the_time() -> None:
    tally = _tally("fixed:heuristic", "random", 1_000, seed=300)
    assert tally["win"] > 700, tally
    assert tally["loss"] < 100, tally


def test_heuristic_policy_wins_then_blocks() -> None:
    heuristic = TicTacToeOnePly()
    # x to move can win at 2 and must otherwise block o at 5: winning comes first.
    assert heuristic.policy({"board": "xx.oo....", "mark": "x"}, []) == {"2": 1.0}
    assert heuristic.policy({"board": "x...oo..x", "mark": "x"}, []) == {"3": 1.0}
    assert heuristic.policy({"board": ".........", "mark": "x"}, []) == {"4": 1.0}


# --- (d) bad specs ----------------------------------------------------------------------------------
def test_unknown_fixed_opponent_lists_the_valid_names() -> None:
    env = gym_reason.make("kuhn_poker")
    with pytest.raises(ValueError, match="nope") as err:
        make_agent("fixed:nope", env)
    for name in ("fixed:nash", "fixed:always_bet", "fixed:always_check"):
        assert name in str(err.value)
    with pytest.raises(ValueError, match="fixed:minimax") as err:
        make_agent("fixed:nash", gym_reason.make("tic_tac_toe"))
    assert "fixed:heuristic" in str(err.value)


def test_nash_alpha_out_of_range_names_the_range() -> None:
    env = gym_reason.make("kuhn_poker")
    for alpha in ("0.9", "-0.1", "0.34"):
        with pytest.raises(ValueError, match=r"\[0, 1/3\]"):
            make_agent(f"fixed:nash:alpha={alpha}", env)
    assert make_agent("fixed:nash:alpha=0.3333", env).alpha == 0.3333
    with pytest.raises(ValueError, match="beta"):
        make_agent("fixed:nash:beta=0.1", env)
    with pytest.raises(ValueError, match="key=value"):
        make_agent("fixed:nash:alpha", env)
