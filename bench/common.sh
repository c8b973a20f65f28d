# Shared preamble of the benchmark scripts: builds pretext (scripts/setup.sh) and defines
# P (the binary), D (Fashion-MNIST), score (top-1 in percent of an `eval … --json`),
# last_metric (a key of the last line of a run's metrics.jsonl, "-" when absent) and
# mean_sd (the mean ± sample standard deviation of its arguments, the seed rule of
# BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pretext-target}"
scripts/setup.sh >/dev/null
P="$CARGO_TARGET_DIR/release/pretext"
export RUST_LOG="${RUST_LOG:-warn}"
D="fashion-mnist:/usr/share/datasets/fashion-mnist"
score() { "$P" eval "$@" --json | python3 -c 'import json,sys; print("%.2f" % (100*json.load(sys.stdin)["top1"]))'; }
last_metric() { python3 -c 'import json,sys; l=[json.loads(x) for x in open(sys.argv[1])][-1]; v=l.get(sys.argv[2]); print("-" if v is None else round(v, 3))' "$1" "$2"; }
mean_sd() { python3 -c 'import statistics,sys; v=[float(x) for x in sys.argv[1:]]
print("%.2f ± %.2f" % (statistics.mean(v), statistics.stdev(v)) if len(v) > 1 else "%.2f" % v[0])' "$@"; }
