#!/usr/bin/env bash
# Fuzzes SMM's file readers (the .smm reader and the safetensors header parser) with libFuzzer and
# AddressSanitizer: Tools/fuzz/FuzzMain.swift compiled together with Sources/SMMFormat/*.swift.
#
# Usage: bash Tools/fuzz.sh [-t SECONDS] [-n RUNS] [-j JOBS] [-- extra libFuzzer flags]
#   -t SECONDS  stop after this much time (default 30; the CI run)
#   -n RUNS     stop after this many executions instead (e.g. -n 1000000)
#   -j JOBS     parallel fuzzing processes (default 1)
# Exits non-zero on any crash, sanitizer report, timeout (10 s per input) or memory blow-up
# (-rss_limit_mb=2048, -malloc_limit_mb=512); the failing input is saved under .build-fuzz/artifacts/.
# The corpus grows in .build-fuzz/corpus (seeded with small valid files of both formats).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
OUT="$ROOT/.build-fuzz"
TIME=30
RUNS=""
JOBS=1
while [ $# -gt 0 ]; do
  case "$1" in
    -t) TIME="$2"; shift 2 ;;
    -n) RUNS="$2"; shift 2 ;;
    -j) JOBS="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

mkdir -p "$OUT/corpus" "$OUT/artifacts"
BIN="$OUT/smm-fuzz"
SOURCES=("$ROOT"/Sources/SMMFormat/*.swift "$ROOT/Tools/fuzz/FuzzMain.swift")
if [ ! -x "$BIN" ] || [ -n "$(find "${SOURCES[@]}" -newer "$BIN" 2>/dev/null)" ]; then
  echo "[fuzz] building $BIN"
  # ld.gold warns about ASan's local symbols; those lines are noise.
  swiftc -sanitize=fuzzer,address -parse-as-library -O -g -module-name SMMFormat \
    "${SOURCES[@]}" -o "$BIN" 2>&1 | grep -v "Cannot export local symbol" || true
  [ -x "$BIN" ] || { echo "[fuzz] build failed" >&2; exit 1; }
fi

export SWIFT_BACKTRACE=enable=no          # let libFuzzer report crashes itself
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:symbolize=1}"
SMM_FUZZ_WRITE_SEEDS="$OUT/corpus" "$BIN" -runs=0 "$OUT/corpus" >/dev/null 2>&1

LIMIT=(-max_total_time="$TIME")
[ -n "$RUNS" ] && LIMIT=(-runs="$RUNS")
ARGS=("${LIMIT[@]}" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len=16384
      -dict="$HERE/fuzz/smm.dict" -artifact_prefix="$OUT/artifacts/" -print_final_stats=1 "$@")
if [ "$JOBS" -gt 1 ]; then
  ARGS+=(-jobs="$JOBS" -workers="$JOBS")
fi
echo "[fuzz] $BIN ${ARGS[*]} $OUT/corpus"
set +e
"$BIN" "${ARGS[@]}" "$OUT/corpus" 2>&1 | tee "$OUT/last-run.log" | grep -E "^#[0-9]+[[:space:]]+(INITED|DONE|pulse)|ERROR|SUMMARY|Done|stat::|crash-|timeout-|oom-|leak-|deadly"
STATUS=${PIPESTATUS[0]}
set -e
if [ "$STATUS" -ne 0 ]; then
  echo "[fuzz] FAILED (exit $STATUS); full log: $OUT/last-run.log; inputs: $OUT/artifacts/" >&2
  exit "$STATUS"
fi
echo "[fuzz] OK: no crash, sanitizer report, timeout or memory blow-up"
