#!/usr/bin/env bash
# Creates the Python reference ("oracle") environment at Tools/.venv (idempotent).
# Usage: bash Tools/make_venv.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "[make_venv] creating venv at $VENV with $($PY --version 2>&1)"
  "$PY" -m venv "$VENV"
else
  echo "[make_venv] venv already exists at $VENV"
fi

# Pinned versions (the ones the committed fixtures were generated with).
# torch: the CPU build torch-2.13.0+cpu is taken from the local find-links
# directory /opt/wheels when present (pip.conf points there); without it pip
# falls back to PyPI's default torch==2.13.0 wheel (larger, with CUDA deps).
PKGS=(
  "torch==2.13.0"
  "transformers==5.24.0"
  "tokenizers==0.23.3"
  "safetensors==0.8.0"
  "sentence-transformers==6.2.0"
  "numpy==2.4.6"
)

if "$VENV/bin/python" - "${PKGS[@]}" <<'PYEOF'
import sys
from importlib.metadata import version, PackageNotFoundError
ok = True
for spec in sys.argv[1:]:
    name, want = spec.split("==")
    try:
        have = version(name)
    except PackageNotFoundError:
        have = None
    if have is None or have.split("+")[0] != want.split("+")[0]:
        ok = False
sys.exit(0 if ok else 1)
PYEOF
then
  echo "[make_venv] all pinned packages already installed"
else
  echo "[make_venv] installing: ${PKGS[*]}"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  EXTRA=()
  if [ -d /opt/wheels ]; then EXTRA+=(--find-links /opt/wheels); fi
  "$VENV/bin/python" -m pip install --quiet "${EXTRA[@]}" "${PKGS[@]}"
fi

echo "[make_venv] installed versions:"
"$VENV/bin/python" - <<'PYEOF'
from importlib.metadata import version
for n in ["torch", "transformers", "tokenizers", "safetensors", "sentence-transformers", "numpy"]:
    print(f"  {n}=={version(n)}")
PYEOF
echo "[make_venv] done: $VENV/bin/python"
