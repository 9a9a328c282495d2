"""What the CLI shows while a long command runs: self-play training, and games of eval/tournament/leaderboard.

Both displays fit an 80-column terminal: one live line (a rich progress bar) when the
stream is a terminal, and a compact plain line every ``interval`` seconds when it is
piped to a file or another program. Everything else a run measures goes to its log
(``metrics.jsonl`` for self-play, the results file for evaluations).

* :class:`SelfPlayProgress` (stdout, the job's own output): bar, step/total, elapsed, ETA,
  games/s and one headline metric, the first game's exact exploitability when it has one,
  else its win rate against the last evaluation opponent (the strongest bot by default).
* :class:`GamesProgress` (stderr, so that stdout holds only the results): games done/total,
  the agents' requests in flight (agents that expose ``requests_in_flight``, as the OpenAI
  agent does), completion tokens/s (agents that report tokens), elapsed and ETA. Piped, it
  stays quiet for runs shorter than one interval.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column
from rich.text import Text

INTERVAL = 10.0
"""Seconds between two plain progress lines when the output is piped."""


def clock(seconds: float | None) -> str:
    """``H:MM:SS``, as rich's time columns write it; ``-:--:--`` when unknown.

    >>> clock(3725.4), clock(None)
    ('1:02:05', '-:--:--')
    """
    if seconds is None:
        return "-:--:--"
    seconds = int(max(seconds, 0.0))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def eta(elapsed: float, done: int, total: int) -> float | None:
    """Seconds left at the average pace so far; ``None`` before anything is done.

    >>> eta(10.0, 5, 20)
    30.0
    """
    return elapsed / done * (total - done) if done > 0 else None


def _bar_width(console: Console, fixed: int) -> int:
    """The bar takes what the other columns leave of the terminal's width (at least 8 cells)."""
    return max(8, min(40, console.width - fixed))


def _text_column(template: str) -> TextColumn:
    return TextColumn(template, table_column=Column(no_wrap=True, overflow="ellipsis"))


def headline(metrics: Mapping[str, float], game: str) -> str:
    """The one evaluation number the live line shows for ``game`` (an env name such as ``KuhnPoker-v0``).

    >>> headline({"eval/KuhnPoker-v0/exploitability": 0.3333, "eval/KuhnPoker-v0/random/win_rate": 0.6}, "KuhnPoker-v0")
    'expl 0.333'
    >>> headline({"eval/TicTacToe-v0/random/win_rate": 0.9, "eval/TicTacToe-v0/fixed:minimax/win_rate": 0.0},
    ...          "TicTacToe-v0")
    'minimax win 0.00'
    >>> headline({}, "TicTacToe-v0")
    ''
    """
    exploitability = metrics.get(f"eval/{game}/exploitability")
    if exploitability is not None:
        return f"expl {exploitability:.3f}"
    prefix = f"eval/{game}/"
    rates = [(k[len(prefix) : -len("/win_rate")], v) for k, v in metrics.items()
             if k.startswith(prefix) and k.endswith("/win_rate")]  # fmt: skip
    if not rates:
        return ""
    opponent, rate = rates[-1]  # the last listed opponent: the strongest bot by default
    return f"{opponent.removeprefix('fixed:')[:12]} win {rate:.2f}"


class SelfPlayProgress:
    """Self-play's display; ``update(step, metrics)`` is :func:`~gym_reason.trainer.loop.train`'s ``on_step``.

    On a terminal: ``━━━━━━  215/1500 0:01:02 ETA 0:05:10 212 games/s expl 0.333`` (rich, within the
    console's width). Piped: the same fields as plain text at the first step, every ``interval``
    seconds, after each evaluation and at the last step.
    """

    def __init__(self, console: Console, steps: int, game: str, *, enabled: bool = True,
                 interval: float = INTERVAL) -> None:  # fmt: skip
        self.console = console
        self.total = steps
        self.game = game.rpartition("/")[2]
        self.enabled = enabled
        self.interval = interval
        self.live = enabled and console.is_terminal
        self.evals: dict[str, float] = {}
        self.started = time.monotonic()
        self.first_step: int | None = None
        self.last_line = -float("inf")
        self.progress = Progress(
            BarColumn(bar_width=_bar_width(console, 62)), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), _text_column("{task.fields[rate]}"),
            _text_column("{task.fields[headline]}"), console=console, disable=not self.live,
        )  # fmt: skip
        self.task = self.progress.add_task("selfplay", total=steps, rate="", headline="")

    def __enter__(self) -> SelfPlayProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.progress.__exit__(*exc)

    def update(self, step: int, metrics: Mapping[str, Any]) -> None:
        now = time.monotonic()
        if self.first_step is None:  # a resumed run: the pace counts from its first new step
            self.first_step, self.started = step - 1, now - float(metrics.get("step_time", 0.0))
        evaluated = any(k.startswith("eval/") for k in metrics)
        self.evals.update({k: v for k, v in metrics.items() if k.startswith("eval/")})
        rate = f"{metrics.get('games_per_s', 0.0):.0f} games/s"
        top = headline(self.evals, self.game)
        self.progress.update(self.task, completed=step, rate=rate, headline=top)
        if not self.enabled or self.live:
            return
        if step == self.first_step + 1 or evaluated or step >= self.total or now - self.last_line >= self.interval:
            self.last_line = now
            elapsed = now - self.started
            left = eta(elapsed, step - self.first_step, self.total - self.first_step)
            self.console.print(
                f"step {step}/{self.total} {clock(elapsed)} ETA {clock(left)} {rate}" + (f" {top}" if top else ""),
                markup=False,
            )


