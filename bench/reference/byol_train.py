"""PyTorch reference of a short BYOL pretraining run, for bench/gpu.sh.

The same run as `pretext pretrain --config configs/fashion-mnist/byol.toml` with the
overrides bench/gpu.sh gives it: Fashion-MNIST's 60 000 training images read from the IDX
files, BYOL's two views (torchvision transforms v2 in DataLoader workers; the small-image
variant, no blur below 64 px, as pretext's ViewConfig::byol_view1/byol_view2), ResNet-18
with the CIFAR stem (train_step.resnet18_cifar), projector and predictor 4096-256 with batch
norm (train_step.Byol), LARS (trust coefficient, weight decay, momentum 0.9; biases and
batch-norm parameters take plain SGD, as pretext's train::optim::Lars), learning rate
`lr × batch / 256` with linear warm-up then cosine decay to 0 over the whole run, and τ from
`tau_base` to 1 on a cosine schedule (Grill et al. 2020, §3.2).

Then the kNN probe pretext runs at the end of pretraining (k = 200, T = 0.1, cosine
similarity, votes weighted by exp(s/T); Wu et al. 2018) over the whole train split as the
bank and the whole test split as queries, on the same device.

Prints one JSON line: training wall time (seconds, the first step to the last, data loading
included), images per second, the last step's loss, and the kNN top-1.

    python bench/reference/byol_train.py --data /usr/share/datasets/fashion-mnist --device cuda
"""
import argparse
import gzip
import json
import math
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms import v2

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from train_step import Byol, resnet18_cifar  # noqa: E402

MEAN, STD = 0.2860, 0.3530  # pretext's InputSpec::default_stats for Fashion-MNIST


def read_idx(path):
    """An IDX file (gzip-compressed or not) as a numpy array."""
    raw = pathlib.Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(folder, split):
    prefix = "train" if split == "train" else "t10k"
    folder = pathlib.Path(folder)
    find = lambda kind: next(folder.glob(f"{prefix}-{kind}-idx*-ubyte*"))
    return torch.from_numpy(read_idx(find("images")).copy()), torch.from_numpy(read_idx(find("labels")).astype(np.int64))


def view(size, solarize_prob):
    return v2.Compose([
        v2.RandomResizedCrop(size, scale=(0.08, 1.0), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
        v2.RandomGrayscale(p=0.2),
        v2.RandomSolarize(threshold=128, p=solarize_prob),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize([MEAN], [STD]),
    ])


class TwoViews(torch.utils.data.Dataset):
    def __init__(self, images, size):
        self.images, self.t1, self.t2 = images, view(size, 0.0), view(size, 0.2)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image = self.images[i][None]
        return self.t1(image), self.t2(image)


class Lars(torch.optim.Optimizer):
    """pretext's train::optim::Lars: on tensors of rank > 1, g ← g + wd·w, then
    g ← η‖w‖/‖g‖·g (1 when a norm is 0); then SGD momentum. Rank-1 tensors: plain momentum."""

    def __init__(self, params, lr, momentum, weight_decay, trust):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, trust=trust))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for w in group["params"]:
                if w.grad is None:
                    continue
                g = w.grad
                if w.ndim > 1:
                    g = g + group["weight_decay"] * w
                    wn, gn = w.norm(), g.norm()
                    ratio = torch.where((wn > 0) & (gn > 0), group["trust"] * wn / gn.clamp_min(1e-30), torch.ones_like(wn))
                    g = g * ratio
                state = self.state[w]
                if "v" not in state:
                    state["v"] = g.clone()
                else:
                    state["v"].mul_(group["momentum"]).add_(g)
                w.sub_(group["lr"] * state["v"])


@torch.no_grad()
def knn_top1(encoder, bank, bank_labels, queries, query_labels, device, k=200, t=0.1, classes=10):
    def embed(images):
        out = []
        for chunk in images.split(1024):
            x = (chunk[:, None].float().div(255).to(device) - MEAN) / STD
            out.append(F.normalize(encoder(x), dim=1))
        return torch.cat(out)

    encoder.eval()
    b, q = embed(bank), embed(queries)
    bank_labels, query_labels = bank_labels.to(device), query_labels.to(device)
    correct = 0
    for qs, ls in zip(q.split(1024), query_labels.split(1024)):
        sim, idx = (qs @ b.T).topk(k, dim=1)
        votes = torch.zeros(len(qs), classes, device=device).scatter_add_(1, bank_labels[idx], (sim / t).exp())
        correct += (votes.argmax(1) == ls).sum().item()
    encoder.train()
    return correct / len(query_labels)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder of the Fashion-MNIST IDX files")
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=1.0, help="before × batch/256")
    p.add_argument("--trust", type=float, default=0.02)
    p.add_argument("--weight-decay", type=float, default=1e-5)
    p.add_argument("--warmup-epochs", type=float, default=0.013)
    p.add_argument("--tau-base", type=float, default=0.99)
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (the schedule still spans all epochs); 0 = no limit")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--compile", action="store_true")
    args = p.parse_args()

    torch.manual_seed(0)
    device = torch.device(args.device)
    train_images, train_labels = load(args.data, "train")
    test_images, test_labels = load(args.data, "test")
    loader = torch.utils.data.DataLoader(
        TwoViews(train_images, args.size), batch_size=args.batch_size, shuffle=True, drop_last=True,
        num_workers=args.workers, pin_memory=device.type == "cuda", persistent_workers=args.workers > 0)
    encoder, dim = resnet18_cifar(1, args.width)
    model = Byol(encoder, dim).to(device)
    params = [q for q in model.parameters() if q.requires_grad]
    base_lr = args.lr * args.batch_size / 256
    opt = Lars(params, base_lr, 0.9, args.weight_decay, args.trust)
    forward = torch.compile(model) if args.compile else model
    total = args.epochs * len(loader)
    warmup = max(1, round(args.warmup_epochs * len(loader)))

    step, loss = 0, float("nan")
    start = time.perf_counter()
    for _ in range(args.epochs):
        for a, b in loader:
            lr = base_lr * (step + 1) / warmup if step < warmup else \
                base_lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))
            for group in opt.param_groups:
                group["lr"] = lr
            x = torch.cat([a, b]).to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            out = forward(x, None)
            out.backward()
            opt.step()
            model.follow(1 - (1 - args.tau_base) * (math.cos(math.pi * step / total) + 1) / 2)
            step += 1
            if step == args.max_steps:
                break
        loss = out.item()
        if step == args.max_steps:
            break
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    top1 = knn_top1(model.encoder, train_images, train_labels, test_images, test_labels, device)
    print(json.dumps({
        "seconds": elapsed,
        "images_per_sec": step * args.batch_size / elapsed,
        "steps": step,
        "loss": loss,
        "knn_top1": top1,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
