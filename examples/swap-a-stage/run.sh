#!/usr/bin/env bash
# One Lethe stage swapped into somebody else's pipeline, three ways, on the embedded default (synthetic data and a
# tiny model made here; no network, no account):
#   a) score generations another tool wrote to a file (lethe-eval score);
#   b) TIES-merge two PEFT LoRA adapters another tool wrote (lethe-merge --lora factorwise), verify and load it;
#   c) dump a loss and its gradients for a PyTorch parity check (lethe-train grad; the Python side is in README.md).
#
#   bash examples/swap-a-stage/run.sh [--out DIR] [--threads N]
#     --out DIR      everything this writes (default .demo/swap-a-stage)
#     --threads N    ONNX Runtime threads per op for the model-running stages (default 1)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
here="$repo/examples/swap-a-stage"
bin="$repo/node_modules/.bin"
out=.demo/swap-a-stage
threads=1
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --threads) threads="$2"; shift 2 ;;
    *) echo "swap-a-stage: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
out="$(cd "$out" && pwd)"
export LETHE_RUNS_DIR="${LETHE_RUNS_DIR:-$out/runs}"
started=$(date +%s)
step() { echo; echo "== [$(( $(date +%s) - started ))s] $*"; }

step "0. synthetic SemEval-2025 Task 4 data (lethe-data synth) and a tiny random model (lethe-model init)"
rm -rf "$out/data" "$out/base" "$out/a" "$out/b" "$out/c"
"$bin/lethe-data" synth --out "$out/data" --seed 1 --size tiny
"$bin/lethe-model" init "$out/base" --arch olmo --layers 2 --hidden 32 --heads 2 --intermediate 64 \
  --vocab-size 512 --vocab-from "$out/data/corpus.txt" --seed 1

step "a) lethe-eval score: generations written by another tool"
# The other tool's output: the dataset rows plus "generation" (here the gold outputs with words dropped).
node "$here/other-tool-generations.mjs" "$out/data" "$out/a/predictions"
"$bin/lethe-eval" score --forget "$out/a/predictions/forget.jsonl" --retain "$out/a/predictions/retain.jsonl" \
  --out "$out/a/eval.json"

step "b) lethe-merge: TIES over two PEFT adapters written by another tool, PEFT factor-wise"
node "$here/other-tool-adapters.mjs" "$out/base" "$out/b"
cat > "$out/b/ties.yml" <<YAML
# PEFT's add_weighted_adapter(..., combination_type="ties", density=0.8) over the two adapters.
merge_method: ties
base_model: $out/base
models:
  - model: $out/b/adapter-a
    parameters: {weight: 1.0, density: 0.8}
  - model: $out/b/adapter-b
    parameters: {weight: 1.0, density: 0.8}
YAML
"$bin/lethe-merge" "$out/b/ties.yml" "$out/b/merged" --lora factorwise
"$bin/lethe-ckpt" verify "$out/b/merged"
"$bin/lethe-ckpt" inspect "$out/b/merged" | grep -v '^  \(parameters\|metrics\) '
echo "-- loaded: the base's forward pass with the merged adapter, against the base alone (lethe-model forward)"
"$bin/lethe-model" forward "$out/base" --ids "5,6,7,8" --out "$out/b/forward-base.safetensors" --threads "$threads"
"$bin/lethe-model" forward "$out/base" --adapter "$out/b/merged" --ids "5,6,7,8" \
  --out "$out/b/forward-merged.safetensors" --threads "$threads"
node "$here/show-tensors.mjs" "$out/b/forward-merged.safetensors" --minus "$out/b/forward-base.safetensors" \
  --match '^(hidden|logits)'

step "c) lethe-train grad: the ZJU loss on the first batch, its gradients and the batch, for PyTorch"
mkdir -p "$out/c"
cat > "$out/c/train.yml" <<YAML
# zju-over (NPO + KL + NLL on LoRA) on the tiny model; LoRA r 4 and batch 2 keep the dump small.
model: $out/base
out: $out/c/unused   # required by the config schema; grad writes only --out FILE
data: {forget: $out/data/forget.jsonl, retain: $out/data/retain.jsonl, max_len: 32}
params: {lora: {r: 4, alpha: 4}}
batch_size: 2
YAML
"$bin/lethe-train" grad "$out/c/train.yml" --preset zju-over --out "$out/c/grad.safetensors" --threads "$threads"
node "$here/show-tensors.mjs" "$out/c/grad.safetensors" \
  --match '^(loss|batch\.|(grad|value)\..*layers\.0\.self_attn\.q_proj)'

echo
echo "done in $(( $(date +%s) - started ))s under $out: a/eval.json, b/merged (a PEFT adapter), c/grad.safetensors"
echo "the PyTorch side of c) is in $here/README.md"
