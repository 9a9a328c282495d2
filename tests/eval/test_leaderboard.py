"""Leaderboards: three files per game, the JSON round-trips, the Markdown and the PNG show every agent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gym_reason.eval.leaderboard import (
    Leaderboard,
    build_leaderboard,
    file_name_for,
    package_version,
    read_leaderboard,
    render_markdown,
    write_leaderboard,
)
from gym_reason.eval.ratings import PairResult, rate_tournament

RESULTS = [
    PairResult(a="nash", b="random", wins=70, losses=30, mean_reward=0.41),
    PairResult(a="random", b="always|bet", wins=45, losses=45, draws=10),
    PairResult(a="nash", b="always|bet", wins=100, losses=0),
]
PROVENANCE = {
    "agents": {"nash": "fixed:kuhn_nash", "random": "random", "always|bet": "fixed:kuhn_always_bet"},
    "games_per_pair": 100,
    "seed": 0,
    "command": "gym-reason tournament kuhn_poker --games 100",
}


@pytest.fixture(scope="module")
def board() -> Leaderboard:
    ratings = rate_tournament(RESULTS, resamples=200)
    return build_leaderboard("gym_reason/KuhnPoker-v0", RESULTS, ratings, name="kuhn_poker", provenance=PROVENANCE)


def test_the_board_is_sorted_and_records_where_it_came_from(board: Leaderboard) -> None:
    assert [row.name for row in board.rows] == ["nash", "random", "always|bet"]
    assert board.version == package_version() == "0.1.0"
    assert board.created.tzinfo is not None
    assert board.win_rates["nash"]["always|bet"] == 1.0 and board.win_rates["nash"]["nash"] is None
    assert board.results == RESULTS
    assert board.method.resamples == 200 and board.method.prior_draws == 1.0


def test_write_makes_three_files_that_round_trip(board: Leaderboard, tmp_path: Path) -> None:
    paths = write_leaderboard(board, tmp_path / "leaderboards")
    assert paths == {kind: tmp_path / "leaderboards" / f"kuhn_poker.{kind}" for kind in ("json", "md", "png")}
    assert all(path.is_file() for path in paths.values())
    assert sorted(p.name for p in paths["json"].parent.iterdir()) == [
        "kuhn_poker.json",
        "kuhn_poker.md",
        "kuhn_poker.png",
    ]

    assert read_leaderboard(paths["json"]) == board
    on_disk = json.loads(paths["json"].read_text())
    assert list(on_disk)[:3] == ["game", "name", "title"]
    assert on_disk["provenance"] == PROVENANCE

    png = paths["png"].read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 1024

    # Writing again replaces the files in place and leaves no temporary files behind.
    write_leaderboard(board, tmp_path / "leaderboards")
    assert len(list(paths["json"].parent.iterdir())) == 3


def test_markdown_lists_every_agent_with_its_interval(board: Leaderboard, tmp_path: Path) -> None:
    text = render_markdown(board)
    assert write_leaderboard(board, tmp_path)["md"].read_text() == text
    ranking = text.split("## Pairwise")[0]
    for row in board.rows:
        name = row.name.replace("|", r"\|")
        assert f"| {row.rank} | {name} | {row.elo:.0f} [{row.elo_low:.0f}, {row.elo_high:.0f}] |" in ranking
    assert "Elo (95% CI)" in text
    assert "| nash | — | 0.700 | 1.000 |" in text  # the win-rate matrix, rows and columns in rank order
    assert "games_per_pair: 100" in text and "gym-reason tournament kuhn_poker" in text
    assert "1 virtual draw(s)" in text and "parametric bootstrap" in text
    # Every table row has the same number of cells: the '|' in an agent's name is escaped.
    table = [line for line in ranking.splitlines() if line.startswith("|")]
    assert {line.replace(r"\|", "").count("|") for line in table} == {7}


def test_names_must_be_safe_for_files() -> None:
    assert file_name_for("textarena/ConnectFour-v0") == "textarena_ConnectFour-v0"
    ratings = rate_tournament(RESULTS, resamples=0)
    with pytest.raises(ValueError, match=r"'\.\./escape'"):
        build_leaderboard("gym_reason/KuhnPoker-v0", RESULTS, ratings, name="../escape")


def test_ratings_and_results_must_name_the_same_agents() -> None:
    ratings = rate_tournament(RESULTS[:1], resamples=0)
    with pytest.raises(ValueError, match="always"):
        build_leaderboard("gym_reason/KuhnPoker-v0", RESULTS, ratings)


def test_exploitability_is_a_column_beside_the_ratings(tmp_path: Path) -> None:
    ratings = rate_tournament(RESULTS, resamples=0)
    board = build_leaderboard("gym_reason/KuhnPoker-v0", RESULTS, ratings, name="kuhn_poker",
                              exploitability={"nash": 0.0, "random": 0.4583, "always|bet": None})  # fmt: skip
    text = render_markdown(board)
    header = next(line for line in text.splitlines() if line.startswith("| Rank"))
    assert header.split("|")[5].strip() == "Exploitability"
    rows = [line for line in text.splitlines() if line[:3] in ("| 1", "| 2", "| 3")]
    assert [row.split(" | ")[4] for row in rows] == ["0.0000", "0.4583", "—"]  # nash, random, always|bet by rank
    assert "always\\|bet" in rows[2]
    assert "NashConv / 2" in text
    assert read_leaderboard(write_leaderboard(board, tmp_path)["json"]).exploitability == board.exploitability


def test_a_board_without_exploitability_has_no_such_column() -> None:
    board = build_leaderboard("g", RESULTS, rate_tournament(RESULTS, resamples=0), name="g")
    assert board.exploitability == {} and "Exploitability" not in render_markdown(board)
    old = json.loads(board.model_dump_json())
    del old["exploitability"]  # a file written before the column existed still reads
    assert Leaderboard.model_validate(old).exploitability == {}


def test_shipped_kuhn_leaderboard_shows_exact_exploitability() -> None:
    board = read_leaderboard(Path(__file__).resolve().parents[2] / "leaderboards" / "kuhn_poker.json")
    assert board.exploitability["fixed:nash"] == pytest.approx(0.0, abs=1e-9)
    assert board.exploitability["random"] == pytest.approx(11 / 24)  # uniform play in Kuhn Poker (OpenSpiel's value)
    assert "Exploitability" in render_markdown(board)
