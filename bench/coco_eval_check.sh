#!/usr/bin/env bash
# pretext's box AP against pycocotools on the same results file: for three seeded ground
# truths and detection lists (bench/reference/coco_eval_check.py: all object sizes, crowds, an
# image without objects, ties, duplicates, an image with more than 100 detections), prints
# COCOeval's twelve numbers from both and the largest difference; fails above 1e-3. Needs
# pycocotools in $VENV (default ~/.cache/pretext-bench-venv), installed from PyPI when missing:
#   bench/coco_eval_check.sh
source "$(dirname "$0")/common.sh"
VENV="${VENV:-$HOME/.cache/pretext-bench-venv}"
OUT="${OUT:-bench/out/coco_eval_check}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import pycocotools' 2>/dev/null || "$VENV/bin/pip" install -q pycocotools
rm -rf "$OUT"; mkdir -p "$OUT"
worst=0
for seed in 0 1 2; do
  dir="$OUT/seed$seed"
  python3 bench/reference/coco_eval_check.py make "$dir" "$seed"
  reference=$("$VENV/bin/python" bench/reference/coco_eval_check.py score "$dir")
  ours=$("$P" eval boxes --truth "coco:$dir/annotations/instances_val2017.json" \
    --results "$dir/results.json" --json | python3 -c 'import json,sys; c=json.load(sys.stdin)["coco"]
print(json.dumps([c[k] for k in ["ap","ap50","ap75","ap_small","ap_medium","ap_large","ar1","ar10","ar100","ar_small","ar_medium","ar_large"]]))')
  worst=$(python3 - "$reference" "$ours" "$seed" "$worst" <<'PY'
import json, sys
ref, ours, seed, worst = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], float(sys.argv[4])
names = ["AP", "AP50", "AP75", "AP_S", "AP_M", "AP_L", "AR1", "AR10", "AR100", "AR_S", "AR_M", "AR_L"]
print(f"seed {seed}:", file=sys.stderr)
for n, r, o in zip(names, ref, ours):
    print(f"  {n:6} pycocotools {r:.6f}  pretext {o:.6f}  diff {abs(r - o):.1e}", file=sys.stderr)
print(max([worst] + [abs(r - o) for r, o in zip(ref, ours)]))
PY
)
done
echo "largest difference over 3 × 12 numbers: $worst"
python3 -c "import sys; sys.exit(0 if float('$worst') <= 1e-3 else 1)" && echo PASS || { echo FAIL; exit 1; }
