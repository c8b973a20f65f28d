#!/usr/bin/env bash
# Dense transfer on the CPU scenes benchmark (issue 18): `pretext detect` (Faster R-CNN +
# FPN; COCO's AP, AP50, AP75 and VOC07's AP50) or `pretext segment` (semantic FPN; mean IoU
# and pixel accuracy), trained on scenes composed from Fashion-MNIST (`pretext data scenes`,
# 96 × 96, 1–4 items each) and scored on the test scenes. Encoders (the small ConvNet):
#   random    a randomly initialised encoder, frozen (--freeze-stages 5): what the head
#             learns on features nobody trained
#   scratch   the same network trained end to end from random weights
#   METHOD    pretrained by that method on Fashion-MNIST (its default settings, PRETRAIN_STEPS
#             steps of 128 images), then trained end to end
# Mean ± sample sd over SEEDS (the seed sets pretraining, the head's initialisation and the
# data order; the scenes are fixed).
#
#   bench/dense.sh                                      # detection, ≈ 6 min per run on 2 cores
#   TASK=segment bench/dense.sh                         # segmentation
#   ENCODERS="scratch rotation simclr" EPOCHS=12 TRAIN=4000 bench/dense.sh
source "$(dirname "$0")/common.sh"
TASK="${TASK:-detect}"
OUT="${OUT:-bench/out/detection}"
TRAIN="${TRAIN:-2000}"
TEST="${TEST:-500}"
EPOCHS="${EPOCHS:-6}"
SEEDS="${SEEDS:-0 1 2}"
ENCODERS="${ENCODERS:-random scratch rotation}"
PRETRAIN_STEPS="${PRETRAIN_STEPS:-500}"
case "$TASK" in
  detect) prefix=""; result=detection.json
    columns_head="AP | AP50 | AP75 | VOC07 AP50"
    read_result='c=r["coco"]; v=(c["ap"], c["ap50"], c["ap75"], r["voc07_ap50"])' ;;
  segment) prefix="seg-"; result=segmentation.json
    columns_head="mIoU | pixel accuracy"
    read_result='v=(r["miou"], r["pixel_accuracy"])' ;;
  *) echo "TASK must be detect or segment" >&2; exit 1 ;;
esac
mkdir -p "$OUT"
scenes="$OUT/scenes-$TRAIN-$TEST"
if [ ! -f "$scenes/annotations/instances_val.json" ]; then
  rm -rf "$scenes"
  "$P" data scenes --from "$D" --out "$scenes" --train "$TRAIN" --test "$TEST" --seed 0 >/dev/null
fi
coco="coco:$scenes/annotations/instances_train.json"

echo "| encoder | $columns_head |   ($TASK: $TRAIN training scenes, $EPOCHS epochs, $TEST test scenes, seeds: $SEEDS)"
echo "|---|$(echo "$columns_head" | sed 's/[^|]*/---/g')|"
for e in $ENCODERS; do
  lines=""
  for s in $SEEDS; do
    run="$OUT/$prefix$e-e$EPOCHS-s$s"
    case "$e" in
      random) from=(--scratch --freeze-stages 5) ;;
      scratch) from=(--scratch) ;;
      *)
        pre="$OUT/pretrain-$e-$PRETRAIN_STEPS-s$s"
        if [ ! -f "$pre/checkpoint.ckpt" ]; then
          rm -rf "$pre"
          "$P" pretrain --method "$e" --data "$D" --encoder convnet-small --epochs 10 \
            --max-steps "$PRETRAIN_STEPS" \
            --batch-size 128 --seed "$s" --out "$pre" --quiet >/dev/null
        fi
        from=(--from "$pre") ;;
    esac
    # A finished cell is kept (delete OUT to start over); an unfinished one is redone.
    if [ ! -f "$run/$result" ]; then
      rm -rf "$run"
      "$P" "$TASK" "${from[@]}" --data "$coco" --epochs "$EPOCHS" --seed "$s" --out "$run" \
        --quiet >/dev/null
    fi
    lines+="$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); $read_result
print(' '.join('%.2f' % (100*x) for x in v))" "$run/$result")"$'\n'
  done
  echo "| $e | $(printf '%s' "$lines" | columns) |"
done
