#!/usr/bin/env bash
# Create or refresh ./.venv with ofakd_mm and its pinned stack (idempotent).
# Usage: bash tools/setup_venv.sh [--tests]   (--tests adds test dependencies)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=".venv/bin/python -m pip"
# torch and torchvision must be exactly this pair.
$PIP install -q torch==2.14.1 torchvision==0.29.1
$PIP install -q -r requirements/runtime.txt
# the quickstart's plot (matplotlib) and the optional components (scipy)
$PIP install -q -r requirements/optional.txt
if [ "${1:-}" = "--tests" ]; then
    $PIP install -q -r requirements/tests.txt
fi
$PIP install -q --no-deps --no-build-isolation -e .
.venv/bin/python -c "import ofakd_mm, mmrazor.models; print('ofakd_mm', ofakd_mm.__version__, 'ready in .venv')"
