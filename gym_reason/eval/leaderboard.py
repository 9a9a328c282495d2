"""Leaderboards: a tournament's ratings with everything needed to trust and reproduce them.

A :class:`Leaderboard` holds the ratings table (:mod:`gym_reason.eval.ratings`),
the pairwise win-rate matrix, the raw pair results and the provenance (agent
specs, games per pair, seed, command line). :func:`write_leaderboard` writes it
as three files named after the game:

- ``<name>.json``: the source of truth; :func:`read_leaderboard` reads it back;
- ``<name>.md``: :func:`render_markdown`'s tables, for people and pull requests;
- ``<name>.png``: the Bradley–Terry ratings with their 95% intervals.

Every file is written to a temporary file first and moved into place, so a
reader never sees half a leaderboard.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from gym_reason.eval.ratings import PairResult, RatingMethod, RatingRow, Ratings, win_rate_matrix

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def package_version() -> str:
    """gym-reason's version: ``gym_reason.__version__``, else the installed distribution's."""
    import gym_reason

    version = getattr(gym_reason, "__version__", None)
    if version is None:
        from importlib.metadata import version as distribution_version

        version = distribution_version("gym-reason")
    return str(version)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


class Leaderboard(BaseModel):
    """One game's ratings table and what it was computed from.

    ``rows`` are sorted by rank (best Bradley–Terry rating first);
    ``win_rates[row][column]`` is the score rate of ``row`` against ``column``
    (``None`` on the diagonal and for pairs that never played), in rank order.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    game: str
    """The env id, e.g. ``gym_reason/KuhnPoker-v0``."""
    name: str
    """The file-name-safe stem of the written files, e.g. the alias ``kuhn_poker``."""
    title: str
    created: datetime = Field(default_factory=_now)
    version: str = Field(default_factory=package_version)
    provenance: dict[str, JsonValue] = Field(default_factory=dict)
    """How the tournament was run: agent specs, games per pair, seed, command line."""
    method: RatingMethod
    rows: list[RatingRow]
    win_rates: dict[str, dict[str, float | None]]
    results: list[PairResult]
    exploitability: dict[str, float | None] = Field(default_factory=dict)
    """Exact exploitability (NashConv / 2, what a best response wins per game) of each agent, for games
    whose tree is walked in full (:mod:`gym_reason.eval.agent_policy`); ``None`` for an agent that cannot
    report its move probabilities (a served model); empty for other games. Beside the ratings it says how
    much a best response takes from an agent, not only how it fares against this pool."""

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not _SAFE_NAME.fullmatch(name) or ".." in name:
            raise ValueError(
                f"leaderboard name {name!r} is not a safe file name; use letters, digits, '_', '-' and '.', "
                "starting with a letter or digit, e.g. the env's alias 'kuhn_poker'"
            )
        return name


def file_name_for(game: str) -> str:
    """A file-name-safe stem for an env id: runs of other characters become ``_``.

    >>> file_name_for("gym_reason/KuhnPoker-v0")
    'gym_reason_KuhnPoker-v0'
    """
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", game).strip("_.-")
    if not name:
        raise ValueError(f"game {game!r} has no letters or digits to name a file after; pass name= explicitly")
    return name


def build_leaderboard(
    game: str,
    results: Iterable[PairResult],
    ratings: Ratings,
    *,
    name: str | None = None,
    title: str | None = None,
    provenance: Mapping[str, JsonValue] | None = None,
    exploitability: Mapping[str, float | None] | None = None,
) -> Leaderboard:
    """A :class:`Leaderboard` for ``ratings`` (from :func:`~gym_reason.eval.ratings.rate_tournament` on ``results``).

    ``name`` (the file stem) defaults to :func:`file_name_for` ``game``; pass the
    env's alias for short names. ``title`` defaults to ``"<game> leaderboard"``.
    ``exploitability`` gives agents' exact exploitability (a column of the table), where known.

    >>> from gym_reason.eval.ratings import rate_tournament
    >>> results = [PairResult(a="nash", b="random", wins=70, losses=30)]
    >>> board = build_leaderboard("gym_reason/KuhnPoker-v0", results, rate_tournament(results), name="kuhn_poker")
    >>> [row.name for row in board.rows], board.win_rates["nash"]["random"]
    (['nash', 'random'], 0.7)

    Raises:
        ValueError: when the ratings and the results do not name the same agents, or ``name`` is not file-name-safe.
    """
    results = list(results)
    agents = [row.name for row in ratings.rows]
    played = {r.a for r in results} | {r.b for r in results}
    if played != set(agents):
        raise ValueError(
            f"the ratings rate {sorted(agents)} but the results are between {sorted(played)}; "
            "compute the ratings from these results (rate_tournament(results))"
        )
    return Leaderboard(
        game=game,
        name=file_name_for(game) if name is None else name,
        title=f"{game} leaderboard" if title is None else title,
        provenance=dict(provenance or {}),
        method=ratings.method,
        rows=ratings.rows,
        win_rates=win_rate_matrix(results, agents),
        results=results,
        exploitability=dict(exploitability or {}),
    )


