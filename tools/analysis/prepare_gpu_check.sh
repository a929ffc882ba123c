#!/usr/bin/env bash
# Prepare a checkout for tools/analysis/gpu_check.sh on a GPU host that can
# reach no package registry (Python 3.12, torch already installed):
#   .whl/ofakd/      wheels of this package's stack that such a host lacks
#   .whl/official/   timm 0.6.5, the official OFA-KD code's pinned timm
#   .official/OFAKD/ the official code (github.com/Hao840/OFAKD) at the
#                    commit the side-by-side benchmark was written against
# Both folders are added to the checkout's .git/info/exclude.
# Usage: bash tools/analysis/prepare_gpu_check.sh [CHECKOUT] [OFFICIAL_GIT]
#   CHECKOUT      the checkout to prepare (default: this one)
#   OFFICIAL_GIT  a clone (or bare git dir) of github.com/Hao840/OFAKD
#                 (default: cloned from GitHub)
# Environment: PYTHON (default python3), PY_VERSION (default 3.12, the
# Python of the GPU host).
set -euo pipefail
ROOT=$(cd "${1:-$(dirname "$0")/../..}" && pwd)
OFFICIAL_GIT=${2:-}
PYTHON=${PYTHON:-python3}
PY_VERSION=${PY_VERSION:-3.12}
OFFICIAL_COMMIT=f7bb896cac9879040800bde08a8cc2057a904c52

# This package's runtime stack (requirements/runtime.txt) and the
# dependencies a CUDA image with torch, numpy, opencv, matplotlib, rich,
# einops, scipy, scikit-learn, click and markdown does not have; all are
# pure-Python wheels.
STACK=(mmengine==0.10.7 mmcv-lite==2.1.0 mmpretrain==1.2.0 mmrazor==1.0.0
    addict==2.4.0 yapf==0.43.0 platformdirs==4.3.8 termcolor==3.1.0
    mat4py==0.6.0 modelindex==0.0.2 model-index==0.1.11 ordered-set==4.1.0
    importlib-metadata==8.7.0 'setuptools<81')
OFFICIAL=(timm==0.6.5)

download() {
    local dest=$1; shift
    rm -rf "$dest" && mkdir -p "$dest"
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: \
        --python-version "$PY_VERSION" --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$dest" "$@"
}
download "$ROOT/.whl/ofakd" "${STACK[@]}"
download "$ROOT/.whl/official" "${OFFICIAL[@]}"

rm -rf "$ROOT/.official" && mkdir -p "$ROOT/.official/OFAKD"
if [ -z "$OFFICIAL_GIT" ]; then
    OFFICIAL_GIT="$ROOT/.official/clone"
    git clone -q https://github.com/Hao840/OFAKD.git "$OFFICIAL_GIT"
fi
git --git-dir="$(git -C "$OFFICIAL_GIT" rev-parse --absolute-git-dir)" \
    archive "$OFFICIAL_COMMIT" | tar -x -C "$ROOT/.official/OFAKD"
rm -rf "$ROOT/.official/clone"

EXCLUDE=$(git -C "$ROOT" rev-parse --git-path info/exclude)
case $EXCLUDE in /*) ;; *) EXCLUDE="$ROOT/$EXCLUDE" ;; esac
mkdir -p "$(dirname "$EXCLUDE")"
for path in /.whl/ /.official/; do
    grep -qxF "$path" "$EXCLUDE" 2>/dev/null || echo "$path" >> "$EXCLUDE"
done
du -sh "$ROOT/.whl" "$ROOT/.official"
ls "$ROOT/.whl/ofakd" "$ROOT/.whl/official"
