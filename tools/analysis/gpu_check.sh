#!/usr/bin/env bash
# Every check that needs a GPU, in one run (a CUDA host with ofakd_mm's stack
# installed): the whole test suite (the CUDA tests run there, the CPU-only
# patches' tests say they are not needed), then tools/analysis/gpu_report.py
# (the README's GPU figures). Results go to $OUT (default work_dirs/gpu_check):
# tests.log, gpu_report.json, gpu_report.log.
# Usage: bash tools/analysis/gpu_check.sh [pytest args, e.g. -x]
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-work_dirs/gpu_check}
PYTHON=${PYTHON:-python}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv \
    | tee "$OUT/gpu_report.log"
"$PYTHON" -m pytest tests -q -p no:cacheprovider "$@" 2>&1 \
    | tee "$OUT/tests.log" | tail -n 30
"$PYTHON" tools/analysis/gpu_report.py --json "$OUT/gpu_report.json" 2>&1 \
    | grep -v "^[0-9/]* [0-9:]* - mmengine - \(INFO\|WARNING\)" \
    | tee -a "$OUT/gpu_report.log"
