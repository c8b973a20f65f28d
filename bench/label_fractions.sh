#!/usr/bin/env bash
# The semi-supervised setting on Fashion-MNIST: linear probes fitted on 1 %, 10 % and 100 % of
# the training labels (chosen per class, seed 0) on the frozen encoders that
# bench/joint_embedding.sh trained (run that first), beside the randomly initialised encoder;
# scored on the 10,000 test images.
#
#   bench/label_fractions.sh
source "$(dirname "$0")/common.sh"
RUNS="${RUNS:-bench/out/joint_embedding}"
METHODS="${METHODS:-simclr vicreg barlow-twins byol simsiam moco dino rotation random-init}"
printf '%-13s %-8s %-8s %s\n' encoder '1%' '10%' '100%'
for m in $METHODS; do
  if [ "$m" = random-init ]; then
    enc=(--random-init --encoder convnet-small --cache-dir "$RUNS/random")
  elif [ -d "$RUNS/$m" ]; then
    enc=(--checkpoint "$RUNS/$m")
  else
    continue
  fi
  printf '%-13s %-8s %-8s %s\n' "$m" \
    "$(score linear "${enc[@]}" --data "$D" --label-fraction 0.01)" \
    "$(score linear "${enc[@]}" --data "$D" --label-fraction 0.1)" \
    "$(score linear "${enc[@]}" --data "$D")"
done
