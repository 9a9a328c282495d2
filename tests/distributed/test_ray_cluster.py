"""A selfplay run on env workers spread over a simulated 3-node Ray cluster (``ray.cluster_utils.Cluster`` on
one machine), one worker killed mid-episode: the run finishes, the failed episodes are counted (never scored)
and the restarted worker serves the next steps. `slow`: three Ray nodes start (a minute or more on 2 cores)."""

from __future__ import annotations

import json

import pytest

from gym_reason.trainer.config import load_config
from gym_reason.trainer.loop import train

ray = pytest.importorskip("ray", reason="the Ray tests need the ray package: pip install 'gym-reason[ray]'")

from ray.cluster_utils import Cluster  # noqa: E402

from gym_reason.trainer.ray_workers import RemoteGame  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    for _ in range(2):
        nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    yield nodes
    ray.shutdown()
    nodes.shutdown()


def test_selfplay_on_three_nodes_survives_a_killed_worker(cluster, tmp_path, monkeypatch):
    calls = {"n": 0}
    seen: dict[str, object] = {}
    step = RemoteGame.step

    def step_and_kill(self, action):
        calls["n"] += 1
        if calls["n"] == 1:
            seen["where"] = self.pool.where()
        if calls["n"] == 150:  # mid-rollout of the second step: the worker's episodes are in flight
            self.pool.kill(0)
        return step(self, action)

    monkeypatch.setattr(RemoteGame, "step", step_and_kill)
    games = 24
    overrides = {"games": ["kuhn_poker"], "steps": 4, "games_per_step": games, "eval_every": 0, "eval_games": 16,
                 "eval_opponents": ["random"], "run_dir": str(tmp_path), "run_name": "cluster", "progress": False,
                 "threads": 1, "env_workers": 3, "ray_address": cluster.address}  # fmt: skip
    result = train(load_config(overrides=overrides))
    assert result.step == 4
    nodes = {node for node, _ in seen["where"]}
    assert len(nodes) == 3, f"the env workers were not spread over the 3 nodes: {seen['where']}"
    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    failed = [m["failed_games"] for m in lines]
    assert all(m["games"] + m["failed_games"] == games for m in lines)
    assert sum(failed) >= 1  # the killed worker's episodes in flight: counted as failed
    assert failed[-1] == 0  # the restarted worker plays the later steps
    killed_step = next(i for i, f in enumerate(failed) if f)
    assert lines[killed_step]["games"] >= games * 2 // 3 - 1  # the other two workers' episodes were played and used
