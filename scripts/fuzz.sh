#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of user files: IDX (raw or gzip), CIFAR and STL-10
# binaries, folder images, checkpoints, safetensors imports, TOML configs and permutation
# files (fuzz/fuzz_targets/). libFuzzer through cargo-fuzz on the stable toolchain: with
# `--sanitizer none` cargo-fuzz needs no nightly flag (coverage comes from rustc's stable
# `-C passes=sancov-module`); Rust's own checks (bounds, overflow with debug assertions)
# still turn bugs into crashes, and libFuzzer catches hangs (-timeout) and memory blow-ups
# (-rss_limit_mb).
#
#   scripts/fuzz.sh                    # every target, 10 minutes each, two at a time
#   SECONDS_EACH=60 scripts/fuzz.sh idx checkpoint
#
# New inputs that reach new code go to fuzz/corpus/<target>/ (minimised afterwards, and
# committed, so a rerun starts where the last one stopped), crashes to fuzz/artifacts/<target>/, logs to fuzz/logs/.
# The last lines are the figures BENCHMARKS.md records.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${SECONDS_EACH:-600}"
JOBS="${JOBS:-2}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/pretext-fuzz-target}"
cargo fuzz build -s none 2>&1 | tail -n 2
[ -d fuzz/seeds ] || fuzz/make_seeds.sh
targets=("$@")
[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(cargo fuzz list)
mkdir -p fuzz/logs
run() {
  local t=$1
  mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
  cargo fuzz run -s none "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$SECONDS_EACH" -print_final_stats=1 -max_len=262144 \
    -timeout=10 -rss_limit_mb=4096 -close_fd_mask=3 >"fuzz/logs/$t.log" 2>&1 || true
}
export -f run
export SECONDS_EACH
printf '%s\n' "${targets[@]}" | xargs -P "$JOBS" -I{} bash -c 'run {}'
# Keep only the inputs that reach distinct coverage, so the committed corpus stays small.
for t in "${targets[@]}"; do
  cargo fuzz cmin -s none "$t" "fuzz/corpus/$t" -- -rss_limit_mb=4096 -timeout=10 \
    >"fuzz/logs/$t.cmin.log" 2>&1 || true
done
printf '%-20s %12s %8s %8s %8s %8s\n' target executions exec/s cov features crashes
for t in "${targets[@]}"; do
  log="fuzz/logs/$t.log"
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo 0)
  ft=$(grep -o 'ft: [0-9]*' <<<"$last" | grep -o '[0-9]*' || echo 0)
  crashes=$(find "fuzz/artifacts/$t" -type f | wc -l)
  printf '%-20s %12s %8s %8s %8s %8s\n' "$t" "$execs" "$speed" "$cov" "$ft" "$crashes"
done
