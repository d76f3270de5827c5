#!/usr/bin/env bash
# The main job (kept for `pnpm demo`): examples/semeval-mini/run.sh, the real pipeline — synthetic SemEval-2025
# Task 4 data, a tiny model memorising it, ZJU's two NPO LoRA runs and their TIES merge, an Adaptive RMU layer
# sweep, every model scored. Arguments go to run.sh (--out DIR, --store URI, --parallel N, ...).
set -euo pipefail
exec bash "$(dirname "$0")/semeval-mini/run.sh" --out "${LETHE_DEMO_DIR:-.demo}" "$@"
