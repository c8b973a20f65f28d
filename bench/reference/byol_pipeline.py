"""torchvision reference of pretext's BYOL data pipeline, for bench/pipeline.sh.

For each image file (cycled): read and decode it (torchvision.io, uint8 tensor), then build
BYOL's two views with transforms v2 on uint8 tensors, torchvision's fastest path (Grill et
al. 2020, table 6; pretext's ViewConfig::byol_view1/byol_view2): random resized crop (scale
0.08-1, ratio 3/4-4/3, antialiased), horizontal flip 0.5, colour jitter (0.4, 0.4, 0.2, 0.1)
with probability 0.8, grayscale 0.2, Gaussian blur (kernel about a tenth of the size, odd,
at least 3; sigma 0.1-2) with probability 1.0 / 0.1, solarisation at 0.5 with probability
0 / 0.2, then conversion to float and ImageNet normalisation. One thread (`--threads`).

Prints one JSON line: raw images (each two views) per second.

    python bench/reference/byol_pipeline.py --images DIR --size 32 --count 2000
"""
import argparse
import json
import pathlib
import time

import torch
from torchvision.io import ImageReadMode, decode_image, read_file
from torchvision.transforms import v2


def view(size, blur_prob, solarize_prob):
    kernel = max(3, size // 10) | 1
    return v2.Compose([
        v2.RandomResizedCrop(size, scale=(0.08, 1.0), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
        v2.RandomGrayscale(p=0.2),
        v2.RandomApply([v2.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=blur_prob),
        v2.RandomSolarize(threshold=128, p=solarize_prob),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
    ])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", required=True, help="folder of PNG/JPEG images (recursive)")
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--count", type=int, default=2000)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    files = sorted(f for f in pathlib.Path(args.images).rglob("*") if f.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        raise SystemExit(f"{args.images}: no PNG or JPEG images")
    t1, t2 = view(args.size, 1.0, 0.0), view(args.size, 0.1, 0.2)
    for f in files[:20]:  # warm-up
        t1(decode_image(read_file(str(f)), mode=ImageReadMode.RGB))
    start = time.perf_counter()
    for i in range(args.count):
        image = decode_image(read_file(str(files[i % len(files)])), mode=ImageReadMode.RGB)
        a, b = t1(image), t2(image)
        assert a.shape == b.shape == (3, args.size, args.size)
    elapsed = time.perf_counter() - start
    print(json.dumps({"images_per_sec": args.count / elapsed}))


if __name__ == "__main__":
    main()