def render_markdown(board: Leaderboard) -> str:
    """The leaderboard as Markdown: the ratings table, the win-rate matrix, then how it was made."""
    method = board.method
    percent = f"{method.confidence:.0%}"
    # A tournament of paired deals rates deals (each deal played once from each seat), not games.
    unit = "deals" if str(board.provenance.get("rated_unit", "")).startswith("deal") else "games"
    lines = [
        f"# {board.title}",
        "",
        f"Game `{board.game}`, {len(board.rows)} agents, created {board.created.isoformat()}, "
        f"gym-reason {board.version}.",
        "",
    ]
    exploitable = board.exploitability
    column = " Exploitability |" if exploitable else ""
    lines += [
        f"| Rank | Agent | Elo ({percent} CI) | openskill ordinal |{column} {unit.capitalize()} | Score rate |",
        "|---:|---|---:|---:|" + ("---:|" if exploitable else "") + "---:|---:|",
    ]
    for row in board.rows:
        value = exploitable.get(row.name)
        cell = (" — |" if value is None else f" {value:.4f} |") if exploitable else ""
        lines.append(
            f"| {row.rank} | {_cell(row.name)} | {row.elo:.0f} [{row.elo_low:.0f}, {row.elo_high:.0f}] "
            f"| {row.openskill_ordinal:.1f} |{cell} {row.games} | {row.score_rate:.3f} |"
        )
    names = [row.name for row in board.rows]
    lines += [
        "",
        "## Pairwise score rates",
        "",
        f"Score rate (wins + draws / 2) / {unit} of the row agent against the column agent; — where they did not play.",
        "",
        "| | " + " | ".join(_cell(name) for name in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for row_name in names:
        rates = board.win_rates[row_name]
        cells = ["—" if rates[column] is None else f"{rates[column]:.3f}" for column in names]
        lines.append(f"| {_cell(row_name)} | " + " | ".join(cells) + " |")
    interval = (
        f"parametric bootstrap over games ({method.resamples} resamples)"
        if method.resamples
        else "normal approximation from the Fisher information"
    )
    centre = f"agent {method.anchor!r} = {method.base:g}" if method.anchor is not None else f"mean {method.base:g}"
    lines += [
        "",
        "## Method and provenance",
        "",
        f"- Elo: Bradley–Terry, 400·log10 odds, {centre}; draws count half a win; "
        f"prior: {method.prior_draws:g} virtual draw(s) per agent against a reference player.",
        f"- {percent} CI: {interval}, seed {method.seed}.",
        f"- openskill: {method.openskill_model}, mu and sigma after every game once in an order shuffled with "
        f"seed {method.seed}; ordinal = mu − 3·sigma.",
    ]
    if exploitable:
        lines.append(
            "- Exploitability: exact, NashConv / 2 (the mean over seats of what a best response wins per game "
            "against the agent), from the agent's move probabilities at every information state; — where the "
            "agent cannot report them (a served model). 0 is a Nash equilibrium."
        )
    for key, value in board.provenance.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines.append(f"- {_cell(key)}: {_cell(shown)}")
    return "\n".join(lines) + "\n"


def write_leaderboard(board: Leaderboard, directory: str | os.PathLike[str] = "leaderboards") -> dict[str, Path]:
    """Write ``<name>.json``, ``<name>.md`` and ``<name>.png`` under ``directory`` (created if missing).

    Returns the paths by kind: ``{"json": ..., "md": ..., "png": ...}``.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {kind: directory / f"{board.name}.{kind}" for kind in ("json", "md", "png")}
    _write_atomically(paths["json"], lambda tmp: tmp.write_text(board.model_dump_json(indent=2) + "\n"))
    _write_atomically(paths["md"], lambda tmp: tmp.write_text(render_markdown(board)))
    _write_atomically(paths["png"], lambda tmp: _plot_ratings(board, tmp))
    return paths


def read_leaderboard(path: str | os.PathLike[str]) -> Leaderboard:
    """The :class:`Leaderboard` in a ``.json`` file written by :func:`write_leaderboard`.

    Raises:
        ValueError: when the file is not a valid leaderboard.
    """
    return Leaderboard.model_validate_json(Path(path).read_text())


def _cell(text: str) -> str:
    """Text that cannot break a Markdown table row."""
    return text.replace("|", r"\|").replace("\n", " ")


def _write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    descriptor, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(descriptor)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        tmp.chmod(0o644)  # mkstemp makes it private; a leaderboard is for sharing
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _plot_ratings(board: Leaderboard, path: Path) -> None:
    """A horizontal error-bar plot of the Bradley–Terry ratings, best at the top."""
    # The figure and its Agg canvas directly, not pyplot: no global backend or figure state is touched.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = board.rows[::-1]
    elo = [row.elo for row in rows]
    below = [row.elo - row.elo_low for row in rows]
    above = [row.elo_high - row.elo for row in rows]
    figure = Figure(figsize=(7.0, 1.2 + 0.4 * len(rows)))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.errorbar(elo, range(len(rows)), xerr=[below, above], fmt="o", capsize=4)
    axes.set_yticks(range(len(rows)), [row.name for row in rows])
    axes.set_xlabel(f"Bradley–Terry Elo ({board.method.confidence:.0%} CI)")
    axes.grid(axis="x", alpha=0.3)
    axes.set_title(board.title)
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
