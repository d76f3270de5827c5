#!/usr/bin/env bash
# The main job on the embedded default. Everything lands under ${LETHE_DEMO_DIR:-.demo}.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${LETHE_DEMO_DIR:-.demo}"
bin=./node_modules/.bin
rm -rf "$out"
mkdir -p "$out"

echo "== 1. synthetic SemEval-2025 Task 4 data (forget/retain, MIA, MMLU)"
"$bin/lethe-data" synth --out "$out/data" --seed 1 --size small
"$bin/lethe-data" validate "$out/data/forget.jsonl" "$out/data/retain.jsonl" "$out/data/forget.parquet"
