#!/usr/bin/env bash
# Retrieval on Fashion-MNIST with the encoders bench/joint_embedding.sh trained (run that
# first): each of the 10,000 test images queries the 60,000 training images by cosine
# similarity of features; precision@1/10/100 and mAP with the class as relevance, beside the
# randomly initialised encoder. Writes a picture of queries and neighbours per encoder.
#
#   bench/retrieval.sh
#   METHODS="vicreg simclr" bench/retrieval.sh
source "$(dirname "$0")/common.sh"
RUNS="${RUNS:-bench/out/joint_embedding}"
OUT="${OUT:-bench/out/retrieval}"
METHODS="${METHODS:-simclr vicreg barlow-twins byol simsiam moco dino rotation random-init}"
mkdir -p "$OUT"
row() { python3 -c 'import json,sys; j=json.load(sys.stdin); p=j["precision"]; print(f"%-13s %-8.2f %-8.2f %-8.2f %.2f" % (sys.argv[1], 100*p["p@1"], 100*p["p@10"], 100*p["p@100"], 100*j["map"]))' "$1"; }
printf '%-13s %-8s %-8s %-8s %s\n' encoder 'P@1' 'P@10' 'P@100' mAP
for m in $METHODS; do
  if [ "$m" = random-init ]; then
    "$P" retrieve --random-init --encoder convnet-small --data "$D" --cache-dir "$RUNS/random" \
      --show "$OUT/$m.png" --json | row "$m"
  elif [ -d "$RUNS/$m" ]; then
    "$P" retrieve --checkpoint "$RUNS/$m" --data "$D" --show "$OUT/$m.png" --json | row "$m"
  fi
done
