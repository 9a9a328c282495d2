"""The README's examples are real: the code in it runs and does what it says."""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium
import pytest

import gym_reason
from gym_reason import registry
from gym_reason.checker import check_env
from tests.sandbox_guard import require_sandbox

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks(section: str) -> list[str]:
    text = README.read_text()
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start : end if end != -1 else None], flags=re.S)


@pytest.fixture
def readme_envs():
    yield
    for env_id in ("my_games/Nim-v0", "my_tasks/GuessNumber-v0"):
        if env_id in {s.id for s in registry.list_envs()}:
            registry.deregister(env_id)


def test_add_your_own_environment_blocks_run_and_pass_the_checker(readme_envs):
    blocks = _python_blocks("Add your own environment")
    assert len(blocks) == 2, "the section should hold one game and one task"
    for block in blocks:
        assert len(block.strip().splitlines()) <= 60
        exec(compile(block, str(README), "exec"), {"__name__": "readme_example"})
    nim = check_env("my_games/Nim-v0")
    assert nim.ok, str(nim)
    task = check_env("my_tasks/GuessNumber-v0")
    assert task.ok, str(task)
    for report in (nim, task):  # both declare an action grammar (the game by itself), and their parsers agree
        assert any(r.name.startswith("action grammar") and r.passed for r in report.results), str(report)
    # The game plays by its rules: taking the last stone wins.
    env = gym_reason.make("nim", stones=3)
    env.reset(seed=0)
    env.step("[3]")
    assert env.rewards == {"player_0": 1.0, "player_1": -1.0}
    # The task is in Gymnasium's registry too, and is solvable by bisection.
    task_env = gymnasium.make("my_tasks/GuessNumber-v0")
    obs, info = task_env.reset(seed=3)
    lo, hi = 1, 100
    for _ in range(8):
        guess = (lo + hi) // 2
        obs, reward, terminated, _truncated, info = task_env.step(f"I say [{guess}]")
        if terminated:
            break
        lo, hi = (guess + 1, hi) if obs == "Higher." else (lo, guess - 1)
    assert terminated and reward == 1.0 and info["outcome"] == "win"


def test_tour_python_example_runs():
    (block,) = _python_blocks("Tour")
    exec(compile(block, str(README), "exec"), {"__name__": "readme_tour"})


def test_readme_shows_the_committed_kuhn_leaderboard():
    """The ratings table in the README is the one in leaderboards/kuhn_poker.md, which its JSON produced."""
    from gym_reason.eval.leaderboard import read_leaderboard, render_markdown

    root = README.parent
    board = read_leaderboard(root / "leaderboards" / "kuhn_poker.json")
    markdown = (root / "leaderboards" / "kuhn_poker.md").read_text()
    assert render_markdown(board) == markdown
    table = [line for line in markdown.split("\n\n")[2].splitlines() if line.startswith("|")]
    assert len(table) == 2 + len(board.rows)
    assert "\n".join(table) in README.read_text()
    assert any(row.name.startswith("leaderboards/agents/kuhn_poker/") for row in board.rows)


def test_sandboxes_example_runs(capsys):
    require_sandbox("bwrap")
    (block,) = _python_blocks("Sandboxes")
    exec(compile(block, str(README), "exec"), {"__name__": "readme_example"})
    assert capsys.readouterr().out.split() == ["2432902008176640000", "True"]
