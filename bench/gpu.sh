#!/usr/bin/env bash
# GPU check of the nightly stages (segment and transfer actors' code, bf16 autocast), run on
# a GPU machine from the repository root: `bash bench/gpu.sh`. Needs torch with CUDA, numpy,
# opencv, pillow, pyarrow, fsspec, pyyaml and safetensors (not Ray). Writes gpu.json to $OUT
# when set, else bench/results/gpu.json.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-bench/results}/gpu.json"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
PYTHONUNBUFFERED=1 python3 bench/gpu_stages.py --device cuda --count 32 --side 1024 --out "$out"
