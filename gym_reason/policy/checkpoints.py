"""Checkpoint I/O: local transformers / GGUF models in, policies out and back, and finding a run's checkpoints.

A saved policy is a folder holding the model (or, for LoRA, its ``adapter/``), the tokenizer and
:data:`POLICY_FILE` (decoding settings and where the weights came from), so it plays as it was
trained. A run folder keeps its checkpoints as ``checkpoints/step_NNNNNNN``. Nothing is downloaded.
"""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any

import torch

from gym_reason.policy.lm_policy import LMPolicy

POLICY_FILE = "gym_reason_policy.json"
"""Decoding settings saved beside the model, so a checkpoint plays as it was trained."""

CHECKPOINTS = "checkpoints"
"""The folder of a run that holds its ``step_N`` checkpoints."""


def save_policy(policy: LMPolicy, directory: str | Path) -> None:
    """Save model (or LoRA adapter), tokenizer and decoding settings so :func:`load_policy` rebuilds ``policy``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        if policy.source.get("lora"):
            policy.model.save_pretrained(directory / "adapter")  # the base model's path is in the settings
        else:
            policy.model.save_pretrained(directory)
        policy.tokenizer.save_pretrained(directory)
    (directory / POLICY_FILE).write_text(json.dumps(policy.settings(), indent=2) + "\n")


def load_policy(directory: str | Path, device: torch.device | str = "cpu") -> LMPolicy:
    """Rebuild a policy saved by :func:`save_policy` (a training checkpoint or a run's final folder)."""
    directory = Path(directory)
    settings_file = directory / POLICY_FILE
    if not settings_file.is_file():
        raise FileNotFoundError(f"{str(directory)!r} holds no gym-reason policy ({POLICY_FILE} missing)")
    settings = json.loads(settings_file.read_text())
    source = settings.pop("source", {}) or {}
    if "constrained" in settings:  # saved before the decoding modes: constrained true/false
        settings["decoding"] = "constrained" if settings.pop("constrained") else "free"
    if source.get("lora"):
        from peft import PeftModel

        base, tokenizer = load_causal_lm(source["model"], source.get("gguf_file"))
        model = PeftModel.from_pretrained(base, directory / "adapter")
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(directory, local_files_only=True)
    model.to(device).eval()
    policy = LMPolicy(model, tokenizer, **settings)
    policy.source = source
    return policy


def load_causal_lm(path: str | Path, gguf_file: str | None = None) -> tuple[Any, Any]:
    """A local transformers causal LM and its tokenizer (no download: ``local_files_only``)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(
            f"model path {str(path)!r} is not a folder; give a local transformers model folder "
            "(config.json + weights) or a folder holding a GGUF file with --gguf-file NAME"
        )
    kwargs: dict[str, Any] = {"local_files_only": True}
    if gguf_file:
        if not (path / gguf_file).is_file():
            found = sorted(p.name for p in path.glob("*.gguf"))
            raise FileNotFoundError(f"no GGUF file {gguf_file!r} in {str(path)!r}; found: {found}")
        kwargs["gguf_file"] = gguf_file
    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model_kwargs = dict(kwargs)
        if gguf_file:
            try:  # newer transformers keep GGUF blocks packed (frozen, unsaveable) unless told to unpack
                from transformers import GgufConfig

                model_kwargs["quantization_config"] = GgufConfig(dequantize=True)
            except ImportError:  # older ones always de-quantise
                pass
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, **model_kwargs)
        if getattr(model, "hf_quantizer", None) is not None:
            model = plain_copy(model)
    return model, tokenizer


def plain_copy(model: Any) -> Any:
    """The same weights in a fresh model with no quantizer attached (one ``save_pretrained`` accepts).

    A model loaded from a GGUF file keeps its GGUF quantizer even when every weight was
    de-quantised to dense float32, and ``save_pretrained`` refuses any non-serialisable quantizer.
    """
    from transformers import AutoModelForCausalLM

    config = copy.deepcopy(model.config)
    config.__dict__.pop("quantization_config", None)
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    fresh.load_state_dict(model.state_dict(), strict=True)
    fresh.generation_config = model.generation_config
    return fresh


@contextlib.contextmanager
def quiet_transformers():
    """No per-file progress bars from transformers while checkpoints are written or read."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def checkpoint_folders(run_dir: str | Path) -> list[Path]:
    """A run's complete checkpoints, oldest first (a ``.tmp`` folder is one being written)."""
    folder = Path(run_dir) / CHECKPOINTS
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("step_*") if p.is_dir() and not p.name.endswith(".tmp"))


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """A run's newest complete checkpoint, or ``None`` when it has none."""
    found = checkpoint_folders(run_dir)
    return found[-1] if found else None


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder from a run folder (its latest checkpoint) or a checkpoint folder itself."""
    path = Path(path)
    if (path / POLICY_FILE).is_file():
        return path
    latest = latest_checkpoint(path) if path.is_dir() else None
    if latest is None:
        raise FileNotFoundError(
            f"{str(path)!r} is neither a run folder with checkpoints nor a checkpoint folder; "
            "give runs/<run-id> (as printed at the end of gym-reason selfplay) or runs/<run-id>/checkpoints/step_N"
        )
    return latest
