#!/usr/bin/env bash
# The BYOL two-view data pipeline against torchvision's transforms v2, one core each, in the
# same run: random resized crop, flip, colour jitter, grayscale, blur and solarisation on
# square crops of Debian's wallpaper photos (`pretext data crops`, PNG), decoding included.
# pretext: `pretrain --method byol --pipeline-only` with one rayon thread; torchvision:
# bench/reference/byol_pipeline.py on uint8 tensors (its fastest path). Then a short BYOL
# training run on the same crops shows how long the trainer waited for data (`data_wait` in
# metrics.jsonl: the share of each logging window spent waiting for the next batch).
# Writes OUT/PIPELINE.md.
#
#   bench/pipeline.sh                    # 32 and 96 px, 2 rounds
#   SIZES=96 ROUNDS=1 bench/pipeline.sh
#
# Needs torch and torchvision in $VENV (see bench/step.sh) and the photos of Debian's
# mate-backgrounds (apt-get install mate-backgrounds).
source "$(dirname "$0")/common.sh"
VENV="${VENV:-$HOME/.cache/pretext-bench-venv}"
SIZES="${SIZES:-32 96}"
ROUNDS="${ROUNDS:-2}"
BATCHES="${BATCHES:-40}"
PHOTOS="${PHOTOS:-/usr/share/backgrounds/mate/nature}"
OUT="${OUT:-bench/out/pipeline}"
PY="$VENV/bin/python"
mkdir -p "$OUT"
[ -d "$PHOTOS" ] || { echo "$PHOTOS not found: apt-get install mate-backgrounds (or set PHOTOS)" >&2; exit 1; }
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

rows=()
for size in $SIZES; do
  crops="$OUT/crops$size"
  [ -d "$crops/train" ] || "$P" data crops "$PHOTOS" --out "$crops" --size "$size" --per-image 100 >/dev/null
  ours=(); theirs=()
  for round in $(seq "$ROUNDS"); do
    ours+=("$(RAYON_NUM_THREADS=1 "$P" pretrain --method byol --data "folder:$crops/train" \
      --set "data.image_size=$size" --batch-size 128 --pipeline-only "$BATCHES" --out "$OUT/unused" | awk '{print $3}')")
    theirs+=("$("$PY" -W ignore bench/reference/byol_pipeline.py --images "$crops/train" --size "$size" \
      --count 1500 | python3 -c 'import json,sys; print(json.load(sys.stdin)["images_per_sec"])')")
    echo "$size px, round $round: pretext ${ours[-1]}, torchvision ${theirs[-1]} images/s on one core"
  done
  p=$(median "${ours[@]}"); t=$(median "${theirs[@]}")
  rows+=("| $size px | $(printf %.0f "$p") | $(printf %.0f "$t") | **$(python3 -c "print(f'{$p / $t:.1f}')")×** |")
done

# The trainer's wait for data in a real run: BYOL, ResNet-18 widths 16-128, 32-px crops.
crops="$OUT/crops32"
[ -d "$crops/train" ] || "$P" data crops "$PHOTOS" --out "$crops" --size 32 --per-image 100 >/dev/null
rm -rf "$OUT/byol"
"$P" pretrain --method byol --data "folder:$crops/train" --encoder resnet18 --set encoder.width=0.25 \
  --batch-size 128 --max-steps 16 --set train.log_every=4 --set probe.enabled=false --out "$OUT/byol" --quiet >/dev/null
wait_share=$(python3 -c "import json; r=[json.loads(l) for l in open('$OUT/byol/metrics.jsonl')][1:]; print(f'{100*sum(x[\"data_wait\"] for x in r)/len(r):.1f}')")
{
  echo "| view size | pretext images/s (1 core) | torchvision v2 images/s (1 core) | pretext / torchvision |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Images are raw (two views each); medians of $ROUNDS rounds. Machine: $(nproc) cores of $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); torchvision $("$PY" -c 'import torchvision; print(torchvision.__version__)')."
  echo "BYOL training (ResNet-18 widths 16–128, 32 px, batch 128, all cores): the trainer waited for data $wait_share % of the time after the first logging window."
} | tee "$OUT/PIPELINE.md"
