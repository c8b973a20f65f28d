# Shared preamble of the benchmark scripts: builds pretext (scripts/setup.sh) and defines
# P (the binary; PRETEXT_BIN overrides it, e.g. a copy that a rebuild during a long
# accuracy run will not replace), D (Fashion-MNIST), score (top-1 in percent of an `eval … --json`),
# last_metric (a key of the last line of a run's metrics.jsonl, "-" when absent),
# mean_sd (the mean ± sample standard deviation of its arguments, the seed rule of
# BENCHMARKS.md) and columns (the same per column of the lines of numbers it reads, one
# line a seed, cells joined by " | ").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/pretext-target}"
scripts/setup.sh >/dev/null
P="${PRETEXT_BIN:-$CARGO_TARGET_DIR/release/pretext}"
export RUST_LOG="${RUST_LOG:-warn}"
D="fashion-mnist:/usr/share/datasets/fashion-mnist"
score() { "$P" eval "$@" --json | python3 -c 'import json,sys; print("%.2f" % (100*json.load(sys.stdin)["top1"]))'; }
last_metric() { python3 -c 'import json,sys; l=[json.loads(x) for x in open(sys.argv[1])][-1]; v=l.get(sys.argv[2]); print("-" if v is None else round(v, 3))' "$1" "$2"; }
mean_sd() { python3 -c 'import statistics,sys; v=[float(x) for x in sys.argv[1:]]
print("%.2f ± %.2f" % (statistics.mean(v), statistics.stdev(v)) if len(v) > 1 else "%.2f" % v[0])' "$@"; }
columns() { python3 -c 'import statistics,sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
cell = lambda v: "%.2f ± %.2f" % (statistics.mean(v), statistics.stdev(v)) if len(v) > 1 else "%.2f" % v[0]
print(" | ".join(cell([r[i] for r in rows]) for i in range(len(rows[0]))))'; }
