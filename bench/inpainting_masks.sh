#!/usr/bin/env bash
# Context encoders' mask ablation (Pathak et al. 2016, §3.3 and table 1: central square <
# random block < random region for feature learning) on Fashion-MNIST: for each mask kind
# and seed the small ConvNet trains the inpainting recipe (configs/fashion-mnist/
# inpainting.toml) at SIZE px, then its encoder is scored by linear probe and kNN, with its
# own batch-norm statistics and with statistics re-estimated on 10,000 training images
# (--precise-bn), beside the matched random encoder. Mean ± sample sd over SEEDS. Runs that
# reached STEPS are reused, so the script can be stopped and rerun.
#
#   bench/inpainting_masks.sh                       # 28 px, 300 steps, seeds 0 1 2 (≈ 1 h on 2 cores)
#   SIZE=64 MASKS="central-square random-region" bench/inpainting_masks.sh
source "$(dirname "$0")/common.sh"
SIZE="${SIZE:-28}"
STEPS="${STEPS:-300}"
SEEDS="${SEEDS:-0 1 2}"
PRECISE_BN="${PRECISE_BN:-10000}"
MASKS="${MASKS:-central-square random-blocks random-region}"
OUT="${OUT:-bench/out/inpainting_masks}"
mkdir -p "$OUT"

echo "| mask | encoder | linear | linear, precise BN | kNN | kNN, precise BN | hole MSE (held out) |"
echo "|---|---|---|---|---|---|---|"
for mask in $MASKS; do
  cells=(); random=(); mse=()
  for seed in $SEEDS; do
    run="$OUT/$mask-${SIZE}px-s$seed"
    if [ "$(last_metric "$run/metrics.jsonl" step 2>/dev/null)" != "$STEPS" ] || [ ! -f "$run/checkpoint.ckpt" ]; then
      rm -rf "$run"
      "$P" pretrain --config configs/fashion-mnist/inpainting.toml --data "$D" --max-steps "$STEPS" \
        --seed "$seed" --set method.mask.kind="\"$mask\"" --set data.image_size="$SIZE" \
        --out "$run" --quiet >/dev/null
    fi
    for who in trained random; do
      enc=(--checkpoint "$run"); [ "$who" = random ] && enc=(--random-init --like "$run" --seed "$seed" --cache-dir "$OUT/random")
      row="$(score linear "${enc[@]}" --data "$D") $(score linear "${enc[@]}" --data "$D" --precise-bn "$PRECISE_BN")"
      row="$row $(score knn "${enc[@]}" --data "$D") $(score knn "${enc[@]}" --data "$D" --precise-bn "$PRECISE_BN")"
      if [ "$who" = trained ]; then cells+=("$row"); else random+=("$row"); fi
    done
    mse+=("$("$P" eval task --checkpoint "$run" --limit 2000 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["hole_mse"])')")
  done
  echo "| $mask | pretrained | $(printf '%s\n' "${cells[@]}" | columns) | $(python3 -c 'import statistics,sys; v=[float(x) for x in sys.argv[1:]]; print("%.4f" % statistics.mean(v))' "${mse[@]}") |"
  echo "| $mask | random init (matched) | $(printf '%s\n' "${random[@]}" | columns) | |"
done
echo
echo "$STEPS steps at $SIZE px per run, seeds $SEEDS (mean ± sample sd); precise BN on $PRECISE_BN training images; Fashion-MNIST test top-1 in percent; hole MSE: the mean over seeds of the task's held-out loss."
