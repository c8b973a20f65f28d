#!/usr/bin/env bash
# The benchmark table: for a dataset and a compute budget, every method pretrains the small
# ConvNet from its recipe (configs/<dataset>/) once per seed, then each encoder is scored by
# linear probe and kNN (all labels) under two batch-norm protocols — the encoder's own
# running statistics, and statistics re-estimated on 10,000 training images (--precise-bn) —
# by fine-tuning on 1 % and 10 % of the labels, and by retrieval mAP. Beside every method
# stands its matched random-init encoder (same architecture and input, `--random-init
# --like`), scored the same way, and the same network trained from scratch (fine-tuning).
# Every cell is mean ± sample standard deviation over SEEDS (pretraining seed = label seed of
# fine-tuning = random-init seed); the linear cells also give the L2 strength chosen most
# often. Writes TABLE.md (Markdown, also printed), cells.tsv (every seed's value) and
# report/index.html (`pretext report` over the first seed's runs) into OUT. Finished runs
# and evaluations in OUT are reused and shorter runs resumed, so the script can be stopped
# and restarted.
#
# Budget: STEPS pretraining steps of 128 images per method; fine-tuning follows SimCLR's
# recipe (`pretext finetune`) at LR, 60 epochs on 1 % of the labels and FT10_EPOCHS (default
# 10, SimCLR: 30) on 10 %.
#
#   bench/table.sh                                  # Fashion-MNIST, 300 steps, 3 seeds (≈ 9 h on 2 cores)
#   METHODS="simclr vicreg" SEEDS="0" STEPS=100 OUT=/tmp/t bench/table.sh
#   FINETUNE=0 RETRIEVAL=0 bench/table.sh           # frozen protocols only
#
# The methods in ONLINE (default: dino) transfer a target network (DINO's teacher, as its
# paper evaluates); their online encoder (the student) gets a row of its own (`--online`).
source "$(dirname "$0")/common.sh"
CONFIGS="${CONFIGS:-configs/fashion-mnist}"
DATA="${DATA:-$D}"
STEPS="${STEPS:-300}"
SEEDS="${SEEDS:-0 1 2}"
LR="${LR:-0.4}"
FT10_EPOCHS="${FT10_EPOCHS:-10}"
FINETUNE="${FINETUNE:-1}"
RETRIEVAL="${RETRIEVAL:-1}"
PRECISE_BN="${PRECISE_BN:-10000}"
OUT="${OUT:-bench/out/table}"
ONLINE="${ONLINE:-dino}"
METHODS="${METHODS:-$(ls "$CONFIGS" | sed -n 's/\.toml$//p' | tr '\n' ' ')}"
mkdir -p "$OUT/evals"
CELLS="$OUT/cells.tsv"
touch "$CELLS"
steps_done() { python3 -c 'import json,sys
try: print(int(json.loads(open(sys.argv[1]).read().splitlines()[-1])["step"]))
except Exception: print(0)' "$1/metrics.jsonl"; }

# cell ROW COLUMN SEED COMMAND...: runs COMMAND (an evaluation printing a JSON record) once,
# keeps its record in OUT/evals, and appends "ROW COLUMN SEED VALUE [L2]" to cells.tsv.
cell() {
  local row="$1" column="$2" seed="$3"; shift 3
  local record="$OUT/evals/${row//\//-}.$column.$seed.json"
  if [ ! -s "$record" ]; then
    "$@" > "$record.tmp"
    mv "$record.tmp" "$record"
  fi
  grep -v -P "^\Q$row\E\t\Q$column\E\t$seed\t" "$CELLS" > "$CELLS.tmp" || true
  python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
value = r["map"] if "map" in r else r["top1"]
print("\t".join(sys.argv[2:5] + ["%.4f" % (100 * value), "%g" % r["l2"] if "l2" in r else ""]))' \
    "$record" "$row" "$column" "$seed" >> "$CELLS.tmp"
  mv "$CELLS.tmp" "$CELLS"
}

# frozen ROW SEED ENCODER_ARGS...: linear and kNN under both protocols, and retrieval.
frozen() {
  local row="$1" seed="$2"; shift 2
  cell "$row" linear "$seed" "$P" eval linear "$@" --json
  cell "$row" linear-pbn "$seed" "$P" eval linear "$@" --precise-bn "$PRECISE_BN" --json
  cell "$row" knn "$seed" "$P" eval knn "$@" --json
  cell "$row" knn-pbn "$seed" "$P" eval knn "$@" --precise-bn "$PRECISE_BN" --json
  [ "$RETRIEVAL" = 0 ] || cell "$row" map "$seed" "$P" retrieve "$@" --json
}

# finetune ROW SEED FROM_ARGS...: fine-tuning on 1 % and 10 % of the labels (label seed SEED).
finetune() {
  local row="$1" seed="$2"; shift 2
  [ "$FINETUNE" = 0 ] && return
  local fraction epochs column run
  for spec in "0.01 60 ft1" "0.1 $FT10_EPOCHS ft10"; do
    read -r fraction epochs column <<< "$spec"
    run="$OUT/finetune/$row-$column-s$seed"
    [ -f "$run/finetune.json" ] || { rm -rf "$run"; "$P" finetune "$@" --data "$DATA" \
      --label-fraction "$fraction" --label-seed "$seed" --seed "$seed" --epochs "$epochs" \
      --lr "$LR" --out "$run" --quiet --json >/dev/null; }
    cell "$row" "$column" "$seed" cat "$run/finetune.json"
  done
}

runs=()
for m in $METHODS; do
  for seed in $SEEDS; do
    run="$OUT/$m-s$seed"
    if [ "$(steps_done "$run")" -lt "$STEPS" ]; then
      resume=(); [ -f "$run/checkpoint.ckpt" ] && resume=(--resume)
      "$P" pretrain --config "$CONFIGS/$m.toml" --data "$DATA" --max-steps "$STEPS" \
        --seed "$seed" --out "$run" --quiet "${resume[@]}" >/dev/null
    fi
    [ "$seed" = "${SEEDS%% *}" ] && runs+=("$run")
    frozen "$m" "$seed" --checkpoint "$run" --data "$DATA"
    if [[ " $ONLINE " == *" $m "* ]]; then
      frozen "$m/online" "$seed" --checkpoint "$run" --online --data "$DATA"
    fi
    finetune "$m" "$seed" --from "$run"
    frozen "$m/random" "$seed" --random-init --like "$run" --seed "$seed" --data "$DATA" \
      --cache-dir "$OUT/random"
  done
done
for seed in $SEEDS; do
  finetune scratch "$seed" --scratch
done

python3 - "$CELLS" "$METHODS" "$SEEDS" "$DATA" "$STEPS" "$LR" "$FT10_EPOCHS" "$PRECISE_BN" "$ONLINE" <<'EOF' | tee "$OUT/TABLE.md"
import collections, statistics, sys
cells, methods, seeds, data, steps, lr, ft10, pbn, online = sys.argv[1:]
methods, seeds = methods.split(), seeds.split()
values, l2 = collections.defaultdict(list), collections.defaultdict(list)
for line in open(cells):
    row, column, seed, value, *rest = line.rstrip("\n").split("\t")
    if seed in seeds:
        values[row, column].append(float(value))
        if rest and rest[0]:
            l2[row, column].append(rest[0])
def cell(row, column):
    v = values.get((row, column))
    if not v:
        return "–"
    text = "%.2f ± %.2f" % (statistics.mean(v), statistics.stdev(v)) if len(v) > 1 else "%.2f" % v[0]
    if l2.get((row, column)):
        text += " (λ %s)" % collections.Counter(l2[row, column]).most_common(1)[0][0]
    return text
columns = [("linear", "linear"), ("linear-pbn", "linear, precise BN"), ("knn", "kNN"),
           ("knn-pbn", "kNN, precise BN"), ("ft1", "fine-tune 1 %"), ("ft10", "fine-tune 10 %"),
           ("map", "retrieval mAP")]
columns = [c for c in columns if any(k[1] == c[0] for k in values)]
print("| encoder | " + " | ".join(name for _, name in columns) + " |")
print("|---|" + "---|" * len(columns))
for m in methods:
    print(f"| {m} | " + " | ".join(cell(m, c) for c, _ in columns) + " |")
    if m in online.split():
        print(f"| {m}: online encoder (student) | " + " | ".join(cell(m + "/online", c) for c, _ in columns) + " |")
    print(f"| {m}: random init (matched) | " + " | ".join(cell(m + "/random", c) for c, _ in columns) + " |")
if any(k[0] == "scratch" for k in values):
    print("| from scratch | " + " | ".join(cell("scratch", c) for c, _ in columns) + " |")
print()
print(f"Data {data}; {steps} pretraining steps per method; {len(seeds)} seed(s) ({' '.join(seeds)}), mean ± sample sd; "
      f"precise BN on {pbn} training images; λ: the linear probe's L2 strength chosen most often; "
      f"fine-tuning at lr {lr} (× B/256), 60 epochs on 1 % and {ft10} on 10 % of the labels; percent on the test split.")
EOF
"$P" report "${runs[@]}" --out "$OUT/report" --map-points 1000 >/dev/null
echo "report: $OUT/report/index.html"
