#!/usr/bin/env bash
# The fintech routing story end to end (see README.md): raw vs curated Banking77, same model and budget, with a
# clean-data reference run and a rebalance-only ablation.
# Usage: examples/fintech/run.sh OUT_DIR       the last line printed is a JSON summary
# The fast variant in the tests sets FINTECH_INTENTS (a few intents), FINTECH_OVERRIDES (e.g. a tiny model,
# few steps), FINTECH_CANDIDATES and FINTECH_BUDGET.
# The main path (stages 1-6: inject, audit, curate, choose, fine-tune, pool select, label, retrain, report) comes
# first; the reference runs (stages 7-8: raw, clean, rebalanced-only, a random pick of the same budget) after it.
set -euo pipefail
OUT=${1:?usage: examples/fintech/run.sh OUT_DIR}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
TUNEWISE=${TUNEWISE:-$ROOT/.venv/bin/tunewise}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
CONFIG=$HERE/fintech.yaml
STARTED=$(date +%s)
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT/stages.tsv"   # start times of the stages below, for the summary's minutes_by_stage
read -r -a EXTRA <<< "${FINTECH_OVERRIDES:-}"
CANDIDATES=${FINTECH_CANDIDATES:+select.candidates=$FINTECH_CANDIDATES}
BUDGET=${FINTECH_BUDGET:-900}   # labels the story may ask for, fixed before the first run (README.md)
stage() { printf '\n== %s ==\n' "$*" >&2; printf '%s\t%s\n' "$(date +%s)" "${1:0:40}" >> "$OUT/stages.tsv"; }
at_most_1() { local code=0; "$@" || code=$?; [ "$code" -le 1 ] || exit "$code"; }  # 1 = findings, not a failure

stage "1/8 raw data: Banking77 with injected faults (rates in examples/fintech/README.md), and the pool"
"$PYTHON" "$HERE/story.py" prepare "$OUT" ${FINTECH_INTENTS:+--intents "$FINTECH_INTENTS"}
"$TUNEWISE" inject "$OUT/clean_train.jsonl" --config "$CONFIG" --test "$OUT/test.jsonl" --out "$OUT/raw.jsonl" \
  --seed 13 --skew-rarest 0.3333 --skew-keep 0.15 --exact-duplicate 0.12 --near-duplicate 0.12 \
  --duplicates-from-common 0.3333 --label-noise 0.12 --noise-confusable-only --boilerplate 0.02 --empty 0.01 \
  --leakage 0.03 --pool-out "$OUT/pool.jsonl" --pool-distractors 0.15

stage "2/8 audit and curate the raw data; the ablation: the same rebalancing with no cleaning"
mkdir -p "$OUT/audit"
at_most_1 "$TUNEWISE" audit "$OUT/raw.jsonl" --config "$CONFIG" --against "$OUT/test.jsonl" \
  --json "$OUT/audit/findings.json" --html "$OUT/audit/audit.html"
at_most_1 "$TUNEWISE" curate "$OUT/raw.jsonl" --config "$CONFIG" --against "$OUT/test.jsonl" \
  --findings "$OUT/audit/findings.json" --out "$OUT/curated"
"$PYTHON" "$HERE/story.py" rebalance-only "$OUT"   # fintech.yaml with every cleaning step of `curate` off
at_most_1 "$TUNEWISE" curate "$OUT/raw.jsonl" --config "$OUT/rebalance_only.yaml" --against "$OUT/test.jsonl" \
  --findings "$OUT/audit/findings.json" --out "$OUT/rebalanced"
"$PYTHON" "$HERE/story.py" caught "$OUT"

DATA=(data.test_path="$OUT/test.jsonl")
stage "3/8 choose the model on the curated data"
"$TUNEWISE" select "$CONFIG" data.path="$OUT/curated/curated.jsonl" "${DATA[@]}" ${CANDIDATES:+"$CANDIDATES"} \
  "${EXTRA[@]}" --out "$OUT/select"
