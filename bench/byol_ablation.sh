#!/usr/bin/env bash
# BYOL's collapse ablation (Grill et al. 2020, §5 and table 5b) at small scale: the full
# method against BYOL without the predictor and BYOL whose target is the online network at
# every step (τ = 0), each for STEPS steps (default 150) of the recipe in
# configs/fashion-mnist/byol.toml, whose cosine schedule spans EPOCHS epochs (default 1, 468
# steps). Collapse shows as a normalised-embedding std near 0, an
# effective rank near 1, and probe accuracy falling toward or below the random encoder's.
#
#   bench/byol_ablation.sh
#   STEPS=600 EPOCHS=2 bench/byol_ablation.sh
source "$(dirname "$0")/common.sh"
OUT="${OUT:-bench/out/byol_ablation}"
STEPS="${STEPS:-150}"
EPOCHS="${EPOCHS:-1}"
mkdir -p "$OUT"

printf '%-14s %-8s %-8s %-8s %s\n' variant linear knn emb_std eff_rank
for variant in full no-predictor tau-zero; do
  case $variant in
    full) extra=() ;;
    no-predictor) extra=(--set method.use_predictor=false) ;;
    tau-zero) extra=(--set method.tau_base=0 --set method.tau_end=0) ;;
  esac
  run="$OUT/$variant"
  rm -rf "$run"
  "$P" pretrain --config configs/fashion-mnist/byol.toml --data "$D" --epochs "$EPOCHS" \
    --max-steps "$STEPS" --out "$run" --quiet "${extra[@]}" >/dev/null
  printf '%-14s %-8s %-8s %-8s %s\n' "$variant" \
    "$(score linear --checkpoint "$run" --data "$D")" "$(score knn --checkpoint "$run" --data "$D")" \
    "$(last_metric "$run/metrics.jsonl" emb_std)" "$(last_metric "$run/metrics.jsonl" eff_rank)"
done
