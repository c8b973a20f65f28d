#!/usr/bin/env bash
# A small-scale version of the lecture's jigsaw table (Noroozi & Favaro 2016, table 3): for
# permutation sets of several sizes and minimum Hamming distances, the set's average and
# minimum distance, the jigsaw task accuracy on held-out images and the linear-probe accuracy
# of the encoder (its own batch-norm statistics, and re-estimated ones: --precise-bn), on
# Fashion-MNIST with the small ConvNet; mean ± sample sd over SEEDS, beside the matched
# random-init encoder.
#
#   bench/jigsaw_table.sh                    # default rows; STEPS per row (default 200), SEEDS "0 1 2"
#   ROWS="1000:0:maximal 100:0:maximal" bench/jigsaw_table.sh
source "$(dirname "$0")/common.sh"
OUT="${OUT:-bench/out/jigsaw_table}"
STEPS="${STEPS:-200}"
LIMIT="${LIMIT:-10000}"   # linear probe fitted on this many training images
SEEDS="${SEEDS:-0 1 2}"
PRECISE_BN="${PRECISE_BN:-10000}"
ROWS="${ROWS:-1000:0:maximal 1000:0:average 1000:0:minimal 100:0:maximal 95:3:maximal 35:6:maximal 10:7:maximal 6:9:maximal}"
mkdir -p "$OUT"

echo "| permutations | selection | average distance | minimum distance | task accuracy | linear | linear, precise BN |"
echo "|---|---|---|---|---|---|---|"
for row in $ROWS; do
  IFS=: read -r count mind sel <<<"$row"
  name="$count-d$mind-$sel"
  perms="$OUT/$name.perms"
  "$P" permutations --count "$count" --min-distance "$mind" --selection "$sel" --out "$perms" >"$OUT/$name.txt"
  avg=$(grep -o 'average Hamming distance [0-9.]*' "$OUT/$name.txt" | awk '{print $4}')
  min=$(grep -o 'minimum [0-9]*' "$OUT/$name.txt" | awk '{print $2}')
  n=$(grep -o '^[0-9]* permutations' "$OUT/$name.txt" | awk '{print $1}')
  task=(); linear=(); precise=()
  for seed in $SEEDS; do
    run="$OUT/$name-s$seed"
    rm -rf "$run"
    "$P" pretrain --method jigsaw --data "$D" --epochs 1 --max-steps "$STEPS" --batch-size 128 \
      --lr 0.05 --seed "$seed" --set method.permutations="\"$perms\"" --out "$run" --quiet >/dev/null
    task+=("$("$P" eval task --checkpoint "$run" --limit 2000 --json | python3 -c 'import json,sys; print(100*json.load(sys.stdin)["jigsaw_acc"])')")
    linear+=("$(score linear --checkpoint "$run" --data "$D" --limit "$LIMIT")")
    precise+=("$(score linear --checkpoint "$run" --data "$D" --limit "$LIMIT" --precise-bn "$PRECISE_BN")")
  done
  echo "| $n | $sel | $avg | $min | $(mean_sd "${task[@]}") | $(mean_sd "${linear[@]}") | $(mean_sd "${precise[@]}") |"
done
random=(); precise=()
for seed in $SEEDS; do
  like=(--random-init --like "$OUT/$name-s$seed" --seed "$seed" --data "$D" --limit "$LIMIT")
  random+=("$(score linear "${like[@]}")")
  precise+=("$(score linear "${like[@]}" --precise-bn "$PRECISE_BN")")
done
echo "| – | random init | – | – | – | $(mean_sd "${random[@]}") | $(mean_sd "${precise[@]}") |"
echo
echo "$STEPS jigsaw steps per row, seeds $SEEDS (mean ± sample sd); linear probe fitted on $LIMIT training images; precise BN on $PRECISE_BN."
