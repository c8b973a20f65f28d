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
#   DETECT_EPOCHS=6 bench/jigsaw_table.sh    # adds the lecture's detection column: AP50 of
#                                            # `pretext detect` from each encoder on the scenes
#                                            # benchmark (2000 training, 500 test scenes)
source "$(dirname "$0")/common.sh"
OUT="${OUT:-bench/out/jigsaw_table}"
STEPS="${STEPS:-200}"
LIMIT="${LIMIT:-10000}"   # linear probe fitted on this many training images
SEEDS="${SEEDS:-0 1 2}"
PRECISE_BN="${PRECISE_BN:-10000}"
DETECT_EPOCHS="${DETECT_EPOCHS:-0}"   # 0: no detection column
ROWS="${ROWS:-1000:0:maximal 1000:0:average 1000:0:minimal 100:0:maximal 95:3:maximal 35:6:maximal 10:7:maximal 6:9:maximal}"
mkdir -p "$OUT"
if [ "$DETECT_EPOCHS" -gt 0 ]; then
  scenes="$OUT/scenes"
  [ -f "$scenes/annotations/instances_val.json" ] ||
    "$P" data scenes --from "$D" --out "$scenes" --train 2000 --test 500 --seed 0 >/dev/null
fi
# AP50 (%) of a detector trained for DETECT_EPOCHS on the scenes from the encoder args "$@".
detect_ap50() {
  local run="$1"; shift
  [ -f "$run/detection.json" ] || { rm -rf "$run"; "$P" detect "$@" --data \
    "coco:$scenes/annotations/instances_train.json" --epochs "$DETECT_EPOCHS" --out "$run" --quiet >/dev/null; }
  python3 -c 'import json,sys; print("%.2f" % (100*json.load(open(sys.argv[1]))["coco"]["ap50"]))' "$run/detection.json"
}

detect_head=""; detect_rule=""
[ "$DETECT_EPOCHS" -gt 0 ] && detect_head=" detection AP50 |" && detect_rule="---|"
echo "| permutations | selection | average distance | minimum distance | task accuracy | linear | linear, precise BN |$detect_head"
echo "|---|---|---|---|---|---|---|$detect_rule"
for row in $ROWS; do
  IFS=: read -r count mind sel <<<"$row"
  name="$count-d$mind-$sel"
  perms="$OUT/$name.perms"
  "$P" permutations --count "$count" --min-distance "$mind" --selection "$sel" --out "$perms" >"$OUT/$name.txt"
  avg=$(grep -o 'average Hamming distance [0-9.]*' "$OUT/$name.txt" | awk '{print $4}')
  min=$(grep -o 'minimum [0-9]*' "$OUT/$name.txt" | awk '{print $2}')
  n=$(grep -o '^[0-9]* permutations' "$OUT/$name.txt" | awk '{print $1}')
  task=(); linear=(); precise=(); detection=()
  for seed in $SEEDS; do
    run="$OUT/$name-s$seed"
    rm -rf "$run"
    "$P" pretrain --method jigsaw --data "$D" --epochs 1 --max-steps "$STEPS" --batch-size 128 \
      --lr 0.05 --seed "$seed" --set method.permutations="\"$perms\"" --out "$run" --quiet >/dev/null
    task+=("$("$P" eval task --checkpoint "$run" --limit 2000 --json | python3 -c 'import json,sys; print(100*json.load(sys.stdin)["jigsaw_acc"])')")
    linear+=("$(score linear --checkpoint "$run" --data "$D" --limit "$LIMIT")")
    precise+=("$(score linear --checkpoint "$run" --data "$D" --limit "$LIMIT" --precise-bn "$PRECISE_BN")")
    [ "$DETECT_EPOCHS" -gt 0 ] && detection+=("$(detect_ap50 "$run-det" --from "$run" --seed "$seed")")
  done
  cell=""; [ "$DETECT_EPOCHS" -gt 0 ] && cell=" $(mean_sd "${detection[@]}") |"
  echo "| $n | $sel | $avg | $min | $(mean_sd "${task[@]}") | $(mean_sd "${linear[@]}") | $(mean_sd "${precise[@]}") |$cell"
done
random=(); precise=(); detection=()
for seed in $SEEDS; do
  like=(--random-init --like "$OUT/$name-s$seed" --seed "$seed" --data "$D" --limit "$LIMIT")
  random+=("$(score linear "${like[@]}")")
  precise+=("$(score linear "${like[@]}" --precise-bn "$PRECISE_BN")")
  # Detection from random init: the same detector trained from scratch.
  [ "$DETECT_EPOCHS" -gt 0 ] && detection+=("$(detect_ap50 "$OUT/scratch-det-s$seed" --scratch --seed "$seed")")
done
cell=""; [ "$DETECT_EPOCHS" -gt 0 ] && cell=" $(mean_sd "${detection[@]}") |"
echo "| – | random init | – | – | – | $(mean_sd "${random[@]}") | $(mean_sd "${precise[@]}") |$cell"
echo
echo "$STEPS jigsaw steps per row, seeds $SEEDS (mean ± sample sd); linear probe fitted on $LIMIT training images; precise BN on $PRECISE_BN."
