"""A game is one folder and one register line: discovery, bots declared with the game, no upward imports."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from typing import Any

import pytest

import gym_reason
import gym_reason.envs.games
from gym_reason import registry
from gym_reason.agents import fixed_agent_names, make_agent, strongest_fixed_agent
from gym_reason.envs.game_env import GameEnv
from gym_reason.envs.games.bots import ScriptedAgent, declare_bots, game_bots
from gym_reason.envs.games.tic_tac_toe.rules import TicTacToe
from gym_reason.envs.games.tic_tac_toe.template import TicTacToeTemplate


def _registered_game_modules() -> set[str]:
    """The game folder of every registered env made by ``GameEnv.factory``."""
    folders = set()
    for spec in gym_reason.list_envs():
        game_class = getattr(spec.load(), "game_class", None) if spec.kind == "game" else None
        if game_class is not None:
            folders.add(game_class.__module__.rsplit(".", 1)[0])
    return folders


def test_every_game_folder_is_registered_without_a_list():
    folders = {
        f"gym_reason.envs.games.{m.name}" for m in pkgutil.iter_modules(gym_reason.envs.games.__path__) if m.ispkg
    }
    assert {"gym_reason.envs.games.kuhn_poker", "gym_reason.envs.games.tic_tac_toe"} <= folders
    assert folders <= _registered_game_modules()


def test_every_folder_holds_rules_template_and_bots():
    for m in pkgutil.iter_modules(gym_reason.envs.games.__path__):
        if m.ispkg:
            package = sys.modules[f"gym_reason.envs.games.{m.name}"]
            files = {f.name for f in pkgutil.iter_modules(package.__path__)}
            assert {"rules", "template", "bots"} <= files, (m.name, files)


def test_the_envs_never_import_the_agents():
    code = (
        "import sys, gym_reason, gym_reason.envs.games.bots; gym_reason.make('kuhn_poker');"
        "bad = sorted(m for m in sys.modules if m.startswith(('gym_reason.agents', 'gym_reason.trainer')));"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


class _TakeCentreFirst(ScriptedAgent):
    name = "fixed:centre"

    def policy(self, view: dict[str, Any], legal: list[str]) -> dict[str, float]:
        return {"4": 1.0} if "4" in legal else dict.fromkeys(legal, 1 / len(legal))


class _OtherGame(TicTacToe):
    name = "tic_tac_toe_test_variant"


def test_a_new_game_declares_its_bots_in_its_register_line():
    factory = GameEnv.factory(_OtherGame, TicTacToeTemplate, bots={"centre": _TakeCentreFirst}, strongest_bot="centre")
    registry.register("test_games/TicTacToeVariant-v0", factory)
    try:
        env = gym_reason.make("test_games/TicTacToeVariant-v0")
        assert fixed_agent_names("tic_tac_toe_test_variant") == ["centre"]
        assert strongest_fixed_agent("tic_tac_toe_test_variant") == "fixed:centre"
        env.reset(seed=0)
        obs, _, _, _, info = env.last()
        assert make_agent("fixed:centre", env, seed=0).act([(obs, info)]) == ["[4]"]
        with pytest.raises(ValueError, match=r"unknown fixed opponent 'center'.*Did you mean fixed:centre"):
            make_agent("fixed:center", env)
    finally:
        registry.deregister("test_games/TicTacToeVariant-v0")


def test_declare_bots_rejects_bad_declarations_with_the_fix():
    with pytest.raises(ValueError, match="snake_case"):
        declare_bots("some_game", {"Nash-Bot": _TakeCentreFirst})
    with pytest.raises(ValueError, match="not among its bots"):
        declare_bots("some_game", {"a": _TakeCentreFirst}, strongest="b")
    with pytest.raises(ValueError, match="class or factory"):
        declare_bots("some_game", {"a": 3})
    with pytest.raises(ValueError, match="already has a bot named 'minimax'"):
        declare_bots("tic_tac_toe", {"minimax": _TakeCentreFirst})
    with pytest.raises(ValueError, match="declares no bots="):
        GameEnv.factory(TicTacToe, TicTacToeTemplate, strongest_bot="minimax")
    declare_bots("tic_tac_toe", {"minimax": game_bots("tic_tac_toe")["minimax"]})  # the same bot again: fine
    assert game_bots("some_game") == {}
