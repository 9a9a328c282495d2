"""The CLI's error convention, in subprocesses: every usage or input error is one line
``error: ...`` on stderr (naming the bad value, the valid options and the fix) and exit status 2;
nothing succeeds vacuously; a failed selfplay start leaves no run folder; human players are re-asked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-m", "gym_reason.cli"]


def run(*args: str, cwd: Path | None = None, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, timeout=300, cwd=cwd, env=env or os.environ.copy()
    )


def error_line(done: subprocess.CompletedProcess, output: bool = False) -> str:
    """The one error line of a failed command, after checking the convention (``output``: the command
    printed its normal output, e.g. a game, before it failed)."""
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert output or done.stdout == "", done.stdout  # errors never go to stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        # no vacuous success: counts must be at least 1
        (
            ("play", "--game", "kuhn_poker", "--players", "random,random", "--games", "-3"),
            ["--games", "at least 1", "-3"],
        ),
        (("check", "kuhn_poker", "--episodes", "0"), ["--episodes", "at least 1", "got 0"]),
        (("eval", "--agent", "random", "--game", "kuhn_poker", "--games", "0"), ["--games", "at least 1"]),
        (("eval", "--agent", "random", "--game", "kuhn_poker", "--concurrency", "0"), ["--concurrency", "at least 1"]),
        (("tournament", "--game", "kuhn_poker", "--pool", "random,fixed:nash", "--games", "0"), ["--games"]),
        (("leaderboard", "--game", "kuhn_poker", "--games", "-1"), ["--games", "at least 1"]),
        # the flag and its valid range, not an internal name
        (
            ("eval", "--agent", "random", "--game", "kuhn_poker", "--confidence", "1.5"),
            ["--confidence", "between 0 and 1", "1.5", "0.95"],
        ),
        # did-you-mean for subcommands, choices and agent specs
        (("slefplay",), ["'slefplay'", "did you mean selfplay"]),
        (("eval", "--agent", "random", "--game", "kuhn_poker", "--ci", "boot"), ["did you mean bootstrap"]),
        (
            ("eval", "--agent", "random", "--game", "kuhn_poker", "--opponents", "randm"),
            ["'randm'", "did you mean random", "hf:PATH", "openai:MODEL@URL", "ckpt:PATH", "runs/<run-id>"],
        ),
        (("play", "--game", "kuhn_poker", "--players", "randm,random"), ["did you mean random"]),
        # errors that were printed to stderr with status 1, or to stdout with status 2
        (("play", "--game", "kuhn_pokr", "--players", "random,random"), ["'kuhn_pokr'", "kuhn_poker"]),
        (("check", "gym_reason/KuhnPokr-v0"), ["gym_reason/KuhnPoker-v0"]),
        (("eval", "--agent", "fixed:nsh", "--game", "kuhn_poker"), ["unknown fixed opponent 'nsh'", "fixed:nash"]),
        (("play", "--game", "kuhn_poker", "--players", "random,random", "--env-arg", "num_hands"), ["key=value"]),
        (
            ("play", "--game", "kuhn_poker", "--players", "random,random", "--env-arg", "weights={success: 2}"),
            ["weights={success: 2}", "read as JSON", "Expecting property name", 'weights={"success": 2}'],
        ),
        (("--import", "no_such_module_xyz", "list"), ["no_such_module_xyz", "PYTHONPATH"]),
        # a server that is not there, under play (a traceback before)
        (("play", "--game", "kuhn_poker", "--players", "openai:m@http://127.0.0.1:9/v1,random"), ["127.0.0.1:9"]),
    ],
)
def test_usage_errors_are_one_line_on_stderr_with_status_2(tmp_path, args, needles) -> None:
    line = error_line(run(*args, cwd=tmp_path))
    for needle in needles:
        assert needle in line, line


def test_unknown_flags_get_a_did_you_mean(tmp_path) -> None:
    line = error_line(run("selfplay", "--num-steps", "3", cwd=tmp_path))
    assert "--num-steps" in line and "did you mean --steps" in line and "'3'" not in line
    line = error_line(run("play", "--game", "kuhn_poker", "--plyers", "random,random", "--gamez=3", cwd=tmp_path))
    assert "did you mean --players" in line and "unknown flag --gamez; did you mean --game or --games" in line


def test_selfplay_input_errors(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps: 3\nlr: [1\ngames: kuhn_poker\n")
    line = error_line(run("selfplay", "--config", str(bad), cwd=tmp_path))
    assert f"{bad}:3:6:" in line and "expected ',' or ']'" in line  # file:line:column and the problem, one line
    line = error_line(run("selfplay", "--steps", "0", "--games-per-step", "-2", cwd=tmp_path))
    assert "steps (--steps)" in line and "games_per_step (--games-per-step)" in line and "'-2'" in line


def test_a_failed_selfplay_start_leaves_no_run_folder(tmp_path) -> None:
    line = error_line(run("selfplay", "--model", str(tmp_path / "nonexistent"), "--steps", "2", cwd=tmp_path))
    assert "nonexistent" in line
    line = error_line(run("selfplay", "--steps", "2", "--env-args", "{kuhn_poker: {bogus: 1}}", cwd=tmp_path))
    assert "bogus" in line and "num_hands" in line  # the env's valid arguments
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_human_is_asked_again_after_an_illegal_move(tmp_path) -> None:
    # Seed 0 deals the human (player 0, acting first) a King; 'call' and '[raise]' are not legal there.
    done = run("play", "--game", "kuhn_poker", "--players", "human,fixed:nash", "--seed", "0",
               stdin="call\n[raise]\nBet\n", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "'call' is not a legal move here; legal: check, bet." in done.stdout
    assert "'[raise]' is not a legal move here" in done.stdout
    assert "Moves this hand: bet," in done.stdout  # 'Bet' was taken as [bet]
    table = next(line for line in done.stdout.splitlines() if line.startswith("│ human"))
    assert [c.strip() for c in table.split("│")][2:9] == ["1", "1", "0", "0", "0", "0", "0"]  # won, no forfeit
    # Input that ends while the human is being re-asked is a clean error.
    done = run("play", "--game", "kuhn_poker", "--players", "human,fixed:nash", stdin="call\n", cwd=tmp_path)
    assert "stdin closed" in error_line(done, output=True) and "error" not in done.stdout


NIM_MODULE = "my_games"


@pytest.fixture
def nim_module(tmp_path: Path) -> Path:
    """The README's Nim block saved as my_games.py in a fresh folder (the user's working directory)."""
    import re

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index("## Add your own environment")
    section = readme[start : readme.find("\n## ", start + 1)]
    block = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    assert 'id="my_games/Nim-v0"' in block
    # the commands the README gives for it, which the test below runs
    assert "`gym-reason check my_games:my_games/Nim-v0`" in section and "--import my_games" in section
    (tmp_path / f"{NIM_MODULE}.py").write_text(block)
    return tmp_path


def test_an_env_from_the_users_own_module(nim_module) -> None:
    done = run("check", "my_games:my_games/Nim-v0", "--episodes", "3", cwd=nim_module)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "my_games/Nim-v0: PASS" in done.stdout
    done = run("--import", "my_games", "check", "my_games/Nim-v0", "--episodes", "3", cwd=nim_module)
    assert done.returncode == 0 and "my_games/Nim-v0: PASS" in done.stdout, done.stdout + done.stderr
    done = run("play", "--game", "nim", "--players", "random,random", "--games", "4", "--import", "my_games",
               cwd=nim_module)  # fmt: skip
    assert done.returncode == 0 and "│ random (seat 0) │ 4" in done.stdout, done.stdout + done.stderr
    # Without the module the id is unknown, and the error says how to bring the module in.
    line = error_line(run("check", "my_games/Nim-v0", cwd=nim_module))
    assert "'my_games:my_games/Nim-v0'" in line and "--import my_games" in line
    line = error_line(run("check", "no_module_here:my_games/Nim-v0", cwd=nim_module))
    assert "no_module_here" in line and "PYTHONPATH" in line


def test_leaderboard_and_tournament_refuse_to_replace_a_board_without_force(tmp_path) -> None:
    # A copy of the committed board where `leaderboard` writes by default (leaderboards/ under the working
    # directory), so that a regression overwrites the copy, not the repository's board.
    committed = Path(__file__).resolve().parents[1] / "leaderboards" / "kuhn_poker.json"
    (tmp_path / "leaderboards").mkdir()
    copy = tmp_path / "leaderboards" / "kuhn_poker.json"
    copy.write_bytes(committed.read_bytes())
    line = error_line(run("leaderboard", "--game", "kuhn_poker", "--games", "2", cwd=tmp_path))
    assert "leaderboards/kuhn_poker.json" in line and "--force" in line and "--dir" in line
    assert copy.read_bytes() == committed.read_bytes()
    pool = ("--pool", "random,fixed:nash", "--games", "2", "--dir", "leaderboards")
    line = error_line(run("tournament", "--game", "kuhn_poker", *pool, cwd=tmp_path))
    assert "leaderboards/kuhn_poker.json" in line and "--force" in line
    done = run("tournament", "--game", "kuhn_poker", *pool, "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert copy.read_bytes() != committed.read_bytes() and (tmp_path / "leaderboards" / "kuhn_poker.md").exists()


def _interruptible() -> None:
    """Ctrl-C reaches the child even where pytest runs as a background job (``cmd &`` in a script), which
    starts with SIGINT ignored: Python then installs no KeyboardInterrupt handler and the child plays on."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_during_an_evaluation_exits_130_without_a_traceback(tmp_path) -> None:
    import time

    from tests.agents.openai_server import Reply, ScriptedServer

    with ScriptedServer() as server:
        server.default = Reply(content="[bet]", delay=3.0)
        proc = subprocess.Popen(
            [*CLI, "eval", "--agent", f"openai:m@{server.url}", "--game", "kuhn_poker", "--opponents", "random",
             "--games", "8"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
            preexec_fn=_interruptible,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert stderr.strip().splitlines()[-1] == "interrupted" and "Traceback" not in stderr
