"""GameEnv bookkeeping that the transcripts pin but do not spell out: reward components, set_state, memos."""

from __future__ import annotations

import gc
import math

import gym_reason
from gym_reason.checker import check_env
from gym_reason.core import GAME_OBSERVATION, LEGAL_ACTIONS, REWARD_COMPONENTS, STATE_KEY, InvalidMoveRule
from gym_reason.envs.games.kuhn_poker.rules import KuhnPoker

RETRY = InvalidMoveRule(offender=-1.0, other=0.0, ends_game=False)


def _components_match_rewards(env) -> None:
    for agent, info in env.infos.items():
        if REWARD_COMPONENTS in info:
            assert math.isclose(sum(info[REWARD_COMPONENTS].values()), env.rewards[agent]), (agent, info, env.rewards)


def test_reward_components_name_only_the_reward_of_the_latest_answer() -> None:
    env = gym_reason.make("tic_tac_toe", invalid_move=RETRY)
    env.reset(seed=0)
    env.step("no move here")
    assert env.rewards["player_0"] == -1.0
    assert env.infos["player_0"][REWARD_COMPONENTS] == {"invalid_move": -1.0}
    env.step("[4]")  # a valid answer earns nothing, so nothing is named
    assert env.rewards["player_0"] == 0.0 and REWARD_COMPONENTS not in env.infos["player_0"]
    _components_match_rewards(env)
    moves = iter(("[0]", "[1]", "[2]", "[6]", "[7]", "[8]", "[3]", "[5]"))
    for _agent in env.agent_iter():
        _obs, _reward, terminated, truncated, _info = env.last()
        env.step(None if terminated or truncated else next(moves))
        _components_match_rewards(env)


def test_truncation_right_after_an_invalid_answer_keeps_that_answers_components() -> None:
    env = gym_reason.make("tic_tac_toe", invalid_move=RETRY, max_turns=1)
    env.reset(seed=0)
    env.step("[nine]")
    assert env.truncations == {"player_0": True, "player_1": True}
    assert env.rewards == {"player_0": -1.0, "player_1": 0.0}
    assert env.infos["player_0"][REWARD_COMPONENTS] == {"invalid_move": -1.0, "truncated": 0.0}
    assert env.infos["player_1"][REWARD_COMPONENTS] == {"truncated": 0.0}


def test_the_checker_passes_envs_with_the_retry_rule() -> None:
    report = check_env(lambda: gym_reason.make("tic_tac_toe", invalid_move=RETRY, max_turns=5), episodes=20)
    assert report.ok, str(report)


def _second_to_act(card0: str, card1: str):
    state = KuhnPoker().new_initial_state()
    state.apply(card0 + card1)
    state.apply("check")
    return state


def test_set_state_shows_only_the_mover_its_moves_and_leaves_the_random_stream_alone() -> None:
    analysed, untouched = gym_reason.make("kuhn_poker"), gym_reason.make("kuhn_poker")
    analysed.reset(seed=5)
    untouched.reset(seed=5)
    analysed.set_state(_second_to_act("K", "Q"))
    assert analysed.agent_selection == "player_1"
    assert analysed.infos["player_1"][LEGAL_ACTIONS] == ["[check]", "[bet]"]
    assert analysed.infos["player_1"][STATE_KEY] == "1p"
    stale = {LEGAL_ACTIONS, GAME_OBSERVATION, STATE_KEY} & set(analysed.infos["player_0"])
    assert not stale, analysed.infos["player_0"]
    for _ in range(5):  # the deals after set_state are those of an env that never called it
        analysed.reset()
        untouched.reset()
        assert analysed.infos["player_0"][STATE_KEY] == untouched.infos["player_0"][STATE_KEY]
        assert analysed.infos["player_1"] == untouched.infos["player_1"]


def test_changing_the_legal_moves_in_info_leaves_the_env_alone() -> None:
    env = gym_reason.make("kuhn_poker")
    env.reset(seed=0)
    env.last()[4][LEGAL_ACTIONS].clear()  # an agent striking moves off its own list
    env.reset(seed=0)
    assert env.last()[4][LEGAL_ACTIONS] == ["[check]", "[bet]"]


def test_envs_made_with_equal_arguments_render_each_view_once(monkeypatch) -> None:
    from gym_reason.envs.games.kuhn_poker.template import KuhnPokerTemplate

    rendered = []
    original = KuhnPokerTemplate.state
    monkeypatch.setattr(KuhnPokerTemplate, "state", lambda self, view: rendered.append(1) or original(self, view))

    def play(env, seed):
        env.reset(seed=seed)
        for _agent in env.agent_iter():
            obs, _reward, terminated, truncated, info = env.last()
            env.step(None if terminated or truncated else info[LEGAL_ACTIONS][0])
        return obs

    first, second = gym_reason.make("kuhn_poker", num_hands=2), gym_reason.make("kuhn_poker", num_hands=2)
    assert play(first, 11) == play(first, 11)  # warm: the memo now holds this game's views
    count = len(rendered)
    assert play(second, 11) == play(first, 11) and len(rendered) == count  # another env, no new renders
    del first, second
    gc.collect()
    play(gym_reason.make("kuhn_poker", num_hands=2), 11)
    assert len(rendered) > count  # the memo went with the last env that held it
    # Other arguments, other views: neither env sees the other's text.
    boxed = gym_reason.make("kuhn_poker", num_hands=2, answer_format="boxed")
    boxed.reset(seed=11)
    assert "\\boxed{check}" in boxed.last()[0] and "[check]" not in boxed.last()[0]
