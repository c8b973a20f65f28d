#!/usr/bin/env bash
# pretext on an NVIDIA GPU against PyTorch on the same GPU, in one run (issue 6, part 5):
#
# 1. The training step of bench/step.sh (same cases, batch 128; `pretext pretrain
#    --compute-only STEPS --device cuda` against bench/reference/train_step.py --device cuda,
#    eager with PyTorch's defaults (cuDNN convolutions in TF32), eager in strict fp32, and
#    torch.compile for COMPILE_CASES). burn's CUDA backend compiles its kernels (NVRTC) and
#    autotunes them the first time it meets a shape, which took minutes per case on an H200
#    (BENCHMARKS.md): so each case runs once cold (one step; its wall time is reported), with
#    CubeCL's on-disk kernel cache switched on (a cubecl.toml in the directory pretext runs
#    in), and is then timed warm.
# 2. A short BYOL pretraining: configs/fashion-mnist/byol.toml with ResNet-18 (CIFAR stem),
#    batch 256, one epoch of Fashion-MNIST's 60 000 images, then the kNN probe (k 200, T 0.1)
#    on the whole splits; against bench/reference/byol_train.py, the same recipe in PyTorch
#    (DataLoader workers, torchvision transforms v2). Wall time, images/s, last loss, kNN top-1.
#
# Writes OUT/GPU.md (the tables) and OUT/gpu.log. It builds nothing: P is a pretext built with
# `--features cuda`, PY a python with PyTorch (CUDA) and torchvision, DATA a folder holding
# Fashion-MNIST's four IDX files.
#
#   cargo build --release --features cuda
#   P=$CARGO_TARGET_DIR/release/pretext DATA=/usr/share/datasets/fashion-mnist bench/gpu.sh
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
P=$(realpath "${P:-${CARGO_TARGET_DIR:-$HOME/.cache/pretext-target}/release/pretext}")
PY="${PY:-python3}"
DATA=$(realpath "${DATA:-/usr/share/datasets/fashion-mnist}")
COLD_TIMEOUT="${COLD_TIMEOUT:-900}"   # seconds for a case's first (compiling) step
OUT="${OUT:-bench/out/gpu}"
CASES="${CASES:-resnet18 narrow convnet byol}"
COMPILE_CASES="${COMPILE_CASES:-resnet18 narrow}"
STEPS="${STEPS:-50}"
BYOL_STEPS="${BYOL_STEPS:-0}"   # 0 = the whole epoch
BUDGET="${BUDGET:-100000}"      # seconds; torch.compile cases that would end later are skipped
DEVICE="${DEVICE:-cuda}"        # flex tries the script on a CPU
TORCH_DEVICE=$([ "$DEVICE" = flex ] && echo cpu || echo cuda)
WORKERS="${WORKERS:-$(( $(nproc) > 2 ? $(nproc) - 2 : 1 ))}"
export RUST_LOG="${RUST_LOG:-warn}" PYTHONUNBUFFERED=1
mkdir -p "$OUT"
scratch=$(mktemp -d)   # pretext's working directory and run directories, outside OUT
trap 'rm -rf "$scratch"' EXIT
printf '[compilation]\ncache = true\n' >"$scratch/cubecl.toml"
# pretext, run in $scratch (where CubeCL finds its cubecl.toml)
ours() { (cd "$scratch" && timeout "$@"); }
exec > >(tee "$OUT/gpu.log") 2>&1
D="fashion-mnist:$DATA"

gpu=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
cpu="$(nproc) cores of $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
torch=$("$PY" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)')
echo "GPU: $gpu; CPU: $cpu; torch $torch"

