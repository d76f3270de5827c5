#!/usr/bin/env bash
# SemEval-2025 Task 4 in miniature, for real, on a laptop CPU: synthesise the data, memorise it with a tiny
# model, unlearn it the two SemEval ways (ZJU: two NPO LoRA runs and a TIES merge of their adapters; Mr.
# Snuffleupagus: Adaptive RMU with a layer sweep), score every model with the official metrics and print one table.
# Every stage is a Lethe CLI and a tracked run; the stages talk only through checkpoints in the store.
#
#   bash examples/semeval-mini/run.sh [--out DIR] [--store URI] [--parallel N] [--threads N] [--small] [--fresh]
#     --out DIR      data, evaluations, results.json and the runs (default .demo)
#     --store URI    where checkpoints go: a directory, file:// or s3://bucket/prefix (default DIR/checkpoints)
#     --parallel N   RMU trials at once (default: 2 with ≥ 4 cores, else 1)
#     --threads N    ONNX Runtime threads per op of each stage (default 1: the tiny model gains nothing from more)
#     --small        the reduced setting the integration test runs (fewer rows, epochs and sweep layers)
#     --fresh        replace an earlier run in DIR (its checkpoints are immutable, so a second run needs this or a
#                    new --out); the tracked runs in DIR/runs are kept
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
here="$repo/examples/semeval-mini"
bin="$repo/node_modules/.bin"
out=.demo
store=
threads=1
small=0
fresh=0
cores=$(nproc 2>/dev/null || echo 2)
parallel=$((cores >= 4 ? 2 : 1))
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --store) store="$2"; shift 2 ;;
    --parallel) parallel="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    --small) small=1; shift ;;
    --fresh) fresh=1; shift ;;
    *) echo "semeval-mini: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
out="$(cd "$out" && pwd)"
default_store="$out/checkpoints"
store="${store:-$default_store}"
store="${store%/}"
# Checkpoints are immutable: a second run into the same place would stop at the first one it writes.
if [ -e "$store/base" ] || [ -e "$out/results.json" ]; then
  if [ "$fresh" = 1 ] && [ "$store" = "$default_store" ]; then
    echo "semeval-mini: --fresh: removing the earlier run's checkpoints, evaluations and results under $out"
    rm -rf "$default_store" "$out/results.json"
  elif [ "$fresh" = 1 ]; then
    echo "semeval-mini: $store holds an earlier run's checkpoints; --fresh only clears the default store under --out: pass an empty --store" >&2
    exit 2
  else
    echo "semeval-mini: $out already holds a run (checkpoints are immutable): pass --fresh to replace it, or --out DIR for a new one" >&2
    exit 2
  fi
fi
export LETHE_RUNS_DIR="${LETHE_RUNS_DIR:-$out/runs}"
export WANDB_RUN_GROUP="${WANDB_RUN_GROUP:-semeval-mini-$(date +%Y%m%d-%H%M%S)}"

# The setting (see README.md beside this script for what each number gives).
if [ "$small" = 1 ]; then
  qa=3 sc=2 layers=(1 2 3) sft_epochs=40 zju_epochs=5 rmu_epochs=15 mmlu_ntrain=0
else
  qa=6 sc=4 layers=(1 2 3) sft_epochs=40 zju_epochs=10 rmu_epochs=20 mmlu_ntrain=5
fi
shape=(--arch olmo --layers 4 --hidden 64 --heads 4 --intermediate 256 --vocab-size 512)
started=$(date +%s)
step() { echo; echo "== [$(( $(date +%s) - started ))s] $*"; }

step "1. synthetic SemEval-2025 Task 4 data (lethe-data synth), the mini task set"
rm -rf "$out/data" "$out/mini" "$out/eval" "$out/rmu-eval"
"$bin/lethe-data" synth --out "$out/data" --seed 1 --size small
node "$here/subset.mjs" "$out/data" "$out/mini" --qa "$qa" --sc "$sc"
"$bin/lethe-data" validate "$out/mini/forget.jsonl" "$out/mini/retain.jsonl"
cat > "$out/train.yml" <<YAML
# The data every lethe-train run below reads; the rest is the preset plus the flags on each command line.
data:
  forget: $out/mini/forget.jsonl
  retain: $out/mini/retain.jsonl
  max_len: 64
YAML
train() { "$bin/lethe-train" "$out/train.yml" --threads "$threads" "$@"; }

step "2. a tiny OLMo-style model (lethe-model init), fine-tuned until it has memorised forget and retain (sft)"
"$bin/lethe-model" init "$store/base" "${shape[@]}" --vocab-from "$out/data/corpus.txt" --seed 1
train --preset sft --model="$store/base" --out="$store/memorised" --epochs="$sft_epochs" --optim.lr=3e-3 \
  --save_every_epoch=false

