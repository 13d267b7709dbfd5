#!/usr/bin/env bash
# Builds and runs the Examples package (Examples/, depending on this package by path) on the real
# all-MiniLM-L6-v2, and checks what the programs print, so that a change that breaks the public
# API or its results fails CI. Debug build: the examples are small and this saves CI minutes.
# Usage: bash Tools/examples.sh   (after Tools/fetch_minilm.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export SMM_MODELS_DIR="${SMM_MODELS_DIR:-$PWD/Weights/models}"
swift build --package-path Examples
bin=$(swift build --package-path Examples --show-bin-path)
data="$PWD/Examples/Data"

# Started from / on purpose: nothing may depend on the working directory.
search=$(cd / && "$bin/SemanticSearch" --top 2 "$data/sentences.txt" \
  "a goalkeeper stopped a spot kick" "astronomers discovered an exoplanet" "the laptop ran out of RAM")
echo "$search"
# The best hit of each query is the sentence that says the same thing in other words.
first_hits=$(echo "$search" | awk '/^query:/{getline; print}')
echo "$first_hits" | sed -n 1p | grep -q "saved a penalty" || { echo "examples: search 1 missed" >&2; exit 1; }
echo "$first_hits" | sed -n 2p | grep -q "planet orbiting" || { echo "examples: search 2 missed" >&2; exit 1; }
echo "$first_hits" | sed -n 3p | grep -q "out of memory" || { echo "examples: search 3 missed" >&2; exit 1; }

sentiment=$(cd / && "$bin/HeadlineSentiment" "$data/headlines.txt")
echo "$sentiment" | tail -4
lines=$(echo "$sentiment" | grep -cE '^(positive|negative|neutral) ')
[ "$lines" -eq "$(grep -c . Examples/Data/headlines.txt)" ] || { echo "examples: $lines labels for $(grep -c . Examples/Data/headlines.txt) headlines" >&2; exit 1; }
echo "$sentiment" | grep -q "zero-shot-embedding" || { echo "examples: no method line" >&2; exit 1; }
echo "examples: OK"
