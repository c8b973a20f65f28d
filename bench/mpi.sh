#!/usr/bin/env bash
# Training across MPI ranks on one machine (issue 19): the same pretraining (global batch of
# BATCH images, STEPS optimiser steps, the rotation task) as one process of THREADS threads
# and as RANKS ranks of THREADS/RANKS threads each under `mpirun`, alternating ROUNDS times.
# Prints the images/s each reports (over the whole run, loading included) and their ratio:
# the price of the all-reduce and of splitting the batch, since one machine's cores are the
# same either way. Builds pretext with the `mpi` feature (Open MPI and libclang installed:
# scripts/test.sh does it).
#
#   bench/mpi.sh                                   # convnet-small and resnet18, 2 ranks
#   ENCODERS=resnet18 STEPS=20 ROUNDS=3 bench/mpi.sh
source "$(dirname "$0")/common.sh"
cargo build --release --locked --features mpi 2>&1 | tail -n 1
P="$CARGO_TARGET_DIR/release/pretext"
ENCODERS="${ENCODERS:-convnet-small resnet18}"
RANKS="${RANKS:-2}"
THREADS="${THREADS:-2}"
BATCH="${BATCH:-128}"
STEPS="${STEPS:-40}"
ROUNDS="${ROUNDS:-2}"
OUT="${OUT:-bench/out/mpi}"
mkdir -p "$OUT"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
rate() { sed -n 's/.* \([0-9.]*\) images\/s.*/\1/p'; }
grep -m1 "model name" /proc/cpuinfo
echo "| encoder | 1 process × $THREADS threads (img/s) | $RANKS ranks × $((THREADS / RANKS)) (img/s) | ranks / process |"
echo "|---|---|---|---|"
for e in $ENCODERS; do
  one=(); many=()
  for r in $(seq "$ROUNDS"); do
    args=(pretrain --method rotation --data "$D" --encoder "$e" --max-steps "$STEPS" --quiet)
    rm -rf "$OUT/$e-one" "$OUT/$e-many"
    one+=("$(RAYON_NUM_THREADS=$THREADS "$P" "${args[@]}" --batch-size "$BATCH" \
      --out "$OUT/$e-one" | rate)")
    many+=("$(mpirun -np "$RANKS" --oversubscribe --bind-to none \
      -x RAYON_NUM_THREADS=$((THREADS / RANKS)) "$P" "${args[@]}" \
      --batch-size $((BATCH / RANKS)) --out "$OUT/$e-many" | rate)")
  done
  python3 - "$e" "${one[*]}" "${many[*]}" <<'PY'
import statistics, sys
e, one, many = sys.argv[1], [float(x) for x in sys.argv[2].split()], [float(x) for x in sys.argv[3].split()]
m1, m2 = statistics.median(one), statistics.median(many)
print(f"| {e} | {m1:.1f} ({', '.join(f'{x:.1f}' for x in one)}) | {m2:.1f} ({', '.join(f'{x:.1f}' for x in many)}) | {m2 / m1:.2f}× |")
PY
done
