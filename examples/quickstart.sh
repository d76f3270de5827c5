#!/usr/bin/env bash
# One command from a fresh clone: install what Lethe needs, build it, and run the main job (semeval-mini) on the
# embedded default (synthetic SemEval-style data and a tiny model the project builds itself).
set -euo pipefail
cd "$(dirname "$0")/.."
export ONNXRUNTIME_NODE_INSTALL=skip   # the CPU build ships inside onnxruntime-node
command -v pnpm >/dev/null || npm i -g pnpm
pnpm install --frozen-lockfile
pnpm build
bash examples/semeval-mini/run.sh "$@"