step "3. ZJU: over- and under-forgetting NPO LoRA runs, then a TIES merge of the two adapters"
train --preset zju-over --model="$store/memorised/final" --out="$store/zju-over" --epochs="$zju_epochs" --optim.lr=2e-3
train --preset zju-under --model="$store/memorised/final" --out="$store/zju-under" --epochs="$zju_epochs" --optim.lr=2e-3
cat > "$out/ties.yml" <<YAML
# ZJU's merge: TIES over the two LoRA adapters, density 0.8, weights 1 and 1.
merge_method: ties
base_model: $store/memorised/final
models:
  - model: $store/zju-over/final
    parameters: {weight: 1.0, density: 0.8}
  - model: $store/zju-under/final
    parameters: {weight: 1.0, density: 0.8}
YAML
"$bin/lethe-merge" "$out/ties.yml" "$store/ties-factorwise" --lora factorwise --threads "$threads"
"$bin/lethe-merge" "$out/ties.yml" "$store/ties-delta" --lora delta --threads "$threads"

step "4. Adaptive RMU: a layer sweep (lethe-track sweep over lethe-train, ${#layers[@]} layers, $parallel at once)"
eval_flags=(--max-new-tokens 24 --ntrain "$mmlu_ntrain")
mkdir -p "$out/rmu-eval"
{
  echo "# Adaptive RMU on the memorised model: one trial per hook layer (MLP weights of layers ℓ−2..ℓ trained)."
  echo "name: semeval-mini-adaptive-rmu"
  echo "program: $repo/examples/sweeps/rmu-and-score.mjs"
  echo "method: grid"
  echo "metric: {name: eval/final, goal: maximize}"
  echo "parameters:"
  echo "  layer: {values: [$(IFS=,; echo "${layers[*]}")]}"
  echo "  config: {value: $out/train.yml}"
  echo "  preset: {value: adaptive-rmu-1b}"
  echo "  base: {value: $store/memorised/final}"
  echo "  epochs: {value: $rmu_epochs}"
  echo "  optim.lr: {value: 1.0e-2}"
  echo "  loss.rmu.alpha: {value: 1000}"
  echo "  loss.rmu.coeff: {value: once}"
  echo "  threads: {value: $threads}"
  echo "  out_root: {value: $store/rmu}"
  echo "  eval_root: {value: $out/rmu-eval}"
  echo "  eval.forget: {value: $out/mini/forget.jsonl}"
  echo "  eval.retain: {value: $out/mini/retain.jsonl}"
  echo "  eval.mia-member: {value: $out/data/member.jsonl}"
  echo "  eval.mia-nonmember: {value: $out/data/nonmember.jsonl}"
  echo "  eval.mmlu: {value: $out/data/mmlu}"
  echo "  eval.ntrain: {value: $mmlu_ntrain}"
  echo "  eval.max-new-tokens: {value: 24}"
  echo "  eval.base: {value: $store/memorised/final}"
} > "$out/rmu-sweep.yml"
"$bin/lethe-track" sweep "$out/rmu-sweep.yml" --parallel "$parallel" --group "$WANDB_RUN_GROUP" --quiet

step "5. score every model (lethe-eval run), layer-wise against the memorised model"
mkdir -p "$out/eval"
evaluate() {
  local name="$1"; shift
  echo "-- $name"
  "$bin/lethe-eval" run "$@" --forget "$out/mini/forget.jsonl" --retain "$out/mini/retain.jsonl" \
    --mia-member "$out/data/member.jsonl" --mia-nonmember "$out/data/nonmember.jsonl" --mmlu "$out/data/mmlu" \
    "${eval_flags[@]}" --base "$store/memorised/final" --out "$out/eval/$name.json" 2>&1 | grep -v '^\(generate\|MIA\|MMLU\):'
}
evaluate memorised "$store/memorised/final"
evaluate zju-over "$store/memorised/final" --adapter "$store/zju-over/final"
evaluate zju-under "$store/memorised/final" --adapter "$store/zju-under/final"
evaluate ties-factorwise "$store/memorised/final" --adapter "$store/ties-factorwise"
evaluate ties-delta "$store/ties-delta"

step "6. the comparison table and results.json"
node "$here/table.mjs" "$out" "$store"
echo
echo "done in $(( $(date +%s) - started ))s: data, evaluations and results.json under $out, checkpoints under $store"
echo "see the runs with: $bin/lethe-track dashboard --runs $LETHE_RUNS_DIR"
