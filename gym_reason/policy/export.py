"""Export a local model as a plain transformers folder (``config.json`` + ``model.safetensors`` + tokenizer).

Engines that read checkpoints themselves (vLLM, ``--backend vllm``) want a safetensors folder; the
offline SmolLM2 ships as a GGUF file. Loading the GGUF de-quantises it to float32
(:func:`~gym_reason.policy.checkpoints.load_causal_lm`); the copy without its GGUF quantizer
(:func:`~gym_reason.policy.checkpoints.plain_copy`) is what ``save_pretrained`` writes. The
command line is ``gym-reason export-model --model DIR --gguf-file NAME --out DIR``.
"""

from __future__ import annotations

from pathlib import Path

from gym_reason.policy.checkpoints import load_causal_lm, quiet_transformers


def export_model(model: str | Path, out: str | Path, gguf_file: str | None = None, *, force: bool = False) -> Path:
    """Write the model at ``model`` (a transformers folder, or a GGUF file in it) to ``out`` as float32 safetensors.

    Returns ``out``. Refuses to write into a folder that already holds a model unless ``force``.
    """
    out = Path(out)
    if (out / "config.json").exists() and not force:
        raise FileExistsError(
            f"{str(out)!r} already holds a model (config.json); give another --out or pass --force to overwrite it"
        )
    loaded, tokenizer = load_causal_lm(model, gguf_file)  # a GGUF model comes back de-quantised, its quantizer gone
    out.mkdir(parents=True, exist_ok=True)
    with quiet_transformers():
        loaded.save_pretrained(out, safe_serialization=True)
        tokenizer.save_pretrained(out)
    return out
