#!/usr/bin/env bash
# The prepared GPU check (issue 35), for a machine with one CUDA GPU and this repository installed (`make install`):
#   bash scripts/gpu_check.sh OUT_DIR
# 1. the tests marked gpu (tests/gpu: QLoRA, checkpointing, bf16/fp16/fp32, the memory plan against torch's peak);
# 2. the precision benchmark on the demo (fp32 against bf16, the same rows);
# 3. training throughput against TRL, tuned as its documentation allows, on the same GPU;
# 4. the memory plan against the measured peak for SmolLM2 (LoRA, full, QLoRA, checkpointing).
# Writes OUT_DIR/{gpu.txt,pytest.log,junit.xml,*.json}; each step's failure is recorded and the next one still runs.
# Budget: under 8 minutes on one H100/H200-class GPU.
set -uo pipefail
OUT=${1:?usage: scripts/gpu_check.sh OUT_DIR}
mkdir -p "$OUT"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-.venv/bin/python}
export PYTHONPATH="$ROOT/.venv/tools/bitsandbytes${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT/gpu.txt" 2>&1
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))" \
  >> "$OUT/gpu.txt" 2>&1
status=0
step() { local name=$1; shift; echo "== $name" | tee -a "$OUT/steps.txt"; local started=$SECONDS
  timeout 300 "$@" > "$OUT/$name.log" 2>&1; local code=$?
  echo "$name: exit $code in $((SECONDS - started)) s" | tee -a "$OUT/steps.txt"; [ "$code" = 0 ] || status=1; }
step pytest $PY -m pytest -m gpu tests/gpu -q -rs --junitxml="$OUT/junit.xml"
step precision $PY benchmarks/precision.py tasks --only demo --steps 60
step throughput $PY benchmarks/train_throughput.py --examples 800 --arms trl-tuned tunewise
step memory_plan $PY benchmarks/memory_plan.py --steps 4
cp benchmarks/results/precision-tasks.json benchmarks/results/train_throughput.json benchmarks/results/memory_plan.json \
  "$OUT/" 2>/dev/null
exit $status
