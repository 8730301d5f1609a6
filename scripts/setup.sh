#!/usr/bin/env bash
# One-step set-up on a fresh machine (Python 3.11, CPU): a virtual environment in .venv with
# torch, detectron2, the runtime dependencies and box2mask installed editable, its compiled
# ops built (CUDA kernels too when nvcc is found, or FORCE_CUDA=1). A second run is quick:
# it only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
STAMP=.venv/.box2mask-deps

quiet_pip() {  # pip without the noise of unreachable local index entries
  "$PY" -m pip "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }
  return "${PIPESTATUS[0]}"
}

if [ ! -x "$PY" ]; then
  echo "[setup] creating .venv"
  python3.11 -m venv .venv 2>/dev/null || python3 -m venv .venv
fi

# nvcc may sit outside its toolkit (e.g. a copy in /usr/local/bin): find the toolkit root.
if [ -z "${CUDA_HOME:-}" ] && command -v nvcc >/dev/null; then
  for d in "$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")" /usr/local/cuda /usr/local/cuda-*; do
    if [ -e "$d/lib64/libcudart.so" ] || [ -e "$d/lib/libcudart.so" ]; then
      export CUDA_HOME="$d"
      break
    fi
  done
fi

deps_hash=$(cat requirements.txt scripts/install_detectron2.sh scripts/detectron2_C.py | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null)" != "$deps_hash" ]; then
  echo "[setup] installing torch, detectron2 and dependencies"
  quiet_pip install -q torch==2.14.1 torchvision==0.29.1
  quiet_pip install -q -r requirements.txt
  bash scripts/install_detectron2.sh "$PY"
  # The compiled ops are built below, incrementally, not by pip.
  BOX2MASK_NO_EXT=1 quiet_pip install -q --no-deps --no-build-isolation -e .
  echo "$deps_hash" > "$STAMP"
fi

echo "[setup] building box2mask._C (CUDA_HOME=${CUDA_HOME:-none}, FORCE_CUDA=${FORCE_CUDA:-auto})"
# build_ext skips an extension newer than its sources: rebuild in full when the CUDA mode changes.
MODE_STAMP=.venv/.box2mask-build-mode
mode="FORCE_CUDA=${FORCE_CUDA:-auto}"
force=()
if [ "$(cat "$MODE_STAMP" 2>/dev/null)" != "$mode" ]; then
  force=(--force)
fi
"$PY" setup.py -q build_ext --inplace "${force[@]}" 2>&1 | { grep -v "^WARNING\|^running\|UserWarning\|warnings.warn\|^$" || true; }
test "${PIPESTATUS[0]}" -eq 0
echo "$mode" > "$MODE_STAMP"
"$PY" -c "import box2mask, box2mask.ops as ops; print('[setup] ok: box2mask', box2mask.__version__, '| CUDA kernels built:', ops.cuda_built())"
