"""``gym-reason eval --teams``: win rates per team and the deception measure from the command line."""

from __future__ import annotations

import json

from gym_reason.cli import main
from gym_reason.eval.teams import team_evaluation


def test_eval_teams_prints_each_team_and_the_deception_measure(tmp_path, capsys):
    out = tmp_path / "teams.json"
    args = ["eval", "--agent", "fixed:rules", "--game", "hidden_roles", "--opponents", "random", "--teams"]
    assert main([*args, "--games", "8", "--seed", "3", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "hidden team identified" in printed and "95% Wilson intervals" in printed
    as_loyal, as_hidden = json.loads(out.read_text())
    assert (as_loyal["loyal_agent"], as_loyal["hidden_agent"]) == ("fixed:rules", "random")
    assert (as_hidden["loyal_agent"], as_hidden["hidden_agent"]) == ("random", "fixed:rules")
    # The same numbers as the Python API on the same deals.
    direct = team_evaluation("hidden_roles", loyal="random", hidden="fixed:rules", games=8, seed=3)
    assert as_hidden == direct.model_dump(mode="json")
    for result in (as_loyal, as_hidden):
        assert result["games"] == 8 and result["loyal"]["wins"] + result["hidden"]["wins"] == 8
        low, high = result["identified"]["interval"]
        assert low <= result["identified"]["rate"] <= high and result["identified"]["games"] > 0
    row = f"{as_hidden['hidden']['rate']:.3f} [{as_hidden['hidden']['interval'][0]:.3f}"
    assert row in printed  # the hidden team's win rate with its interval, as printed


def test_eval_teams_errors_name_the_fix(capsys):
    kuhn = ["eval", "--agent", "random", "--game", "kuhn_poker", "--opponents", "random", "--games", "2", "--teams"]
    assert main(kuhn) == 2
    assert (
        "team evaluation needs a game that deals teams (hidden_roles); kuhn_poker has none" in capsys.readouterr().err
    )
    both = ["eval", "--agent", "random", "--game", "hidden_roles", "--games", "2", "--teams", "--until-decided"]
    assert main(both) == 2
    assert "--teams and --until-decided are separate evaluations" in capsys.readouterr().err
