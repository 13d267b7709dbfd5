#!/usr/bin/env bash
# The manager's soak test (Tests/SmartModelManagerTests/SoakTests.swift: 16 tasks, mixed requests
# over 3 models with a budget that holds 2, a forced switch halfway) and the cache's own tests,
# under ThreadSanitizer. Any data race TSan reports fails the run.
#
# Usage: bash Tools/tsan_soak.sh [REQUESTS]   (default 20000; CI runs the 2,000-request soak
#        without TSan as part of the normal test suite)
# Builds into .build-tsan (debug, -sanitize=thread); the first build takes several minutes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
REQUESTS="${1:-20000}"
export SMM_SOAK_REQUESTS="$REQUESTS"
# halt_on_error: the first race ends the run with a non-zero status, with its report.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
start=$(date +%s)
swift build --build-tests --sanitize=thread --scratch-path .build-tsan
log=$(mktemp)
set +e
swift test --skip-build --sanitize=thread --scratch-path .build-tsan --disable-swift-testing \
  --filter 'SoakTests|ModelCacheTests|CacheTests' 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
races=$(grep -c "WARNING: ThreadSanitizer" "$log" || true)
echo "[tsan_soak] $REQUESTS requests; ThreadSanitizer warnings: $races; exit $status; $(( $(date +%s) - start )) s in all"
grep -E "^soak:" "$log" || true
rm -f "$log"
[ "$status" -eq 0 ] && [ "$races" -eq 0 ]
