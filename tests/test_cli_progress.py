"""Progress displays: self-play's bar and eval/tournament's games line fit 80 columns with their fields;
piped output gets compact periodic lines; the episode engine and the OpenAI agent feed the counters."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
import time
from typing import Any

from rich.cells import cell_len
from rich.console import Console

import gym_reason
from gym_reason.agents import make_agent
from gym_reason.eval.engine import Episode, Seating, labelled_requests, play_episodes
from gym_reason.progress import GamesProgress, SelfPlayProgress

CLI = [sys.executable, "-m", "gym_reason.cli"]


def terminal() -> Console:
    """An 80-column terminal."""
    return Console(width=80, force_terminal=True, color_system="truecolor", file=io.StringIO())


def rendered_lines(progress: Any) -> list[str]:
    """The live line(s) of a rich progress display as an 80-column terminal shows them now."""
    screen = Console(width=80, force_terminal=True, color_system="truecolor", record=True, file=io.StringIO())
    screen.print(progress.get_renderable())
    return [line for line in screen.export_text(styles=False).splitlines() if line.strip()]


def metrics_after_evaluation(step: int) -> dict[str, Any]:
    """What the training loop reports at an evaluation step of Kuhn Poker (the keys that overflowed before)."""
    out: dict[str, Any] = {"step": step, "games_per_s": 215.4, "tokens_per_s": 14059.0, "invalid_rate": 0.0}
    for opponent, rate in (("random", 0.652), ("fixed:nash", 0.594)):
        for key, value in (("win_rate", rate), ("mean_reward", 0.1), ("invalid_rate", 0.0)):
            out[f"eval/KuhnPoker-v0/{opponent}/{key}"] = value
    out["eval/KuhnPoker-v0/exploitability"] = 0.3334
    return out


def test_selfplay_bar_fits_80_columns_with_its_fields() -> None:
    console = terminal()
    with SelfPlayProgress(console, 1500, "gym_reason/KuhnPoker-v0") as progress:
        for step in range(1, 26):
            metrics = metrics_after_evaluation(step) if step == 25 else {"step": step, "games_per_s": 215.4}
            progress.update(step, metrics)
            time.sleep(0.01)
        lines = rendered_lines(progress.progress)
    assert lines and all(cell_len(line) <= 80 for line in lines), lines
    last = lines[-1]
    for field in ("25/1500", "ETA", "215 games/s", "expl 0.333", "0:00:0"):
        assert field in last, last
    assert "━" in last  # the bar itself


def test_selfplay_headline_without_exploitability_is_the_win_rate_against_the_last_opponent() -> None:
    console = terminal()
    metrics = {
        "games_per_s": 90.0,
        "eval/TicTacToe-v0/random/win_rate": 0.9,
        "eval/TicTacToe-v0/fixed:minimax/win_rate": 0.0,
    }
    with SelfPlayProgress(console, 200, "gym_reason/TicTacToe-v0") as progress:
        progress.update(1, metrics)
        assert "minimax win 0.00" in rendered_lines(progress.progress)[-1]


def test_selfplay_piped_prints_compact_periodic_lines() -> None:
    out = io.StringIO()
    console = Console(file=out, width=160, force_terminal=False)
    progress = SelfPlayProgress(console, 100, "gym_reason/KuhnPoker-v0", interval=3600)
    with progress:
        for step in range(1, 11):
            progress.update(step, metrics_after_evaluation(step) if step == 5 else {"games_per_s": 300.0})
    lines = out.getvalue().splitlines()
    # the first step, the evaluation at step 5; nothing else within the interval
    assert [line.split()[1] for line in lines] == ["1/100", "5/100"], lines
    assert "300 games/s" in lines[0] and "ETA" in lines[0] and "expl 0.333" in lines[1]
    assert all(len(line) <= 80 for line in lines)


def test_piped_selfplay_shows_games_per_second(tmp_path) -> None:
    done = subprocess.run(
        [*CLI, "selfplay", "--game", "kuhn_poker", "--steps", "3", "--eval-every", "2", "--games-per-step", "16",
         "--eval-games", "16", "--run-dir", str(tmp_path / "runs")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("step ")]
    assert [line.split()[1] for line in lines] == ["1/3", "2/3", "3/3"], done.stdout
    assert all(re.search(r"\d+ games/s", line) and "ETA" in line and len(line) <= 80 for line in lines), lines
    assert "expl " in lines[1]


class _Agent:
    """A stand-in agent exposing the counters an OpenAI agent has."""

    name = "fake"

    def __init__(self) -> None:
        self.requests_in_flight = 8
        self.stats = {"completion_tokens": 1200}


def _record(seats: list[str]) -> Episode:
    return Episode(0, seats, [0.0, 0.0], [None, None], [0, 0], [1, 1], [None, 7])


def test_games_progress_fits_80_columns_and_shows_the_counters() -> None:
    console = terminal()
    agents = {"a": _Agent(), "b": make_agent("random", gym_reason.make("kuhn_poker"), seed=0)}
    with GamesProgress(console, "eval") as progress:
        progress.start(1024, agents)
        for _ in range(12):
            progress.game_done(_record(["a", "b"]))
            time.sleep(0.01)
        lines = rendered_lines(progress.progress)
    assert lines and all(cell_len(line) <= 80 for line in lines), lines
    for field in ("eval", "12/1024", "ETA", "8 req", "tok/s"):
        assert field in lines[-1], lines[-1]
    # tokens: the live agent's counter (1200) plus, for the agent without one, what its records report (12 x 7)
    assert progress.tokens() == 1200 + 12 * 7


def test_games_progress_piped_prints_a_line_every_interval() -> None:
    out = io.StringIO()
    console = Console(file=out, width=160, force_terminal=False)
    with GamesProgress(console, "tournament", interval=0.05) as progress:
        progress.start(10, {"a": _Agent()})
        for _ in range(3):
            progress.game_done(_record(["a", "a"]))
        time.sleep(0.3)
    line = out.getvalue().splitlines()[-1]
    assert line.startswith("tournament: 3/10 games, 8 requests in flight, ") and "tok/s" in line and "ETA" in line


def test_games_progress_is_quiet_for_short_piped_runs() -> None:
    out = io.StringIO()
    with GamesProgress(Console(file=out, force_terminal=False), "eval", interval=10) as progress:
        progress.start(2, {})
        progress.game_done(_record(["a", "b"]))
        progress.game_done(_record(["a", "b"]))
    assert out.getvalue() == ""


class _Recorder:
    def __init__(self) -> None:
        self.started: tuple[int, list[str]] | None = None
        self.done = 0

    def start(self, total: int, agents: Any) -> None:
        self.started = (total, sorted(agents))

    def game_done(self, record: Episode) -> None:
        self.done += 1


def test_run_games_and_evaluate_report_progress() -> None:
    from gym_reason.eval.evaluation import play_matchups

    env = gym_reason.make("kuhn_poker")
    agents = {"r": make_agent("random", env, seed=1), "n": make_agent("fixed:nash", env, seed=2)}
    recorder = _Recorder()
    requests = labelled_requests([Seating(s, ("r", "n")) for s in range(5)], agents)
    play_episodes(requests, make_env=lambda: gym_reason.make("kuhn_poker"), concurrency=2, progress=recorder)
    assert recorder.started == (5, ["n", "r"]) and recorder.done == 5
    recorder = _Recorder()
    play_matchups(lambda: gym_reason.make("kuhn_poker"), [("r", "n")], agents, 2, 6, 0, paired=True, concurrency=4,
                  progress=recorder)  # fmt: skip
    assert recorder.started == (6, ["n", "r"]) and recorder.done == 6


def test_openai_agent_counts_requests_in_flight() -> None:
    from gym_reason.agents.openai_agent import OpenAIAgent
    from tests.agents.openai_server import Reply, ScriptedServer

    with ScriptedServer() as server:
        server.default = Reply(content="[bet]", delay=0.5)
        agent = OpenAIAgent("m", server.url, max_concurrency=4)
        seen: list[int] = []
        worker = threading.Thread(target=lambda: agent.act([("obs", {})] * 6))
        worker.start()
        while worker.is_alive():
            seen.append(agent.requests_in_flight)
            time.sleep(0.02)
        worker.join()
        agent.close()
    assert max(seen) == 4 and agent.requests_in_flight == 0
    assert agent.stats["completion_tokens"] > 0