# case → "label|pretext flags|reference flags" (bench/step.sh's cases)
case_spec() {
  local resnet="--encoder resnet18 --set data.image_size=32 --set encoder.in_channels=3"
  local supervised="--method supervised --set method.head_norm=false"
  case "$1" in
    resnet18) echo "ResNet-18, CIFAR stem, 3×32×32, supervised|$supervised $resnet|--net resnet18" ;;
    narrow) echo "ResNet-18 widths 16–128, 3×32×32, supervised|$supervised $resnet --set encoder.width=0.25|--net resnet18 --width 0.25" ;;
    convnet) echo "small ConvNet, 1×28×28, supervised|$supervised --encoder convnet-small|--net convnet-small --channels 1 --size 28" ;;
    byol) echo "BYOL, ResNet-18 widths 16–128, 2 views of 3×32×32|--method byol $resnet --set encoder.width=0.25|--net resnet18 --width 0.25 --method byol" ;;
    *) echo "unknown case $1" >&2; exit 2 ;;
  esac
}
# field KEY [SCALE]: KEY of the last JSON line on stdin (times SCALE, 1 decimal), or "-".
field() { "$PY" -c 'import json,sys
lines = sys.stdin.read().strip().splitlines()
v = json.loads(lines[-1])[sys.argv[1]] * float(sys.argv[2])
print(f"{v:.1f}" if abs(v) >= 10 else f"{v:.4f}")' "$1" "${2:-1}" 2>/dev/null || echo -; }
reference() { timeout "${2:-120}" "$PY" -W ignore bench/reference/train_step.py $1 --device "$TORCH_DEVICE" --steps "$STEPS" 2>"$OUT/reference.err"; }
ratio() { "$PY" -c 'import sys
try: print(f"{float(sys.argv[1]) / float(sys.argv[2]):.2f}×")
except ValueError: print("-")' "$1" "$2"; }

declare -A label pretext cold eager strict compiled flops
pretext_works=1
for c in $CASES; do
  IFS='|' read -r label[$c] flags ref <<<"$(case_spec "$c")"
  p=- cold[$c]=-
  if [ "$pretext_works" = 1 ]; then
    started=$SECONDS
    # shellcheck disable=SC2086
    if ours "$COLD_TIMEOUT" "$P" pretrain $flags --data "$D" --batch-size 128 --device "$DEVICE" \
      --out "$scratch/unused" --compute-only 1 >/dev/null 2>"$OUT/pretext.err"; then
      cold[$c]=$(( SECONDS - started ))
      # shellcheck disable=SC2086
      p=$(ours 600 "$P" pretrain $flags --data "$D" --batch-size 128 --device "$DEVICE" --out "$scratch/unused" \
        --compute-only "$STEPS" 2>"$OUT/pretext.err" | awk 'NR == 1 {print $3}')
    fi
    # A pretext that cannot run one case will not run the next: keep the time for PyTorch's.
    [ -n "$p" ] || { p=-; pretext_works=0; tail -5 "$OUT/pretext.err"; }
  fi
  json=$(reference "$ref")
  pretext[$c]=$p eager[$c]=$(field images_per_sec <<<"$json") flops[$c]=$(field flops_per_image <<<"$json")
  strict[$c]=$(reference "$ref --strict-fp32" | field images_per_sec)
  echo "$c: pretext ${pretext[$c]} (first step after ${cold[$c]} s), eager ${eager[$c]} (strict fp32 ${strict[$c]}) images/s"
done

# The short BYOL pretraining, pretext then PyTorch.
run="$scratch/byol-run"
start=$(date +%s.%N)
[ "$pretext_works" = 1 ] && ours 900 "$P" pretrain --config "$root/configs/fashion-mnist/byol.toml" --data "$D" --out "$run" \
  --device "$DEVICE" --encoder resnet18 --batch-size 256 --set train.max_steps="$BYOL_STEPS" --set probe.enabled=false \
  --quiet | tee "$OUT/byol-pretext.txt"
wall=$("$PY" -c "import time; print(f'{time.time() - $start:.1f}')")
ours_ips=$(grep -o '[0-9.]* images/s' "$OUT/byol-pretext.txt" 2>/dev/null | awk '{print $1}')
ours_loss=$(grep -o 'last loss [0-9.]*' "$OUT/byol-pretext.txt" 2>/dev/null | awk '{print $3}')
ours_knn=-
[ -n "$ours_ips" ] && ours_knn=$(ours 600 "$P" eval knn --checkpoint "$run" --data "$D" --device "$DEVICE" --json | field top1 100)
json=$(timeout 300 "$PY" -W ignore bench/reference/byol_train.py --data "$DATA" --device "$TORCH_DEVICE" --batch-size 256 \
  --workers "$WORKERS" --max-steps "$BYOL_STEPS")
echo "BYOL pretraining: pretext $wall s (${ours_ips:--} images/s, loss ${ours_loss:--}, kNN $ours_knn); PyTorch $json"

# torch.compile last: it takes a minute or more per case, and BUDGET (seconds of this script)
# skips the cases that would not finish in time.
for c in $CASES; do
  compiled[$c]=-
  if [[ " $COMPILE_CASES " == *" $c "* ]] && (( SECONDS + 150 < BUDGET )); then
    IFS='|' read -r _ _ ref <<<"$(case_spec "$c")"
    compiled[$c]=$(reference "$ref --compile" 300 | field images_per_sec)
    echo "$c: torch.compile ${compiled[$c]} images/s"
  fi
done

{
  echo "| case | pretext img/s | pretext's first step (s) | PyTorch eager img/s | eager, strict fp32 | torch.compile | pretext / eager | pretext / strict fp32 | pretext / compile | pretext TFLOP/s |"
  echo "|---|---|---|---|---|---|---|---|---|---|"
  for c in $CASES; do
    p=${pretext[$c]}
    tflops=$("$PY" -c 'import sys
try: print(f"{float(sys.argv[1]) * float(sys.argv[2]) / 1e12:.2f}")
except ValueError: print("-")' "$p" "${flops[$c]}")
    echo "| ${label[$c]} | $p | ${cold[$c]} | ${eager[$c]} | ${strict[$c]} | ${compiled[$c]} | **$(ratio "$p" "${eager[$c]}")** | $(ratio "$p" "${strict[$c]}") | $(ratio "$p" "${compiled[$c]}") | $tflops |"
  done
  echo
  echo "Batch 128, SGD momentum 0.9, $STEPS steps after the warm-up. GPU: $gpu. CPU: $cpu. torch $torch."
  echo
  echo "| short BYOL pretraining (ResNet-18, batch 256, 1 epoch of Fashion-MNIST) | wall s | images/s | last loss | kNN top-1 (%) |"
  echo "|---|---|---|---|---|"
  echo "| pretext (whole process: start, kernel compilation, checkpoint; the step cases' kernel cache warm) | $wall | ${ours_ips:--} | ${ours_loss:--} | $ours_knn |"
  echo "| PyTorch eager ($WORKERS DataLoader workers; first step to last) | $(field seconds <<<"$json") | $(field images_per_sec <<<"$json") | $(field loss <<<"$json") | $(field knn_top1 100 <<<"$json") |"
} | tee "$OUT/GPU.md"
