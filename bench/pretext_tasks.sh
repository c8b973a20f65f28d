#!/usr/bin/env bash
# The lecture's pretext tasks side by side: each method pretrains the small ConvNet for the
# same budget, then its encoder is scored by linear probe and kNN on Fashion-MNIST, next to
# the randomly initialised encoder. Colorization trains on colour photographs (Debian's
# mate-backgrounds and plasma-workspace-wallpapers) and is scored the same way: its encoder
# takes lightness, and Fashion-MNIST's gray images are converted to it.
#
#   bench/pretext_tasks.sh               # STEPS per method (default 300, batch 128)
#   METHODS="jigsaw inpainting" bench/pretext_tasks.sh
source "$(dirname "$0")/common.sh"
OUT="${OUT:-bench/out/pretext_tasks}"
STEPS="${STEPS:-300}"
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

printf '%-15s %-10s %-8s %-8s %s\n' method steps linear knn "pretext task (held out)"
for m in $METHODS; do
  run="$OUT/$m"
  rm -rf "$run"
  case $m in
    colorization)
      "$P" pretrain --method colorization --data "folder:$photos" --epochs 100 --max-steps "$STEPS" \
        --batch-size 64 --lr 0.05 --out "$run" --quiet >/dev/null
      task=$("$P" eval task --checkpoint "$run" --limit 500) ;;
    *)
      "$P" pretrain --method "$m" --data "$D" --epochs 1 --max-steps "$STEPS" --batch-size 128 \
        --lr 0.05 --out "$run" --quiet >/dev/null
      task=$("$P" eval task --checkpoint "$run" --limit 2000) ;;
  esac
  printf '%-15s %-10s %-8s %-8s %s\n' "$m" "$STEPS" "$(score linear --checkpoint "$run" --data "$D")" "$(score knn --checkpoint "$run" --data "$D")" "$task"
done
printf '%-15s %-10s %-8s %-8s\n' random-init 0 \
  "$(score linear --random-init --encoder convnet-small --data "$D" --cache-dir "$OUT/random")" \
  "$(score knn --random-init --encoder convnet-small --data "$D" --cache-dir "$OUT/random")"
