"""The registry: ids, aliases, kwargs errors, Gymnasium registration."""

from __future__ import annotations

import gymnasium
import pytest

import gym_reason
from gym_reason import registry
from gym_reason.envs.game_env import GameEnv


def test_builtin_envs_are_registered_with_aliases():
    ids = {s.id: s for s in gym_reason.list_envs()}
    for env_id, alias in [
        ("gym_reason/KuhnPoker-v0", "kuhn_poker"),
        ("gym_reason/TicTacToe-v0", "tic_tac_toe"),
        ("gym_reason/SimpleNegotiation-v0", "simple_negotiation"),
    ]:
        assert ids[env_id].alias == alias
        assert ids[env_id].kind == "game" and ids[env_id].players == 2
        assert isinstance(gym_reason.make(alias), GameEnv)
        assert registry.resolve_id(alias) == env_id


def test_unknown_id_lists_close_matches():
    with pytest.raises(KeyError) as err:
        gym_reason.make("gym_reason/KuhnPokr-v0")
    assert "gym_reason/KuhnPoker-v0" in str(err.value) and "gym-reason list" in str(err.value)
    with pytest.raises(KeyError) as err:
        gym_reason.make("gym_reason/KuhnPoker")
    assert "'gym_reason/KuhnPoker-v0'" in str(err.value)
    with pytest.raises(KeyError, match="kuhn_poker"):
        gym_reason.make("Kuhn_Poker")


def test_bad_kwargs_name_the_valid_ones():
    with pytest.raises(TypeError) as err:
        gym_reason.make("kuhn_poker", num_hand=3)
    message = str(err.value)
    assert "num_hand" in message and "num_hands" in message and "answer_format" in message
    with pytest.raises(ValueError, match="bracket"):
        gym_reason.make("kuhn_poker", answer_format="xml")
    with pytest.raises(ValueError, match="spiral"):
        gym_reason.make("kuhn_poker", invalid_move="harsh")
    with pytest.raises(ValueError, match="num_hands"):
        gym_reason.make("kuhn_poker", num_hands=0)


def test_register_rejects_unversioned_duplicate_and_ambiguous():
    factory = GameEnv.factory
    from gym_reason.envs.games.tic_tac_toe.rules import TicTacToe
    from gym_reason.envs.games.tic_tac_toe.template import TicTacToeTemplate

    with pytest.raises(ValueError, match="versioned"):
        registry.register("my/Thing", factory(TicTacToe, TicTacToeTemplate))
    with pytest.raises(ValueError, match="already registered"):
        registry.register("gym_reason/TicTacToe-v0", factory(TicTacToe, TicTacToeTemplate))
    with pytest.raises(ValueError, match="already taken"):
        registry.register("my/Thing-v0", factory(TicTacToe, TicTacToeTemplate), alias="kuhn_poker")
    with pytest.raises(ValueError, match="kind="):
        registry.register("my/Thing-v0", lambda: None)
    assert "my/Thing-v0" not in {s.id for s in gym_reason.list_envs()}


class _Echo(gymnasium.Env):
    def __init__(self, word: str = "hi"):
        self.word = word
        self.observation_space = self.action_space = gym_reason.core.text_space()

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        return self.word, {}

    def step(self, action):
        return self.word, 0.0, True, False, {}


def test_single_agent_envs_are_registered_in_gymnasium_too():
    spec = registry.register("test_ns/Echo-v0", _Echo, kwargs={"word": "hello"}, alias="echo_test")
    try:
        assert spec.kind == "task" and spec.players == 1
        assert gymnasium.make("test_ns/Echo-v0").reset()[0] == "hello"
        assert gym_reason.make("echo_test", word="bye").reset()[0] == "bye"
    finally:
        registry.deregister("test_ns/Echo-v0")
    assert "test_ns/Echo-v0" not in gymnasium.registry
    with pytest.raises(KeyError):
        gym_reason.make("echo_test")


def test_every_task_with_a_split_declares_its_splits_so_evaluation_plays_the_held_out_one():
    """An env that takes ``split`` exposes ``splits`` (the contract in gym_reason.core); `gym-reason eval` and the
    trainer's evaluation build such an env on ``split="test"``. ToolUse, KGNav, TextToSQL, TwentyQuestions and
    WebShop took ``split`` without ``splits``, so both evaluated them on the training split. The classes are read,
    not built (the code envs' constructors start a sandbox)."""
    import inspect

    from gym_reason.eval.evaluation import held_out_kwargs

    def takes_split(factory) -> bool:  # through **kwargs to the base class that names it (ToolUseEnv, TextToSQLEnv)
        inits = [c.__init__ for c in factory.__mro__] if isinstance(factory, type) else [factory]
        return any("split" in inspect.signature(init).parameters for init in inits if init is not object.__init__)

    checked = []
    for spec in registry.list_envs():
        factory = spec.load()
        if spec.kind != "task" or not takes_split(factory):
            continue
        checked.append(spec.id)
        assert "test" in getattr(factory, "splits", ()), spec.id
        assert held_out_kwargs(factory, {}) == {"split": "test"}, spec.id
    expected = {"ToolUse-v0", "KGNav-v0", "TextToSQL-v0", "TwentyQuestionsEasy-v0", "WebShop-v0", "CodeTests-v0"}
    assert {f"gym_reason/{name}" for name in expected} <= set(checked)