PICKED=$("$PYTHON" "$HERE/story.py" pick "$OUT")   # model.name=... [train.objective=...]
read -r -a PICK <<< "$PICKED"

stage "4/8 fine-tune it on the curated data (model.name: auto, the selection above)"
"$TUNEWISE" run "$CONFIG" data.path="$OUT/curated/curated.jsonl" "${DATA[@]}" name=curated \
  ${CANDIDATES:+"$CANDIDATES"} "${EXTRA[@]}" --out "$OUT/runs/curated"

rm -f "$OUT/review.db"
label_pool() {  # NAME [--random]: pick $BUDGET pool rows, label them (the simulated annotator), curate with them
  local name=$1; shift
  "$TUNEWISE" pool select "$OUT/runs/curated" --pool "$OUT/pool.jsonl" --budget "$BUDGET" "$@" \
    --out "$OUT/pool/$name.items.jsonl"
  "$TUNEWISE" review create "$name" --kind label --items "$OUT/pool/$name.items.jsonl" --per-item 1 \
    --db "$OUT/review.db"
  "$PYTHON" "$HERE/story.py" annotate "$OUT" "$name"
  "$TUNEWISE" review export "$name" --labels "$OUT/pool/$name.labels.jsonl" --db "$OUT/review.db"
  at_most_1 "$TUNEWISE" curate "$OUT/raw.jsonl" --config "$CONFIG" --against "$OUT/test.jsonl" \
    --add-labelled "$OUT/pool/$name.labels.jsonl" --out "$OUT/curated_$name"
}
stage "5/8 label $BUDGET pool rows where the data is thin or the model unsure, and curate with them"
mkdir -p "$OUT/pool"
label_pool labelled

stage "6/8 fine-tune it on the curated data plus the labelled pool; the go/no-go report"
"$TUNEWISE" run "$CONFIG" data.path="$OUT/curated_labelled/curated.jsonl" "${DATA[@]}" "${PICK[@]}" name=labelled \
  "${EXTRA[@]}" --out "$OUT/runs/labelled"
"$TUNEWISE" report "$OUT/runs/labelled"

stage "7/8 references: the same model on the raw, clean and rebalanced-only data, and a random pick of $BUDGET"
"$TUNEWISE" run "$CONFIG" data.path="$OUT/raw.jsonl" "${DATA[@]}" "${PICK[@]}" name=raw \
  eval.compare_base=false "${EXTRA[@]}" --out "$OUT/runs/raw"
"$TUNEWISE" run "$CONFIG" data.path="$OUT/clean_train.jsonl" "${DATA[@]}" "${PICK[@]}" name=clean \
  eval.compare_base=false "${EXTRA[@]}" --out "$OUT/runs/clean"
"$TUNEWISE" run "$CONFIG" data.path="$OUT/rebalanced/curated.jsonl" "${DATA[@]}" "${PICK[@]}" name=rebalanced \
  eval.compare_base=false "${EXTRA[@]}" --out "$OUT/runs/rebalanced"
label_pool random --random
"$TUNEWISE" run "$CONFIG" data.path="$OUT/curated_random/curated.jsonl" "${DATA[@]}" "${PICK[@]}" name=random \
  eval.compare_base=false "${EXTRA[@]}" --out "$OUT/runs/random"

stage "8/8 compare on the clean test: curated vs raw, the labelled pool vs the random pick; blind review; reports"
"$TUNEWISE" compare "$OUT/runs/curated" --baseline "$OUT/runs/raw" --curation "$OUT/curated"
"$TUNEWISE" compare "$OUT/runs/labelled" --baseline "$OUT/runs/random" --curation "$OUT/curated_labelled"
"$TUNEWISE" review create fintech --kind pairwise --from-run "$OUT/runs/labelled" --baseline-run "$OUT/runs/raw" \
  --db "$OUT/review.db"
"$TUNEWISE" report "$OUT/runs/curated"
"$TUNEWISE" report "$OUT/runs/labelled"
"$PYTHON" "$HERE/story.py" summary "$OUT" "$STARTED"
