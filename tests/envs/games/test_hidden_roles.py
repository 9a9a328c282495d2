"""Hidden Roles: the rules (deal, secret votes and cards, rejections, assassination, team returns), what each
role knows, the text env, the bots against random play with intervals, and self-play through the grammar."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import torch

import gym_reason
from gym_reason import grammar as grammar_engine
from gym_reason.agents import make_agent, strongest_fixed_agent
from gym_reason.core import ACTION_GRAMMAR, GAME_OBSERVATION, INVALID_ACTION, LEGAL_ACTIONS, ROLE
from gym_reason.envs.games.base import CHANCE, TERMINAL, resolve_chance
from gym_reason.envs.games.hidden_roles.bots import hidden_probabilities, likely_seer
from gym_reason.envs.games.hidden_roles.rules import (
    HIDDEN,
    LOYAL,
    MAX_PROPOSALS,
    ROLES,
    HiddenRoles,
    deals,
    fails_needed,
)
from gym_reason.eval.teams import team_evaluation


def _dealt(roles: str, **kwargs) -> object:
    state = HiddenRoles(num_players=len(roles), **kwargs).new_initial_state()
    assert state.current_player() == CHANCE
    state.apply(roles)
    return state


def _vote_all(state, move: str) -> None:
    for _ in range(state._game.num_players):
        state.apply(move)


def test_deal_covers_every_arrangement_uniformly():
    for n, hidden in ((5, 2), (6, 2), (7, 3)):
        every = deals(n)
        assert len(every) == len(set(every))
        assert all(d.count("a") == 1 and d.count("s") == 1 and d.count("a") + d.count("m") == hidden for d in every)
        outcomes = HiddenRoles(num_players=n).new_initial_state().chance_outcomes()
        assert {o for o, _ in outcomes} == set(every)
        assert sum(p for _, p in outcomes) == pytest.approx(1.0)
    assert len(deals(5)) == 10 * 2 * 3 and len(deals(7)) == 35 * 3 * 4


def test_what_each_role_knows():
    state = _dealt("svamv")  # 0 seer, 1 servant, 2 assassin, 3 minion, 4 servant
    seer, servant, assassin, minion = (state.observation(p) for p in range(4))
    assert seer["known_hidden"] == (2, 3) and seer["assassin"] is None
    assert servant["known_hidden"] is None and "hidden=" not in state.information_state(1)
    assert assassin["known_hidden"] == (2, 3) and assassin["assassin"] == 2 and minion["assassin"] == 2
    assert [state.role(p) for p in range(5)] == ["seer", "servant", "assassin", "minion", "servant"]
    # A servant's view and information state are the same whatever the others were dealt.
    servant_deals = [d for d in deals(5) if d[1] == "v"]
    assert len({(_dealt(d).information_state(1), repr(_dealt(d).observation(1))) for d in servant_deals}) == 1
    # The seer's, for deals with the same hidden team, whatever the assassin is.
    assert _dealt("svamv").information_state(0) == _dealt("svmav").information_state(0)
    assert _dealt("svamv").information_state(2) != _dealt("svmav").information_state(2)


def test_votes_are_secret_until_all_are_cast_and_mission_cards_stay_secret():
    state = _dealt("svamv", chat_length=0)
    state.apply("team: 0, 2")
    before = state.information_state(1)
    state.apply("approve")  # player 0's vote
    after = state.information_state(1)
    assert "approve" not in after.replace(before.split("\n")[-1], "")  # only whose turn it is changed
    assert "my vote: approve" in state.information_state(0)
    for _ in range(4):
        state.apply("approve")
    assert "votes on team: 0, 2: 0 approve, 1 approve" in state.information_state(1)
    assert "my vote" not in state.information_state(0)  # public now, no private copy left
    assert state.current_player() == 0 and state.legal_actions() == ["success"]  # loyal: success only
    state.apply("success")
    assert state.legal_actions() == ["success", "fail"]
    state.apply("fail")
    assert "1 fail(s); failed" in state.information_state(1)
    assert "my card on mission 1: fail" in state.information_state(2)
    assert "fail" not in "".join(state.observation(1)["private"])  # nobody else sees whose card failed


def test_five_rejections_win_for_the_hidden_team():
    state = _dealt("svamv", chat_length=0)
    for k in range(MAX_PROPOSALS):
        assert state.observation(0)["leader"] == k % 5
        state.apply(state.legal_actions()[0])
        _vote_all(state, "reject")
    assert state.is_terminal() and state.current_player() == TERMINAL
    assert state.returns() == [-1.0, -1.0, 1.0, 1.0, -1.0]
    assert state.winner() == HIDDEN


def _play_missions(state, teams_and_cards):
    for team, cards in teams_and_cards:
        state.apply(team)
        _vote_all(state, "approve")
        for card in cards:
            state.apply(card)


@pytest.mark.parametrize(("target", "winner"), [(0, HIDDEN), (1, LOYAL)])
def test_three_successes_then_the_assassin_names_a_player(target, winner):
    state = _dealt("svamv", chat_length=0)
    _play_missions(state, [("team: 0, 1", ["success"] * 2), ("team: 0, 1, 4", ["success"] * 3)])
    _play_missions(state, [("team: 1, 4", ["success"] * 2)])
    assert state.current_player() == 2 and state.legal_actions() == [
        "assassinate: 0",
        "assassinate: 1",
        "assassinate: 4",
    ]
    assert state.parse_move(" Assassinate player 0. ") == "assassinate: 0"
    state.apply(f"assassinate: {target}")
    assert state.winner() == winner
    expected = 1.0 if winner == LOYAL else -1.0
    assert state.returns() == [expected, expected, -expected, -expected, expected]
    assert "roles: 0 seer, 1 servant, 2 assassin, 3 minion, 4 servant" in state.information_state(4)


def test_seven_players_need_two_fails_on_the_fourth_mission():
    assert [fails_needed(7, m) for m in range(5)] == [1, 1, 1, 2, 1]
    state = _dealt("svvvamm", chat_length=0)  # hidden: 4 (assassin), 5, 6
    _play_missions(state, [("team: 0, 1", ["success"] * 2), ("team: 0, 1, 4", ["success", "success", "fail"])])
    _play_missions(state, [("team: 0, 1, 5", ["success", "success", "fail"])])
    _play_missions(state, [("team: 0, 1, 2, 4", ["success"] * 3 + ["fail"])])  # one fail is not enough
    assert state.observation(0)["missions"][-1] == {"team": (0, 1, 2, 4), "fails": 1, "success": True}


def test_parsing_discussion_and_the_length_cap():
    state = _dealt("svamv", chat_length=20)
    state.apply("team: 0, 1")
    assert state.parse_move("say:   I   trust   player 1  ") == "say: I trust player 1"
    assert state.parse_move("say: " + "x" * 50) == "say: " + "x" * 20
    assert state.parse_move("say:") is None and state.parse_move("approve") is None
    state.apply("say: hello")
    assert "0 says: hello" in state.information_state(3)
    probe = _dealt("svamv", chat_length=0)
    assert probe.parse_move("team 3 and 0") == "team: 0, 3" and probe.parse_move("team: 0, 0") is None
    assert probe.parse_move("team: 0, 1, 2") is None and probe.parse_move("team: 0, 7") is None


def test_random_messages_are_canonical_under_a_short_cap():
    game = HiddenRoles(num_players=7, chat_length=5)
    state = game.new_initial_state()
    resolve_chance(state, random.Random(0))
    state.apply("team: 0, 1")
    rng = random.Random(1)
    for _ in range(20):
        move = game.random_move(state.observation(state.current_player()), rng)
        assert state.parse_move(move) == move and len(move) <= len("say: ") + 5


def test_the_grammar_bounds_messages_and_agrees_with_the_parser():
    env = gym_reason.make("hidden_roles", chat_length=40)
    env.reset(seed=1)
    assert LEGAL_ACTIONS not in env.infos["player_0"]  # a game with talk lists no moves, it states a grammar
    env.step("[team: 0, 1]")
    info = env.infos[env.agent_selection]
    grammar = info[ACTION_GRAMMAR]
    assert grammar_engine.accepts(grammar, "[say: I trust player 1]")
    assert not grammar_engine.accepts(grammar, "[say: " + " ".join(["word"] * 12) + "]")  # over 40 characters
    assert not grammar_engine.accepts(grammar, "[say: a]b]") and not grammar_engine.accepts(grammar, "[approve]")
    rng = random.Random(0)
    for text in grammar_engine.sample(grammar, rng, 20, stop=0.02):
        assert len(text.replace(" ", "")) <= 40 + len("[say:]")
        fork = gym_reason.make("hidden_roles", chat_length=40)
        fork.reset(seed=1)
        fork.step("[team: 0, 1]")
        fork.step(text)
        assert fork.infos["player_0"][INVALID_ACTION] is False
    listed = gym_reason.make("hidden_roles", chat_length=0)
    listed.reset(seed=1)
    assert listed.infos["player_0"][LEGAL_ACTIONS][:2] == ["[team: 0, 1]", "[team: 0, 2]"]


def test_info_role_is_the_dealt_role_and_the_env_is_deterministic():
    def transcript(seed: int) -> list[str]:
        env = gym_reason.make("hidden_roles")
        agent = make_agent("random", env, seed=seed)
        env.reset(seed=seed)
        out, roles = [], {}
        for name in env.agent_iter():
            obs, _r, term, trunc, info = env.last()
            if term or trunc:
                env.step(None)
                continue
            roles[name] = info[ROLE]
            action = agent.act([(obs, info)])[0]
            out += [obs, action]
            env.step(action)
            assert info[INVALID_ACTION] is False
        assert sorted(Counter(roles.values()).items()) == [("assassin", 1), ("minion", 1), ("seer", 1), ("servant", 2)]
        return out

    assert transcript(5) == transcript(5) and transcript(5) != transcript(6)


def test_loyal_belief_and_the_assassins_guess():
    view = {"player": 0, "num_players": 5, "hidden_count": 2, "known_hidden": None,
            "missions": ({"team": (0, 1), "fails": 1, "success": False},)}  # fmt: skip
    probs = hidden_probabilities(view)
    assert probs[0] == 0 and probs[1] == pytest.approx(1.0)  # I am loyal, so player 1 failed it
    assert sum(probs) == pytest.approx(2.0) and probs[2] == probs[3] == probs[4]
    votes = ({"team": (0, 2), "approvals": (True, True, True, False, False)},  # 4 rejected the hidden team
             {"team": (0, 1), "approvals": (True, True, True, True, True)})  # fmt: skip
    assert likely_seer({"num_players": 5, "known_hidden": (2, 3), "votes": votes}) == 4


def test_strongest_bot_is_the_rule_bot():
    env = gym_reason.make("hidden_roles")
    assert strongest_fixed_agent("hidden_roles") == "fixed:rules"
    env.reset(seed=0)
    bot = make_agent("fixed:rules", env, seed=0)
    assert bot.act([env.last()[0::4]])[0].startswith("[team: ")
    assert GAME_OBSERVATION in env.infos[env.agent_selection]


def test_rule_bots_beat_random_on_each_team_with_intervals():
    games = 60
    baseline = team_evaluation("hidden_roles", loyal="random", hidden="random", games=games, seed=0)
    hidden = team_evaluation("hidden_roles", loyal="random", hidden="fixed:rules", games=games, seed=0)
    assert hidden.hidden.interval[0] > baseline.hidden.interval[1]
    assert hidden.invalid_moves == baseline.invalid_moves == 0 and hidden.failed == 0
    assert 0 < baseline.identified.rate < 1 and baseline.identified.games > games


@pytest.mark.slow
def test_loyal_rule_bots_beat_random_with_intervals():
    baseline = team_evaluation("hidden_roles", loyal="random", hidden="random", games=300, seed=0)
    loyal = team_evaluation("hidden_roles", loyal="fixed:rules", hidden="random", games=300, seed=0)
    assert loyal.loyal.interval[0] > baseline.loyal.interval[1]
    assert loyal.identified.interval[0] > baseline.identified.interval[1]  # loyal votes catch the hidden team


@pytest.mark.slow  # ~30 s on one core
def test_tiny_model_self_play_through_the_grammar_has_no_invalid_moves_and_role_baselines():
    from gym_reason.eval.engine import EpisodeRequest
    from gym_reason.policy.tiny import tiny_policy
    from gym_reason.trainer.advantages import role_conditioned_advantages
    from gym_reason.trainer.rollout import play_episodes

    torch.manual_seed(0)
    policy = tiny_policy(seed=0, context=96, layers=1, dim=32)
    env_id = "gym_reason/HiddenRoles-v0"
    requests = [EpisodeRequest(env_id, gym_reason.make(env_id, chat_length=0), seed=s) for s in range(2)]
    episodes = play_episodes(policy, requests, torch.Generator().manual_seed(0))
    assert all(e.error is None for e in episodes)
    turns = [t for e in episodes for t in e.turns]
    assert turns and not any(t.invalid for t in turns)
    roles = {t.role for t in turns}
    assert roles <= set(ROLES) and len(roles) >= 3, roles
    # Credit goes per seat (two servants share a role, not a return), baselines per (env, role).
    from gym_reason.trainer.credit import agent_turns

    sequences = agent_turns(episodes)
    assert all(len({t.agent for t in seq}) == 1 for _, seq in sequences)
    keys = [(t.env_id, t.role) for _, seq in sequences for t in seq]
    returns = [e.returns[seq[0].agent] for e, seq in sequences for _ in seq]
    _, baselines = role_conditioned_advantages(keys, returns, {}, decay=0.5)
    assert {role for _, role in baselines} == roles
    loyal = [baselines[env_id, r] for r in ("seer", "servant") if (env_id, r) in baselines]
    hidden = [baselines[env_id, r] for r in ("assassin", "minion") if (env_id, r) in baselines]
    # Team zero-sum: every loyal role's baseline has the opposite sign of every hidden role's (or is 0).
    assert all(x * y <= 0 for x in loyal for y in hidden)


def test_bad_arguments_name_the_valid_values():
    with pytest.raises(ValueError, match=r"num_players must be one of \[5, 6, 7\]"):
        HiddenRoles(num_players=4)
    with pytest.raises(ValueError, match="chat_length"):
        HiddenRoles(chat_length=-1)
    state = _dealt("svamv")
    with pytest.raises(ValueError, match="not a legal canonical move"):
        state.apply("approve")
    rng = random.Random(0)
    state = HiddenRoles().new_initial_state()
    resolve_chance(state, rng)
    assert state.current_player() == 0


def test_credit_splits_turns_per_seat_when_seats_share_a_role():
    """Two servants share the role (one RAE baseline) but not a return: their turns are two sequences."""
    from gym_reason.eval.engine import Episode, Turn
    from gym_reason.trainer.credit import agent_turns

    turns = [Turn("hr", "servant", None, agent="player_1"), Turn("hr", "servant", None, agent="player_4"),
             Turn("hr", "seer", None, agent="player_0"), Turn("hr", "servant", None, agent="player_1")]  # fmt: skip
    episode = Episode(0, ["policy"] * 5, [1.0] * 5, [None] * 5, [0] * 5, [0] * 5, [None] * 5, turns=turns)
    sequences = [[t.agent for t in seq] for _, seq in agent_turns([episode])]
    assert sorted(sequences) == [["player_0"], ["player_1", "player_1"], ["player_4"]]
