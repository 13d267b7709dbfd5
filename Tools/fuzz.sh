#!/usr/bin/env bash
# Fuzzes SMM's file readers with libFuzzer and AddressSanitizer, one target after the other:
#   formats     the .smm reader and the safetensors header parser (Tools/fuzz/FuzzMain.swift
#               compiled together with Sources/SMMFormat/*.swift)
#   tokenizers  tokenizer.json (BERT, GPT-2), vocab.txt, vocab.json + merges.txt, and encoding and
#               decoding with what they build (Tools/fuzz/FuzzTokenizers.swift + Sources/SMMTokenizers)
#
# Usage: bash Tools/fuzz.sh [-t SECONDS] [-n RUNS] [-j JOBS] [--only formats|tokenizers] [-- libFuzzer flags]
#   -t SECONDS  stop each target after this much time (default 30; the CI run)
#   -n RUNS     stop after this many executions instead (e.g. -n 1000000)
#   -j JOBS     parallel fuzzing processes (default 1)
# Exits non-zero on any crash, sanitizer report, timeout (10 s per input) or memory blow-up
# (-rss_limit_mb=2048, -malloc_limit_mb=512); the failing input is saved under .build-fuzz/artifacts/.
# Each target's corpus grows in .build-fuzz/corpus-<target> (seeded with small valid inputs).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
OUT="$ROOT/.build-fuzz"
TIME=30
RUNS=""
JOBS=1
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    -t) TIME="$2"; shift 2 ;;
    -n) RUNS="$2"; shift 2 ;;
    -j) JOBS="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

fuzz_target() {  # name, module, dictionary ("" for none), sources...
  local name="$1" module="$2" dict="$3"; shift 3
  local bin="$OUT/smm-fuzz-$name" corpus="$OUT/corpus-$name"
  mkdir -p "$corpus" "$OUT/artifacts"
  if [ ! -x "$bin" ] || [ -n "$(find "$@" "$ROOT"/Sources/SMMJSON -newer "$bin" 2>/dev/null)" ]; then
    echo "[fuzz] building $bin"
    # ld.gold warns about ASan's local symbols; those lines are noise.
    # SMMJSON, which both readers import, is built first as its own instrumented module.
    mkdir -p "$OUT/json"
    swiftc -sanitize=fuzzer,address -parse-as-library -O -g -wmo -module-name SMMJSON -emit-module \
      -emit-module-path "$OUT/json/SMMJSON.swiftmodule" -emit-library -static -o "$OUT/json/libSMMJSON.a" \
      "$ROOT"/Sources/SMMJSON/*.swift
    swiftc -sanitize=fuzzer,address -parse-as-library -O -g -module-name "$module" -I "$OUT/json" \
      "$@" "$OUT/json/libSMMJSON.a" -o "$bin" 2>&1 | grep -v "Cannot export local symbol" || true
    [ -x "$bin" ] || { echo "[fuzz] build of $name failed" >&2; exit 1; }
  fi
  SMM_FUZZ_WRITE_SEEDS="$corpus" "$bin" -runs=0 "$corpus" >/dev/null 2>&1
  local limit=(-max_total_time="$TIME")
  [ -n "$RUNS" ] && limit=(-runs="$RUNS")
  local args=("${limit[@]}" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=512 -max_len=16384
              -artifact_prefix="$OUT/artifacts/$name-" -print_final_stats=1)
  [ -n "$dict" ] && args+=(-dict="$dict")
  [ "$JOBS" -gt 1 ] && args+=(-jobs="$JOBS" -workers="$JOBS")
  args+=("${EXTRA[@]}")
  echo "[fuzz] $name: $bin ${args[*]} $corpus"
  set +e
  "$bin" "${args[@]}" "$corpus" 2>&1 | tee "$OUT/last-run-$name.log" \
    | grep -E "^#[0-9]+[[:space:]]+(INITED|DONE|pulse)|ERROR|SUMMARY|Done|stat::|crash-|timeout-|oom-|leak-|deadly"
  local status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ]; then
    echo "[fuzz] $name FAILED (exit $status); full log: $OUT/last-run-$name.log; inputs: $OUT/artifacts/" >&2
    exit "$status"
  fi
  echo "[fuzz] $name OK: no crash, sanitizer report, timeout or memory blow-up"
}

EXTRA=("$@")
export SWIFT_BACKTRACE=enable=no          # let libFuzzer report crashes itself
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:symbolize=1}"
if [ -z "$ONLY" ] || [ "$ONLY" = formats ]; then
  fuzz_target formats SMMFormat "$HERE/fuzz/smm.dict" "$ROOT"/Sources/SMMFormat/*.swift "$HERE/fuzz/FuzzMain.swift"
fi
if [ -z "$ONLY" ] || [ "$ONLY" = tokenizers ]; then
  fuzz_target tokenizers SMMTokenizers "" "$ROOT"/Sources/SMMTokenizers/*.swift "$HERE/fuzz/FuzzTokenizers.swift"
fi
