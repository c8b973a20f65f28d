#!/usr/bin/env bash
# A small-scale version of the lecture's jigsaw table (Noroozi & Favaro 2016, table 3): for
# permutation sets of several sizes and minimum Hamming distances, the set's average and
# minimum distance, the jigsaw task accuracy on held-out images and the linear-probe accuracy
# of the encoder, on Fashion-MNIST with the small ConvNet.
#
#   bench/jigsaw_table.sh                    # default rows; STEPS per row (default 200)
#   ROWS="1000:0:maximal 100:0:maximal" bench/jigsaw_table.sh
source "$(dirname "$0")/common.sh"
OUT="${OUT:-bench/out/jigsaw_table}"
STEPS="${STEPS:-200}"
LIMIT="${LIMIT:-10000}"   # linear probe fitted on this many training images
ROWS="${ROWS:-1000:0:maximal 1000:0:average 1000:0:minimal 100:0:maximal 95:3:maximal 35:6:maximal 10:7:maximal 6:9:maximal}"
mkdir -p "$OUT"

printf '%-6s %-9s %-8s %-8s %-10s %-10s\n' perms selection avg_dist min_dist task_acc linear
for row in $ROWS; do
  IFS=: read -r count mind sel <<<"$row"
  name="$count-d$mind-$sel"
  perms="$OUT/$name.perms"
  "$P" permutations --count "$count" --min-distance "$mind" --selection "$sel" --out "$perms" >"$OUT/$name.txt"
  avg=$(grep -o 'average Hamming distance [0-9.]*' "$OUT/$name.txt" | awk '{print $4}')
  min=$(grep -o 'minimum [0-9]*' "$OUT/$name.txt" | awk '{print $2}')
  n=$(grep -o '^[0-9]* permutations' "$OUT/$name.txt" | awk '{print $1}')
  rm -rf "$OUT/$name"
  "$P" pretrain --method jigsaw --data "$D" --epochs 1 --max-steps "$STEPS" --batch-size 128 \
    --lr 0.05 --set method.permutations="\"$perms\"" --out "$OUT/$name" --quiet >/dev/null
  task=$("$P" eval task --checkpoint "$OUT/$name" --limit 2000 --json | python3 -c 'import json,sys; print(round(100*json.load(sys.stdin)["jigsaw_acc"],1))')
  linear=$(score linear --checkpoint "$OUT/$name" --data "$D" --limit "$LIMIT")
  printf '%-6s %-9s %-8s %-8s %-10s %-10s\n' "$n" "$sel" "$avg" "$min" "$task" "$linear"
done
random=$(score linear --random-init --encoder convnet-small --data "$D" --limit "$LIMIT")
printf '%-6s %-9s %-8s %-8s %-10s %-10s\n' "-" random-init "-" "-" "-" "$random"
