#!/usr/bin/env bash
# Lint as setup.cfg configures it: flake8, then isort (check only).
# Usage: bash tools/lint.sh   (run by .ci/run before the tests)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
PATHS=(ofakd_mm tools tests configs setup.py)
"$PYTHON" -m flake8 "${PATHS[@]}"
"$PYTHON" -m isort --check-only --diff "${PATHS[@]}"
echo "lint: flake8 and isort clean"
