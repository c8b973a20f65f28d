#!/usr/bin/env bash
# Writes a seed corpus for every fuzz target into fuzz/seeds/<target>/: small valid files in
# each format (made here, or by pretext itself for checkpoints, exports, configs and
# permutation sets), laid out as the targets cut their input (fuzz/src/lib.rs: a flags byte
# where the target has one, then u16 lengths of all parts but the last).
set -euo pipefail
cd "$(dirname "$0")/.."
P="${P:-${CARGO_TARGET_DIR:-$HOME/.cache/pretext-target}/release/pretext}"
out=fuzz/seeds
rm -rf "$out" && mkdir -p "$out"/{idx,cifar,stl10,folder_image,checkpoint,safetensors_import,config_toml,permutations}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

python3 - "$out" <<'PY'
import gzip, struct, sys, zlib
out = sys.argv[1]
def parts(*ps, flags=None):
    head = b"".join(struct.pack("<H", len(p)) for p in ps[:-1])
    return (bytes([flags]) if flags is not None else b"") + head + b"".join(ps)
images = bytes([0, 0, 8, 3]) + struct.pack(">III", 2, 28, 28) + bytes(range(256)) * 6 + bytes(2 * 784 - 1536)
labels = bytes([0, 0, 8, 1]) + struct.pack(">I", 2) + bytes([3, 7])
open(f"{out}/idx/raw", "wb").write(parts(images, labels, flags=0))
open(f"{out}/idx/gz", "wb").write(parts(gzip.compress(images), gzip.compress(labels), flags=1))
record10 = bytes([4]) + bytes(range(256)) * 12 + bytes(3072 - 3072)
names10 = b"airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n"
open(f"{out}/cifar/cifar10", "wb").write(parts(record10 * 2, names10, flags=0))
record100 = bytes([1, 42]) + bytes(range(256)) * 12
names100 = b"".join(b"class%d\n" % i for i in range(100))
open(f"{out}/cifar/cifar100", "wb").write(parts(record100, names100, flags=1))
stl = bytes(i % 251 for i in range(96 * 96 * 3))
open(f"{out}/stl10/one", "wb").write(parts(stl, bytes([1]), b"a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n"))
def png(w, h):
    raw = b"".join(b"\0" + bytes((x * 7 + y * 3) % 256 for x in range(w * 3)) for y in range(h))
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) \
        + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
open(f"{out}/folder_image/png", "wb").write(bytes([0]) + png(8, 6))
PY
# A JPEG from the photos the README crops, when the machine has them.
jpeg=$(find /usr/share/backgrounds /usr/share/wallpapers -name '*.jpg' -size -200k 2>/dev/null | head -n 1 || true)
if [ -n "$jpeg" ]; then
  { printf '\001'; cat "$jpeg"; } > "$out/folder_image/jpeg"
else
  # Or one drawn by Pillow (the bench environment has it).
  for py in python3 "$HOME/.cache/pretext-bench-venv/bin/python"; do
    "$py" -c 'import io, sys
from PIL import Image
b = io.BytesIO(); Image.radial_gradient("L").resize((24, 16)).convert("RGB").save(b, "JPEG")
sys.stdout.buffer.write(b"\x01" + b.getvalue())' > "$out/folder_image/jpeg" 2>/dev/null && break
    rm -f "$out/folder_image/jpeg"
  done
fi

python3 -c 'import struct,gzip,sys
d=sys.argv[1]
import os; os.makedirs(d, exist_ok=True)' "$work/fmnist"
python3 - "$work/fmnist" <<'PY'
import gzip, struct, sys
d = sys.argv[1]
n = 64
for prefix, count in (("train", n), ("t10k", 16)):
    img = bytes([0, 0, 8, 3]) + struct.pack(">III", count, 28, 28) + bytes((i * 31) % 256 for i in range(count * 784))
    lab = bytes([0, 0, 8, 1]) + struct.pack(">I", count) + bytes(i % 10 for i in range(count))
    open(f"{d}/{prefix}-images-idx3-ubyte.gz", "wb").write(gzip.compress(img))
    open(f"{d}/{prefix}-labels-idx1-ubyte.gz", "wb").write(gzip.compress(lab))
PY
"$P" pretrain --method rotation --encoder convnet-small --data "fashion-mnist:$work/fmnist" \
  --epochs 1 --batch-size 32 --out "$work/run" --quiet --set encoder.width=0.25 >/dev/null 2>&1
cp "$work/run/checkpoint.ckpt" "$out/checkpoint/rotation"
"$P" export --checkpoint "$work/run" --out "$out/safetensors_import/rotation" >/dev/null
cp "$work/run/config.toml" "$out/config_toml/resolved"
printf '[method]\nname = "byol"\nprojector = { hidden = [64], out = 32 }\n[train]\nepochs = 2\n' > "$out/config_toml/small"
"$P" permutations --count 10 --out "$out/permutations/ten" >/dev/null
ls -R "$out" | head -40
