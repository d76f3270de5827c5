#!/usr/bin/env bash
# The main job on the embedded default: synthetic SemEval-2025 Task 4 data, a tiny OLMo-style model built
# here, a TIES merge of two specialised models into one, and the official score of the result with a
# layer-wise comparison against the base — every step a Lethe stage CLI, every result a tracked run.
#
# Until the trainer lands, the two "unlearned" models are stand-ins: the base moved a little toward two
# different random models (linear merges), so the TIES step has two real, different task vectors to merge.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${LETHE_DEMO_DIR:-.demo}"
bin="$PWD/node_modules/.bin"
rm -rf "$out"
mkdir -p "$out"
export LETHE_RUNS_DIR="${LETHE_RUNS_DIR:-$out/runs}"

echo "== 1. synthetic SemEval-2025 Task 4 data (forget/retain, MIA, MMLU)"
"$bin/lethe-data" synth --out "$out/data" --seed 1 --size small

echo "== 2. a tiny OLMo-style base model with a byte-level BPE tokenizer trained on the corpus"
model_shape=(--arch olmo --layers 2 --hidden 64 --heads 4 --intermediate 256 --vocab-from "$out/data/corpus.txt" --vocab-size 512)
"$bin/lethe-model" init "$out/base" "${model_shape[@]}" --seed 1
for seed in 2 3; do "$bin/lethe-model" init "$out/noise-$seed" "${model_shape[@]}" --seed "$seed" >/dev/null; done

echo "== 3. two specialised stand-ins (base nudged toward different directions)"
for pair in "a 2" "b 3"; do
  set -- $pair
  cat > "$out/specialise-$1.yml" <<YAML
merge_method: linear
models:
  - model: $out/base
    parameters: {weight: 0.9}
  - model: $out/noise-$2
    parameters: {weight: 0.1}
dtype: float32
YAML
  "$bin/lethe-merge" "$out/specialise-$1.yml" "$out/model-$1" --quiet
done

echo "== 4. TIES merge (mergekit semantics: density 0.5, equal weights)"
cat > "$out/ties.yml" <<YAML
merge_method: ties
base_model: $out/base
models:
  - model: $out/model-a
    parameters: {weight: 1.0, density: 0.5}
  - model: $out/model-b
    parameters: {weight: 1.0, density: 0.5}
parameters: {normalize: true}
dtype: float32
YAML
"$bin/lethe-merge" "$out/ties.yml" "$out/merged"
"$bin/lethe-ckpt" verify "$out/merged"

echo "== 5. the official score, MIA, MMLU and the layer-wise comparison against the base"
"$bin/lethe-eval" run "$out/merged" --base "$out/base" \
  --forget "$out/data/forget.jsonl" --retain "$out/data/retain.jsonl" \
  --mia-member "$out/data/member.jsonl" --mia-nonmember "$out/data/nonmember.jsonl" \
  --mmlu "$out/data/mmlu" --max-new-tokens 16 --out "$out/eval.json"

echo
echo "done: checkpoints, eval.json and tracked runs are under $out"
echo "see them with: $bin/lethe-track dashboard --runs $LETHE_RUNS_DIR"
