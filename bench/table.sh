#!/usr/bin/env bash
# The benchmark table: for a dataset and a compute budget, every method pretrains the small
# ConvNet from its recipe (configs/<dataset>/), then each encoder is scored by linear probe
# and kNN (all labels), fine-tuning on 1 % and 10 % of the labels, and retrieval mAP, beside
# the randomly initialised encoder (linear, kNN, retrieval) and the same network trained from
# scratch (fine-tuning). Writes TABLE.md (Markdown, also printed) and report/index.html
# (`pretext report` over every run) into OUT. A run already trained for STEPS steps in OUT is
# reused, a shorter one resumed, so the script can be stopped and restarted.
#
# Budget: STEPS pretraining steps of 128 images per method; fine-tuning follows SimCLR's
# recipe (`pretext finetune`) at LR, 60 epochs on 1 % of the labels and FT10_EPOCHS (default
# 10, SimCLR: 30) on 10 %.
#
#   bench/table.sh                                  # Fashion-MNIST, 300 steps (≈ 3 h on 2 cores)
#   METHODS="simclr vicreg" STEPS=100 OUT=/tmp/t bench/table.sh
source "$(dirname "$0")/common.sh"
CONFIGS="${CONFIGS:-configs/fashion-mnist}"
DATA="${DATA:-$D}"
STEPS="${STEPS:-300}"
LR="${LR:-0.4}"
FT10_EPOCHS="${FT10_EPOCHS:-10}"
OUT="${OUT:-bench/out/table}"
METHODS="${METHODS:-$(ls "$CONFIGS" | sed -n 's/\.toml$//p' | tr '\n' ' ')}"
mkdir -p "$OUT"
pct() { python3 -c 'import json,sys; j=json.load(sys.stdin); print("%.2f" % (100*j[sys.argv[1]]))' "$1"; }
steps_done() { python3 -c 'import json,sys
try: print(int(json.loads(open(sys.argv[1]).read().splitlines()[-1])["step"]))
except Exception: print(0)' "$1/metrics.jsonl"; }

finetune() { # ENCODER_ARGS... -- FRACTION EPOCHS RUN
  local args=() ; while [ "$1" != -- ]; do args+=("$1"); shift; done; shift
  local run="$3"
  if [ -f "$run/finetune.json" ]; then pct top1 < "$run/finetune.json"; return; fi
  rm -rf "$run"
  "$P" finetune "${args[@]}" --label-fraction "$1" --epochs "$2" --lr "$LR" --out "$run" \
    --quiet --json | pct top1
}

rows=()
runs=()
for m in $METHODS; do
  run="$OUT/$m"
  done_steps=$(steps_done "$run")
  if [ "$done_steps" -lt "$STEPS" ]; then
    resume=(); [ -f "$run/checkpoint.ckpt" ] && resume=(--resume)
    "$P" pretrain --config "$CONFIGS/$m.toml" --data "$DATA" --max-steps "$STEPS" --out "$run" \
      --quiet "${resume[@]}" >/dev/null
  fi
  # One assignment per cell: a failing command stops the script (set -e) instead of leaving
  # an empty cell.
  enc=(--checkpoint "$run" --data "$DATA")
  linear=$(score linear "${enc[@]}")
  knn=$(score knn "${enc[@]}")
  ft1=$(finetune --from "$run" -- 0.01 60 "$OUT/finetune/$m-1")
  ft10=$(finetune --from "$run" -- 0.1 "$FT10_EPOCHS" "$OUT/finetune/$m-10")
  map=$("$P" retrieve "${enc[@]}" --json | pct map)
  rows+=("| $m | $linear | $knn | $ft1 | $ft10 | $map |")
  runs+=("$run")
done
random=(--random-init --encoder convnet-small --data "$DATA" --cache-dir "$OUT/random")
linear=$(score linear "${random[@]}")
knn=$(score knn "${random[@]}")
ft1=$(finetune --scratch --data "$DATA" -- 0.01 60 "$OUT/finetune/scratch-1")
ft10=$(finetune --scratch --data "$DATA" -- 0.1 "$FT10_EPOCHS" "$OUT/finetune/scratch-10")
map=$("$P" retrieve "${random[@]}" --json | pct map)
rows+=("| random init / from scratch | $linear | $knn | $ft1 | $ft10 | $map |")

{
  echo "| encoder | linear top-1 | kNN top-1 | fine-tune 1 % | fine-tune 10 % | retrieval mAP |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Data $DATA; $STEPS pretraining steps per method; fine-tuning at lr $LR (× B/256), 60 epochs on 1 % and $FT10_EPOCHS on 10 % of the labels; percent on the test split."
} | tee "$OUT/TABLE.md"
"$P" report "${runs[@]}" --out "$OUT/report" --map-points 1000 >/dev/null
echo "report: $OUT/report/index.html"
