#!/usr/bin/env bash
# Install detectron2 into the interpreter given as $1, unless one already imports.
# Route: PyPI's pb1-detectron2==0.6 sdist (upstream v0.6's Python code, no C++ sources),
# checked by sha256, built without extension modules, with two later upstream fixes and a
# stand-in `detectron2/_C.py` (see scripts/detectron2_C.py).
set -euo pipefail
PY=${1:?usage: install_detectron2.sh PYTHON}
HERE=$(cd "$(dirname "$0")" && pwd)
SHA256=5d2e9e51e523ec72f6a31cca04b0a515492e9514b773a3d134cedc0677170b29

if "$PY" -c "import detectron2, detectron2.config" 2>/dev/null; then
  echo "detectron2: using the installed $("$PY" -c 'import detectron2; print(detectron2.__version__)')"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PY" -m pip download -q --no-deps --no-binary :all: --no-build-isolation \
  -d "$work" pb1-detectron2==0.6 2>&1 | { grep -v "^WARNING: Location" || true; }
sdist="$work/pb1-detectron2-0.6.tar.gz"
echo "$SHA256  $sdist" | sha256sum -c --quiet - || { echo "detectron2 sdist: sha256 mismatch" >&2; exit 1; }
tar xzf "$sdist" -C "$work"
src="$work/pb1-detectron2-0.6"

sed -i 's/ext_modules=get_extensions(),/ext_modules=[],/' "$src/setup.py"
sed -i 's/interp=Image.LINEAR/interp=Image.BILINEAR/' "$src/detectron2/data/transforms/transform.py"
sed -i 's/dtype=np\.int\b/dtype=np.int64/g' "$src/detectron2/data/build.py"
grep -q "ext_modules=\[\]" "$src/setup.py"
grep -q "Image.BILINEAR" "$src/detectron2/data/transforms/transform.py"
! grep -q "dtype=np\.int\b" "$src/detectron2/data/build.py"
cp "$HERE/detectron2_C.py" "$src/detectron2/_C.py"

"$PY" -m pip install -q --no-deps --no-build-isolation "$src"
"$PY" -c "import detectron2, detectron2.config; print('detectron2:', detectron2.__version__, 'installed')"