class _Counters(ProgressColumn):
    """The live part of :class:`GamesProgress`'s line, read from the agents at every refresh."""

    def __init__(self, progress: GamesProgress) -> None:
        super().__init__(table_column=Column(no_wrap=True, overflow="ellipsis"))
        self.owner = progress

    def render(self, task: Task) -> Text:
        return Text(self.owner.counters())


class GamesProgress:
    """Progress of many games (``eval``, ``tournament``, ``leaderboard``): the ``progress`` hook of
    :func:`~gym_reason.eval.engine.play_episodes`.

    On a terminal: ``eval ━━━━━━  12/1024 0:01:02 ETA 1:10:00 8 req 153 tok/s``, refreshed live (also
    while an agent call is running). Piped: ``eval: 12/1024 games, 8 requests in flight, 153 tok/s,
    0:01:02 elapsed, ETA 1:10:00`` every ``interval`` seconds from the first interval on.
    """

    def __init__(self, console: Console, label: str, *, interval: float = INTERVAL) -> None:
        self.console = console
        self.label = label
        self.interval = interval
        self.live = console.is_terminal
        self.total = 0
        self.done = 0
        self.agents: list[Any] = []
        self._labels: dict[str, Any] = {}
        self.record_tokens = 0
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.progress = Progress(
            _text_column(label), BarColumn(bar_width=_bar_width(console, 62)), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), _Counters(self),
            console=console, disable=not self.live, transient=True,
        )  # fmt: skip
        self.task = self.progress.add_task(label, total=None)

    # --- the hook ------------------------------------------------------------------------------------
    def start(self, total: int, agents: Mapping[str, Any]) -> None:
        self.total, self.done, self.started = total, 0, time.monotonic()
        self.agents = list({id(a): a for a in agents.values()}.values())
        self._labels = {label: agent for label, agent in agents.items()}
        self.progress.reset(self.task, total=total)

    def game_done(self, record: Any) -> None:
        self.done += 1
        for label, tokens in zip(record.seats, record.tokens, strict=True):
            if tokens is not None and self._live_tokens(self._labels.get(label)) is None:
                self.record_tokens += tokens
        self.progress.update(self.task, completed=self.done)

    # --- what is shown --------------------------------------------------------------------------------
    @staticmethod
    def _live_tokens(agent: Any) -> int | None:
        stats = getattr(agent, "stats", None)
        return stats.get("completion_tokens") if isinstance(stats, dict) else None

    def in_flight(self) -> int | None:
        counts = [getattr(a, "requests_in_flight", None) for a in self.agents]
        counts = [c for c in counts if isinstance(c, int)]
        return sum(counts) if counts else None

    def tokens(self) -> int:
        live = [self._live_tokens(a) for a in self.agents]
        return self.record_tokens + sum(t for t in live if t is not None)

    def counters(self, long: bool = False) -> str:
        parts = []
        requests = self.in_flight()
        if requests is not None:
            parts.append(f"{requests} requests in flight" if long else f"{requests} req")
        tokens = self.tokens()
        if tokens:
            parts.append(f"{tokens / max(time.monotonic() - self.started, 1e-9):.0f} tok/s")
        return (", " if long else " ").join(parts)

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        parts = [f"{self.label}: {self.done}/{self.total} games", self.counters(long=True),
                 f"{clock(elapsed)} elapsed", f"ETA {clock(eta(elapsed, self.done, self.total))}"]  # fmt: skip
        return ", ".join(p for p in parts if p)

    # --- the periodic plain line when piped ----------------------------------------------------------
    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            self.console.print(self.line(), markup=False, highlight=False)

    def __enter__(self) -> GamesProgress:
        self.progress.__enter__()
        if not self.live:
            self._thread = threading.Thread(target=self._tick, name="games-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.progress.__exit__(*exc)
