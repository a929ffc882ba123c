#!/usr/bin/env bash
# Every check that needs a GPU, in one run of at most GPU_CHECK_BUDGET
# seconds (default 540: one command of a 10-minute device call):
#  1. installs the wheels carried in .whl/ (tools/analysis/prepare_gpu_check.sh
#     puts them there) into /tmp/site and /tmp/official_site;
#  2. the official OFA-KD code's benchmark (tools/analysis/official_benchmark.py,
#     the code in .official/OFAKD, timm 0.6.5) and ours
#     (tools/analysis/gpu_report.py) for both reference pairs at batch 128,
#     224 px, bf16 and fp32, side by side;
#  3. the whole test suite with the time left: tests/test_cuda.py and
#     tests/test_compat.py first, then the rest (pytest-xdist, one file per
#     worker, when it is installed).
# Results go to $OUT (default work_dirs/gpu_check): device.txt,
# official.json, gpu_report.json, comparison.json, benchmarks.log,
# tests.log. Usage: bash tools/analysis/gpu_check.sh [pytest args]
# A trial on a CPU: BENCH="--device cpu --iters 1 --warmup 1 --amp fp32"
# BATCH=2 bash tools/analysis/gpu_check.sh -k benchmark
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-work_dirs/gpu_check}
PYTHON=${PYTHON:-python3}
BUDGET=${GPU_CHECK_BUDGET:-540}
BATCH=${BATCH:-128}
read -r -a BENCH <<< "${BENCH:-}"  # more arguments of both benchmarks
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
left() { local t=$((BUDGET - SECONDS)); echo $((t > 10 ? t : 10)); }

pip_install() {  # target, wheels...
    local target=$1; shift
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile \
        --no-cache-dir --upgrade --target "$target" "$@"
}
# The wheels this Python lacks: the OpenMMLab packages unless installed at
# the carried version, setuptools if >= 81 (no pkg_resources), any other
# only if missing (a second copy of an installed one would shadow it).
missing() {
    "$PYTHON" - "$@" <<'PY'
import importlib.metadata as md, os, sys
for wheel in sys.argv[1:]:
    name, version = os.path.basename(wheel).split('-')[:2]
    try:
        have = md.version(name)
    except md.PackageNotFoundError:
        print(wheel)
        continue
    if name.startswith('mm') and have != version or \
            name == 'setuptools' and int(have.split('.')[0]) >= 81:
        print(wheel)
PY
}
if [ -d .whl/ofakd ]; then
    mapfile -t WHEELS < <(missing .whl/ofakd/*.whl)
    if [ ${#WHEELS[@]} -gt 0 ]; then
        pip_install /tmp/site "${WHEELS[@]}" || exit 1
    fi
    export PYTHONPATH=/tmp/site:$PWD
else
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
fi
[ -d .whl/official ] && { pip_install /tmp/official_site .whl/official/*.whl \
    || exit 1; }

{
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
    "$PYTHON" -c 'import sys, torch, mmengine, mmpretrain, mmrazor
print("python", sys.version.split()[0], "torch", torch.__version__,
      "cuda", torch.version.cuda, "mmengine", mmengine.__version__,
      "mmpretrain", mmpretrain.__version__, "mmrazor", mmrazor.__version__)'
} 2>&1 | tee "$OUT/device.txt"

# mmengine logs every built parameter; keep the figures.
quiet() { grep -v "^[0-9/]* [0-9:]* - mmengine - \(INFO\|WARNING\)"; }
if [ -d .official/OFAKD ] && [ -d /tmp/official_site ]; then
    PYTHONPATH=/tmp/official_site:$PWD/.official/OFAKD:$PYTHONPATH \
        timeout $(($(left) / 3)) "$PYTHON" tools/analysis/official_benchmark.py \
        --official .official/OFAKD --batch-size "$BATCH" "${BENCH[@]}" \
        --json "$OUT/official.json" 2>&1 \
        | quiet | tee "$OUT/benchmarks.log"
else
    echo "no .official/OFAKD or timm 0.6.5 wheel: official code not timed" \
        | tee "$OUT/benchmarks.log"
fi
OFFICIAL=()
[ -f "$OUT/official.json" ] && OFFICIAL=(--official "$OUT/official.json"
    --comparison-json "$OUT/comparison.json")
timeout $(($(left) / 2)) "$PYTHON" tools/analysis/gpu_report.py \
    --batch-sizes "$BATCH" "${BENCH[@]}" --json "$OUT/gpu_report.json" \
    "${OFFICIAL[@]}" 2>&1 | quiet \
    | tee -a "$OUT/benchmarks.log"

{
    echo "== tests/test_cuda.py tests/test_compat.py ($(left) s left)"
    timeout "$(left)" "$PYTHON" -m pytest tests/test_cuda.py \
        tests/test_compat.py -q -p no:cacheprovider "$@" 2>&1
    XDIST=()
    "$PYTHON" -c 'import xdist' 2>/dev/null && XDIST=(-n 6 --dist loadfile)
    echo "== the rest of the suite ${XDIST[*]} ($(left) s left)"
    timeout "$(left)" "$PYTHON" -m pytest tests -q -p no:cacheprovider \
        --ignore tests/test_cuda.py --ignore tests/test_compat.py \
        "${XDIST[@]}" "$@" 2>&1
    echo "== exit $? with $(left) s left (124: out of time)"
} | tee "$OUT/tests.log" | tail -n 40
