#!/usr/bin/env bash
# The tar-shard reader against the folder reader on the same images (issue 19, part 5):
# square crops of Debian's wallpaper photos (`pretext data crops`, PNG files in a folder),
# written again as tar shards (`pretext data shards`, PNG members), then the data pipeline
# alone (`pretrain --method rotation --pipeline-only`: read, decode, rotate, batch) on each,
# alternating rounds, THREADS loader threads: the folder, the shards on disk, and the shards
# over HTTP from 127.0.0.1 (bench/reference/range_server.py) read one request per image and
# in the streaming order with 8 MiB chunks read ahead (`data.shuffle_buffer=1000`). Prints
# the images/s of each, their ratio to the folder's and the CPU model.
#
#   bench/shards.sh                      # 96 px, 3 rounds, 2 threads
#   SIZE=224 THREADS=1 bench/shards.sh
#
# Needs the photos of Debian's mate-backgrounds (apt-get install mate-backgrounds).
source "$(dirname "$0")/common.sh"
SIZE="${SIZE:-96}"
ROUNDS="${ROUNDS:-3}"
BATCHES="${BATCHES:-60}"
THREADS="${THREADS:-2}"
PHOTOS="${PHOTOS:-/usr/share/backgrounds/mate/nature}"
OUT="${OUT:-bench/out/shards}"
mkdir -p "$OUT"
[ -d "$PHOTOS" ] || { echo "$PHOTOS not found: apt-get install mate-backgrounds (or set PHOTOS)" >&2; exit 1; }
median() { python3 -c 'import statistics,sys; print(statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

crops="$OUT/crops$SIZE"
[ -d "$crops/train" ] || "$P" data crops "$PHOTOS" --out "$crops" --size "$SIZE" --per-image 100 >/dev/null
shards="$OUT/shards$SIZE"
[ -f "$shards/manifest.json" ] || "$P" data shards --data "folder:$crops" --out "$shards" --per-shard 1000 >/dev/null
images=$(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print(sum(len(s["samples"]) for s in m["splits"]["train"]))' "$shards/manifest.json")
rate() {
  RAYON_NUM_THREADS="$THREADS" "$P" pretrain --method rotation --data "$1" --set "data.image_size=$SIZE" \
    --set data.mean=[0.5,0.5,0.5] --set data.std=[0.25,0.25,0.25] --batch-size 128 \
    --pipeline-only "$BATCHES" --out "$OUT/unused" "${@:2}" | awk '{print $3}'
}
PORT="${PORT:-8765}"
python3 bench/reference/range_server.py "$shards" "$PORT" &
server=$!
trap 'kill $server' EXIT
sleep 1
url="shards:http://127.0.0.1:$PORT/manifest.json"
folder=(); tar=(); http=(); stream=()
for round in $(seq "$ROUNDS"); do
  folder+=("$(rate "folder:$crops")")
  tar+=("$(rate "shards:$shards")")
  http+=("$(rate "$url")")
  stream+=("$(rate "$url" --set data.shuffle_buffer=1000)")
  echo "round $round: folder ${folder[-1]}, shards ${tar[-1]}, HTTP ${http[-1]}, HTTP streaming ${stream[-1]} images/s"
done
f=$(median "${folder[@]}"); t=$(median "${tar[@]}"); h=$(median "${http[@]}"); s=$(median "${stream[@]}")
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
echo
echo "| reader | images/s (median of $ROUNDS) | ratio |   ($images training crops of ${SIZE} px, PNG; $THREADS threads; $cpu)"
echo "|---|---|---|"
echo "| folder (one PNG file per image) | $f | 1.00 |"
n=$(ls "$shards"/train-*.tar | wc -l)
echo "| tar shards on disk (PNG members, $n shards) | $t | $(python3 -c "print('%.2f' % ($t / $f))") |"
echo "| tar shards over HTTP, one request per image | $h | $(python3 -c "print('%.2f' % ($h / $f))") |"
echo "| tar shards over HTTP, streaming order, 8 MiB chunks | $s | $(python3 -c "print('%.2f' % ($s / $f))") |"
