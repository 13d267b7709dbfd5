#!/usr/bin/env bash
# Full-size conformance (not part of CI: it needs the Python oracle and ~650 MB of generated weights).
# Builds the published-config random DistilBERT-SST-2 and DistilGPT-2 and the fine-tuned MiniLM
# classifier (Tools/make_conformance_models.py), then runs FullSizeConformanceTests, which compare
# our f32 with transformers and f16/bf16/int8 with f32 on them.
# Usage: bash Tools/conformance.sh
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"
bash Tools/make_venv.sh
bash Tools/fetch_minilm.sh
Tools/.venv/bin/python Tools/make_conformance_models.py
swift build -c release --build-tests -Xswiftc -enable-testing
SMM_REQUIRE_CONFORMANCE_MODELS=1 swift test -c release -Xswiftc -enable-testing --skip-build --disable-swift-testing --filter FullSizeConformanceTests 2>&1 \
  | grep -E "f32:|f16:|bf16:|int8:|Executed|error|failed" 
