"""`gym-reason selfplay --env-workers N` end to end, in a subprocess (it starts its own local Ray): `slow`."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("ray", reason="the Ray tests need the ray package: pip install 'gym-reason[ray]'")

pytestmark = pytest.mark.slow


def test_selfplay_cli_with_env_workers(tmp_path):
    command = [sys.executable, "-m", "gym_reason.cli", "selfplay", "--game", "kuhn_poker", "--steps", "2",
               "--games-per-step", "8", "--eval-every", "0", "--eval-games", "8", "--eval-opponents", "random",
               "--env-workers", "2", "--run-dir", str(tmp_path), "--run-name", "ray", "--no-progress",
               "--threads", "1"]  # fmt: skip
    out = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(x) for x in (tmp_path / "ray" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2]
    assert all(m["games"] == 8 and m["failed_games"] == 0 for m in lines)
