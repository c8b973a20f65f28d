#!/usr/bin/env bash
# The lecture's pretext tasks side by side: each method pretrains the small ConvNet for the
# same budget once per seed, then its encoder is scored by linear probe and kNN on
# Fashion-MNIST under two batch-norm protocols (the encoder's own running statistics, and
# statistics re-estimated on 10,000 training images: --precise-bn), next to its matched
# randomly initialised encoder (`--random-init --like`: same network, same input). Cells are
# mean ± sample sd over SEEDS. Colorization trains with its recipe
# (configs/photos/colorization.toml, COLOR_STEPS steps, default its 1,000) on colour
# photographs (64-px crops of Debian's mate-backgrounds and plasma-workspace-wallpapers) and
# is scored the same way: its encoder takes lightness at the recipe's 32 px, and
# Fashion-MNIST's gray images are converted to it. Its task column is scored on the crops of
# the held-out photos, beside the answer "gray" (a = b = 0).
#
# A run in OUT that already reached STEPS is reused (and its cached features), so the script
# can be stopped and run again, or run seed by seed.
#
#   bench/pretext_tasks.sh               # STEPS per method (default 300, batch 128), SEEDS "0 1 2"
#   METHODS="jigsaw inpainting" SEEDS=0 bench/pretext_tasks.sh
source "$(dirname "$0")/common.sh"
OUT="${OUT:-bench/out/pretext_tasks}"
STEPS="${STEPS:-300}"
COLOR_STEPS="${COLOR_STEPS:-1000}"
SEEDS="${SEEDS:-0 1 2}"
PRECISE_BN="${PRECISE_BN:-10000}"
METHODS="${METHODS:-rotation relative-patch jigsaw inpainting colorization}"
mkdir -p "$OUT"

photos="$OUT/photos"
if [ ! -d "$photos/train" ]; then
  if [ ! -d /usr/share/backgrounds/mate/nature ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get install -y -qq mate-backgrounds plasma-workspace-wallpapers >/dev/null
  fi
  mkdir -p "$OUT/originals"
  find /usr/share/backgrounds/mate/nature /usr/share/wallpapers -type f \( -iname '*.jpg' -o -iname '*.png' \) \
    -size +100k | sort | while read -r f; do ln -sf "$f" "$OUT/originals/$(echo "$f" | tr '/' '_')"; done
  "$P" data crops "$OUT/originals" --out "$photos" --size 64 --per-image 100 --max-zoom 6 --test-fraction 0.1 >/dev/null
fi

# Four scores of one encoder: linear, linear with precise BN, kNN, kNN with precise BN.
scores() {
  echo "$(score linear "$@") $(score linear "$@" --precise-bn "$PRECISE_BN")" \
    "$(score knn "$@") $(score knn "$@" --precise-bn "$PRECISE_BN")"
}

echo "| method | encoder | linear | linear, precise BN | kNN | kNN, precise BN | pretext task (held out, seed ${SEEDS%% *}) |"
echo "|---|---|---|---|---|---|---|"
for m in $METHODS; do
  trained=(); random=()
  for seed in $SEEDS; do
    run="$OUT/$m-s$seed"
    steps=$STEPS; [ "$m" = colorization ] && steps=$COLOR_STEPS
    if [ "$(last_metric "$run/metrics.jsonl" step 2>/dev/null)" = "$steps" ] && [ -f "$run/checkpoint.ckpt" ]; then
      echo "reusing $run" >&2
    else
      rm -rf "$run"
      case $m in
        colorization)
          "$P" pretrain --config configs/photos/colorization.toml --data "folder:$photos" \
            --max-steps "$steps" --seed "$seed" --out "$run" --quiet >/dev/null ;;
        *)
          "$P" pretrain --method "$m" --data "$D" --epochs 1 --max-steps "$STEPS" --batch-size 128 \
            --lr 0.05 --seed "$seed" --out "$run" --quiet >/dev/null ;;
      esac
    fi
    trained+=("$(scores --checkpoint "$run" --data "$D")")
    random+=("$(scores --random-init --like "$run" --seed "$seed" --data "$D" --cache-dir "$OUT/random")")
  done
  run="$OUT/$m-s${SEEDS%% *}"
  limit=2000; [ "$m" = colorization ] && limit=500
  task=$("$P" eval task --checkpoint "$run" --limit "$limit")
  echo "| $m | pretrained | $(printf '%s\n' "${trained[@]}" | columns) | $task |"
  echo "| $m | random init (matched) | $(printf '%s\n' "${random[@]}" | columns) | |"
done
echo
echo "$STEPS steps per method (colorization: $COLOR_STEPS of its recipe), seeds $SEEDS (mean ± sample sd); precise BN on $PRECISE_BN training images; Fashion-MNIST test top-1 in percent."
