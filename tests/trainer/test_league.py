"""The league's pool mechanics on tabular Kuhn Poker policies: entries, exact best responses, the paired payoff
matrix, sampling frequencies of each sampler, the exploitability gate and its log."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from gym_reason.envs.games.kuhn_poker.bots import KuhnAlwaysBet, KuhnAlwaysCheck, KuhnNash
from gym_reason.envs.games.kuhn_poker.rules import KuhnPoker
from gym_reason.eval.exact import expected_returns, scripted_policy, uniform_policy
from gym_reason.trainer.league import League, meta_nash, paired_results

GAME = KuhnPoker()
NASH = scripted_policy(KuhnNash())
ALWAYS_BET = scripted_policy(KuhnAlwaysBet())
ALWAYS_CHECK = scripted_policy(KuhnAlwaysCheck())


def _frequencies(league: League, draws: int = 4000) -> dict[str, float]:
    rng = random.Random(0)
    counts = Counter(league.sample(rng).name for _ in range(draws))
    return {e.name: counts[e.name] / draws for e in league.entries}


def test_entries_and_the_exact_best_response():
    events: list[dict] = []
    league = League(GAME, sampler="uniform", payoff_deals=300, seed=1, log=events.append)
    league.add_checkpoint(0, uniform_policy)
    league.add_bot("nash", NASH, spec="fixed:nash")
    response = league.add_best_response(uniform_policy, step=0)
    assert [e.kind for e in league.entries] == ["checkpoint", "bot", "best_response"]
    assert league.entries[0].exploitability == pytest.approx(11 / 24) and league.entries[1].exploitability < 1e-9
    # The best response takes from the uniform policy exactly what exploitability says a best response can.
    value = np.mean([expected_returns(GAME, [response.policy, uniform_policy])[0],
                     expected_returns(GAME, [uniform_policy, response.policy])[1]])  # fmt: skip
    assert value == pytest.approx(11 / 24)
    matrix = league.payoff_matrix()
    assert np.allclose(matrix, -matrix.T) and matrix[2, 0] == pytest.approx(11 / 24, abs=0.15)  # sampled, paired
    assert [e["kind"] for e in events if e["event"] == "pool_add"] == ["checkpoint", "bot", "best_response"]
    with pytest.raises(ValueError, match="already has an entry named 'nash'"):
        league.add_bot("nash", NASH)


def test_paired_deals_cancel_the_cards():
    # A policy against itself over paired deals: each deal's two games use the same cards, seats swapped.
    results = paired_results(GAME, ALWAYS_BET, ALWAYS_BET, deals=200, seed=0)
    assert all(r == 0 for r in results)  # deterministic play on the same cards from both seats cancels exactly
    assert paired_results(GAME, NASH, ALWAYS_CHECK, 50, 3) == paired_results(GAME, NASH, ALWAYS_CHECK, 50, 3)


def test_uniform_sampling_frequencies():
    league = League(GAME, sampler="uniform", payoff_deals=4)
    for name, policy in (("nash", NASH), ("bet", ALWAYS_BET), ("check", ALWAYS_CHECK)):
        league.add_bot(name, policy)
    assert all(abs(f - 1 / 3) < 0.03 for f in _frequencies(league).values())


def test_psro_samples_the_meta_nash_of_the_payoff_matrix():
    events: list[dict] = []
    league = League(GAME, sampler="psro", payoff_deals=400, seed=2, log=events.append)
    for name, policy in (("nash", NASH), ("bet", ALWAYS_BET), ("check", ALWAYS_CHECK)):
        league.add_bot(name, policy)
    probs = league.distribution()
    assert probs[0] > 0.9  # nothing in the pool beats Nash, so the meta-Nash plays it
    frequencies = _frequencies(league)
    assert all(abs(frequencies[e.name] - p) < 0.03 for e, p in zip(league.entries, probs, strict=True))
    state = league.log_state(step=5)
    assert state["names"] == ["nash", "bet", "check"] and state["meta_strategy"][0] > 0.9
    assert events[-1]["event"] == "payoffs" and len(events[-1]["payoff_matrix"]) == 3
    # A cycle: the meta-Nash mixes.
    cycle = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], dtype=float)
    assert np.allclose(meta_nash(cycle), 1 / 3, atol=0.02)


def test_pfsp_draws_most_the_opponents_that_beat_the_current_policy():
    league = League(GAME, sampler="pfsp", payoff_deals=200, seed=3)
    for name, policy in (("bet", ALWAYS_BET), ("uniform", uniform_policy), ("check", ALWAYS_CHECK)):
        league.add_bot(name, policy)
    with pytest.raises(ValueError, match="call measure"):
        league.distribution()
    league.measure(ALWAYS_CHECK, step=1)  # always-check loses to always-bet most, ties itself
    probs = dict(zip([e.name for e in league.entries], league.distribution(), strict=True))
    assert probs["bet"] > probs["uniform"] > probs["check"]
    frequencies = _frequencies(league)
    assert all(abs(frequencies[name] - p) < 0.03 for name, p in probs.items())


def test_the_gate_refuses_a_regressing_checkpoint_and_says_why():
    events: list[dict] = []
    league = League(GAME, gate_tolerance=0.05, snapshot_every=10, log=events.append)
    assert league.due(20) and not league.due(25)
    assert league.add_checkpoint(10, NASH).accepted
    refused = league.add_checkpoint(20, uniform_policy)
    assert not refused.accepted and "regressed beyond best 0.0000 + tolerance 0.05" in refused.reason
    assert refused.exploitability == pytest.approx(11 / 24)
    assert league.refused == [(20, refused.reason)] and [e.name for e in league.entries] == ["checkpoint@10"]
    gates = [e for e in events if e["event"] == "gate"]
    assert [g["accepted"] for g in gates] == [True, False] and "regressed" in gates[1]["reason"]
    open_gate = League(GAME, gate_tolerance=None)
    open_gate.add_checkpoint(0, NASH)
    assert open_gate.add_checkpoint(10, uniform_policy).accepted


def test_bad_arguments_name_the_valid_values():
    with pytest.raises(ValueError, match=r"unknown league sampler 'latest'; valid: \['uniform', 'pfsp', 'psro'\]"):
        League(GAME, sampler="latest")
    with pytest.raises(ValueError, match="gate_tolerance"):
        League(GAME, gate_tolerance=-1)
    with pytest.raises(ValueError, match="pool is empty"):
        League(GAME).distribution()


def _league_config(tmp_path, **extra):
    from gym_reason.trainer.config import load_config

    overrides = {"games": ["kuhn_poker"], "league": "pfsp", "league_snapshot_every": 2, "league_fraction": 1.0,
                 "games_per_step": 8, "eval_every": 0, "eval_games": 4, "threads": 1, "run_dir": str(tmp_path),
                 "run_name": "league", "progress": False, **extra}  # fmt: skip
    return load_config(None, overrides)


@pytest.mark.slow  # ~30 s: builds a tiny trainer, saves and reloads a checkpoint
def test_the_trainer_snapshots_into_the_league_and_draws_opponents_from_it(tmp_path):
    import json

    from gym_reason.trainer.league import league_snapshot
    from gym_reason.trainer.loop import Trainer, plan_games

    config = _league_config(tmp_path)
    trainer = Trainer(config, tmp_path / "league")
    assert league_snapshot(trainer, 0).accepted
    assert [e.kind for e in trainer.league.entries] == ["checkpoint", "best_response"]
    assert trainer.league.entries[0].spec.endswith("league/step_0000000")
    requests = plan_games(trainer, 0)
    opponents = {label for r in requests for label in r.labels if label != "policy"}
    assert opponents and opponents <= {"checkpoint@0", "best_response@0"}  # every game has a pool opponent
    events = [json.loads(line) for line in (tmp_path / "league" / "league.jsonl").read_text().splitlines()]
    assert [e["event"] for e in events] == ["gate", "pool_add", "pool_add", "payoffs"]
    assert events[-1]["names"] == ["checkpoint@0", "best_response@0"] and len(events[-1]["distribution"]) == 2


def test_league_needs_one_game_solved_exactly(tmp_path):
    from types import SimpleNamespace

    import gym_reason
    from gym_reason.registry import resolve_id
    from gym_reason.trainer.league import build_league

    def trainer(*games: str) -> SimpleNamespace:
        ids = [resolve_id(g) for g in games]
        return SimpleNamespace(config=_league_config(tmp_path, games=list(games)), env_ids=ids, run_dir=tmp_path,
                               eval_envs={i: gym_reason.make(i) for i in ids})  # fmt: skip

    with pytest.raises(ValueError, match="two-player game solved exactly"):
        build_league(trainer("tic_tac_toe"))
    with pytest.raises(ValueError, match="one game"):
        build_league(trainer("kuhn_poker", "leduc_holdem"))
    league = build_league(trainer("kuhn_poker"))
    assert league.sampler == "pfsp" and league.snapshot_every == 2 and league.gate_tolerance == 0.05


def test_the_league_state_survives_a_json_round_trip():
    import json

    events: list[dict] = []
    league = League(GAME, sampler="pfsp", payoff_deals=20, gate_tolerance=0.05, seed=4, log=events.append)
    league.add_bot("bet", ALWAYS_BET, spec="fixed:always_bet")
    league.add_checkpoint(10, NASH)
    league.add_best_response(uniform_policy, step=10)
    league.add_checkpoint(20, uniform_policy)  # refused by the gate
    league.measure(ALWAYS_CHECK, step=20)
    league.payoff_matrix()
    league.sample()  # the draw generator moves on
    state = json.loads(json.dumps(league.state_dict()))

    restored = League(GAME, sampler="pfsp", payoff_deals=20, gate_tolerance=0.05, seed=4)
    restored.load_state_dict(state)
    assert [(e.name, e.kind, e.step, e.spec) for e in restored.entries] == [
        ("bet", "bot", None, "fixed:always_bet"), ("checkpoint@10", "checkpoint", 10, None),
        ("best_response@10", "best_response", 10, None),
    ]  # fmt: skip
    assert restored.refused == league.refused and len(restored.refused) == 1
    assert [g["accepted"] for g in restored.gate_history] == [True, False]
    assert np.array_equal(restored.distribution(), league.distribution())
    assert np.array_equal(restored.payoff_matrix(), league.payoff_matrix())
    assert [restored.sample().name for _ in range(50)] == [league.sample().name for _ in range(50)]
    # The gate reads the restored entries: a checkpoint as exploitable as uniform play is refused again.
    assert not restored.add_checkpoint(30, uniform_policy).accepted
    assert restored.add_checkpoint(30, NASH).accepted


def test_a_pool_checkpoint_missing_from_the_run_folder_is_named(tmp_path):
    folder = tmp_path / "league" / "step_0000010"
    folder.mkdir(parents=True)
    league = League(GAME, sampler="uniform", payoff_deals=4)
    league.add_checkpoint(10, NASH, spec=str(folder))
    state = league.state_dict(tmp_path)
    assert state["entries"][0]["run_path"] == "league/step_0000010"
    moved = tmp_path / "moved"
    (moved / "league" / "step_0000010").mkdir(parents=True)
    restored = League(GAME, sampler="uniform", payoff_deals=4)
    restored.load_state_dict(state, moved)  # a run folder that moved finds its pool in its own league/
    assert restored.entries[0].spec == str(moved / "league" / "step_0000010")
    with pytest.raises(FileNotFoundError, match=r"pool checkpoint .*step_0000010.* is missing from the run folder"):
        League(GAME, sampler="uniform").load_state_dict(state, tmp_path / "elsewhere")


@pytest.mark.slow  # ~20 s: three short league runs of the tiny trainer
@pytest.mark.parametrize("sampler", ["pfsp", "psro"])
def test_a_resumed_league_run_repeats_the_uninterrupted_one(tmp_path, sampler):
    import json

    from gym_reason.trainer.loop import resume_config, train

    common = {"league": sampler, "league_fraction": 0.75, "games_per_step": 16, "eval_every": 3, "checkpoint_every": 3,
              "lr_schedule": "constant"}  # fmt: skip
    train(_league_config(tmp_path, **common, steps=6, run_name="whole"))
    train(_league_config(tmp_path, **common, steps=3, run_name="parts"))
    train(resume_config(tmp_path / "parts", {"steps": "6"}), resume=tmp_path / "parts")

    def lines(run: str, name: str) -> list[dict]:
        timing = ("games_per_s", "tokens_per_s", "step_time", "wall_time")
        records = [json.loads(line) for line in (tmp_path / run / name).read_text().splitlines()]
        return [{k: v for k, v in r.items() if k not in timing} for r in records]

    assert lines("whole", "metrics.jsonl") == lines("parts", "metrics.jsonl")
    league = lines("whole", "league.jsonl")
    assert league == lines("parts", "league.jsonl")
    assert [e["step"] for e in league if e["event"] == "gate"] == [0, 2, 4]  # the pool grew across the resume
    assert (tmp_path / "parts" / "league" / "step_0000002").is_dir()  # its checkpoints live in the run folder


@pytest.mark.slow  # ~10 s: two short league runs of the tiny trainer
def test_a_run_resumed_before_its_first_checkpoint_starts_its_logs_over(tmp_path):
    """Killed before any checkpoint, a run starts again from step 0: the killed run's league and metrics lines
    are dropped (they will be logged again), not kept beside the new ones."""
    import json
    import shutil

    from gym_reason.trainer.loop import resume_config, train

    common = {"games_per_step": 8, "eval_every": 2, "checkpoint_every": 100, "lr_schedule": "constant"}
    train(_league_config(tmp_path, **common, steps=4, run_name="whole"))
    killed = tmp_path / "killed"
    killed.mkdir()
    for name in ("config.yaml", "metrics.jsonl", "league.jsonl"):  # what a kill -9 before step 100 leaves
        shutil.copy(tmp_path / "whole" / name, killed / name)
    train(resume_config(killed, {"steps": "4"}), resume=killed)

    def lines(run: str, name: str) -> list[dict]:
        timing = ("games_per_s", "tokens_per_s", "step_time", "wall_time")
        records = [json.loads(line) for line in (tmp_path / run / name).read_text().splitlines()]
        return [{k: v for k, v in r.items() if k not in timing} for r in records]

    assert lines("whole", "league.jsonl") == lines("killed", "league.jsonl")
    assert lines("whole", "metrics.jsonl") == lines("killed", "metrics.jsonl")
