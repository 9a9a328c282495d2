"""End-to-end tests of the command line, in subprocesses, plus a third-party plugin."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.sandbox_guard import sandbox_missing

CLI = [sys.executable, "-m", "gym_reason.cli"]


def run(*args: str, stdin: str = "", env: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, timeout=timeout, env=env or os.environ.copy()
    )


def test_list_shows_every_builtin_env():
    out = run("list")
    assert out.returncode == 0, out.stderr
    for needle in ("gym_reason/KuhnPoker-v0", "kuhn_poker", "tic_tac_toe", "simple_negotiation", "textarena/<id>"):
        assert needle in out.stdout
    assert "gym-reason[textarena]" in out.stdout  # brackets in a description are text, not rich markup


def test_check_one():
    out = run("check", "gym_reason/KuhnPoker-v0")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PASS" in out.stdout and "FAIL" not in out.stdout


@pytest.mark.slow  # ~16 s: every registered env (the default suite checks each env in tests/test_checker.py)
def test_check_all():
    # The MiniWoB envs run in Chromium (tens of seconds each): the browser tests check them one by one.
    out = run("check", "--all", "--exclude", "gym_reason/MiniWoB-*", "--episodes", "5")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "MiniWoB" not in out.stdout and "gym_reason/WebShop-v0: PASS" in out.stdout
    summary = re.search(r"^(\d+) of (\d+) envs pass(?:, (\d+) unavailable \((.+)\))?$", out.stdout, re.MULTILINE)
    assert summary and int(summary[1]) + int(summary[3] or 0) == int(summary[2]), out.stdout
    if summary[3]:  # envs whose sandbox is missing here (tests/test_checker.py checks how they are reported)
        sandbox_missing("bwrap", summary[4])


def test_check_exclude_needs_all_and_a_pattern_that_matches():
    out = run("check", "--all", "--exclude", "gym_reason/MiniWob-*")
    assert out.returncode == 2 and "matches no registered env" in out.stderr and "MiniWoB-*" in out.stderr
    out = run("check", "kuhn_poker", "--exclude", "gym_reason/MiniWoB-*")
    assert out.returncode == 2 and "--exclude goes with --all" in out.stderr


def test_check_unknown_id_is_a_clear_error():
    out = run("check", "gym_reason/KuhnPokr-v0")
    assert out.returncode != 0 and "gym_reason/KuhnPoker-v0" in out.stderr


def test_play_bots_tally():
    out = run("play", "--game", "tic_tac_toe", "--players", "fixed:minimax,random", "--games", "100", "--seed", "0")
    assert out.returncode == 0, out.stderr
    row = next(line for line in out.stdout.splitlines() if "fixed:minimax" in line)
    cells = [c.strip() for c in row.split("│") if c.strip()]
    games, wins, losses = int(cells[1]), int(cells[2]), int(cells[3])
    assert games == 100 and losses == 0 and wins >= 80


def test_play_human_against_nash_with_piped_stdin():
    # Seed 0 deals the human (player 0) a King: bet, and the final view shows the result.
    out = run("play", "--game", "kuhn_poker", "--players", "human,fixed:nash", "--seed", "0", stdin="bet\n")
    assert out.returncode == 0, out.stderr
    assert "Your card: King" in out.stdout
    assert "Your legal moves: [check], [bet]." in out.stdout
    assert "The game is over. Your result:" in out.stdout


def test_play_human_input_ending_early_is_a_clear_error():
    out = run("play", "--game", "tic_tac_toe", "--players", "human,random", stdin="[4]\n")
    assert out.returncode != 0 and "stdin closed" in out.stderr


def test_play_bad_specs_are_clear_errors():
    out = run("play", "--game", "kuhn_poker", "--players", "fixed:minimax,random")
    assert out.returncode != 0 and "fixed:nash" in out.stderr
    out = run("play", "--game", "kuhn_poker", "--players", "random")
    assert out.returncode != 0 and "2 seats" in out.stderr
    out = run("play", "--game", "kuhn_pokr", "--players", "random,random")
    assert out.returncode != 0 and "kuhn_poker" in out.stderr


PLUGIN = textwrap.dedent(
    '''
    """A third-party game: race to 10 by adding 1 or 2; reaching 10 wins."""
    import gym_reason
    from gym_reason.envs.game_env import GameEnv
    from gym_reason.envs.games.base import TERMINAL, Game, State


    class RaceState(State):
        __slots__ = ("player", "total", "winner")

        def __init__(self):
            self.total, self.player, self.winner = 0, 0, -1

        def current_player(self): return self.player
        def legal_actions(self): return ["1", "2"] if self.player >= 0 else []
        def is_terminal(self): return self.player == TERMINAL
        def returns(self): return [0.0, 0.0] if self.winner < 0 else [1.0 - 2.0 * (p != self.winner) for p in (0, 1)]
        def observation(self, player): return {"total": self.total}
        def information_state(self, player): return f"{self.total}:{self.player}"

        def apply(self, move):
            self.total += int(move)
            self.winner, self.player = (self.player, TERMINAL) if self.total >= 10 else (-1, 1 - self.player)

        def clone(self):
            other = RaceState()
            other.total, other.player, other.winner = self.total, self.player, self.winner
            return other


    class Race(Game):
        name = "race_to_ten"
        max_game_length = 10
        def new_initial_state(self): return RaceState()


    class RaceTemplate:
        def rules(self, game, player): return f"Player {player}: add 1 or 2; whoever reaches 10 wins."
        def state(self, view): return f"Total: {view['total']}."


    def register_all():
        gym_reason.register(id="thirdparty/RaceToTen-v0", entry_point=GameEnv.factory(Race, RaceTemplate),
                            alias="race_to_ten", description="third-party plugin game")
    '''
)


@pytest.fixture
def plugin_path(tmp_path: Path) -> dict:
    """A package that is importable and declares a gym_reason.envs entry point, installed nowhere."""
    (tmp_path / "race_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "race_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: race-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[gym_reason.envs]\nrace = race_plugin:register_all\n")
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    return env


def test_third_party_plugin_appears_in_list_and_passes_check(plugin_path):
    out = run("list", env=plugin_path)
    assert out.returncode == 0, out.stderr
    assert "thirdparty/RaceToTen-v0" in out.stdout and "race_to_ten" in out.stdout
    out = run("check", "thirdparty/RaceToTen-v0", env=plugin_path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "PASS" in out.stdout
    out = run("play", "--game", "race_to_ten", "--players", "random,random", "--games", "20", env=plugin_path)
    assert out.returncode == 0, out.stderr
    # Without the plugin on the path the id is unknown.
    assert run("check", "thirdparty/RaceToTen-v0").returncode != 0


def test_play_textarena_env_with_humans():
    out = run("play", "--game", "textarena/ConnectFour-v0", "--players", "human,human", stdin="[col 3]\n" * 40)
    assert out.returncode == 0, out.stderr
    assert "ConnectFour" in out.stdout or "Connect" in out.stdout


def test_play_boxed_format_and_spiral_rule():
    from tests.agents.openai_server import Reply, ScriptedServer

    out = run("play", "--game", "kuhn_poker", "--players", "human,random", "--answer-format", "boxed",
              stdin="no answer\ncheck\n")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "\\boxed{check}" in out.stdout and "'no answer' is not a legal move here" in out.stdout
    # A human is asked again after an illegal answer; a model's unparsable answer is the invalid move scored
    # by the SPIRAL rule: offender -1.5.
    with ScriptedServer() as server:
        server.default = Reply(content="no answer")
        out = run("play", "--game", "kuhn_poker", "--players", f"openai:m@{server.url},random",
                  "--answer-format", "boxed", "--invalid-move", "spiral")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "-1.500" in out.stdout and "\\boxed{" in server.requests[0].user_message


def test_every_command_prints_its_help(capsys):
    """In process (a subprocess per command would cost seconds each). A help text with a bare % (a config
    field's description said "~4%") made argparse raise TypeError in `selfplay --help` and `train --help`."""
    import argparse

    from gym_reason.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert {"selfplay", "train", "eval", "check", "play"} <= set(sub.choices)
    for name in sub.choices:
        with pytest.raises(SystemExit) as done:
            parser.parse_args([name, "--help"])
        assert done.value.code == 0, name
        assert "usage:" in capsys.readouterr().out, name
