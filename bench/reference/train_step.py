"""PyTorch reference of pretext's training step, for bench/step.sh.

Builds the same network as pretext (`--net`: ResNet-18 with the CIFAR stem at a width
multiplier, or pretext's small ConvNet), the same method (`--method`: a supervised linear
classifier with cross-entropy, or BYOL with its two views, online projector and predictor,
EMA target), the same batch on synthetic data (so only compute is timed), and the same SGD
(momentum 0.9, weight decay 5e-4). Times `--steps` optimiser steps after `--warmup` untimed
ones, in eager mode or under `torch.compile` (`--compile`), with `--threads` intra-op threads,
on `--device` (cpu, or cuda for bench/gpu.sh; every step reads its loss, which waits for the
device, as pretext's step does).

Prints one JSON line: images per second (raw images, not views) and the FLOPs of one
training step per image, counted by torch.utils.flop_counter (2 FLOPs per multiply-add,
convolutions and matrix products, forward and backward).

    python bench/reference/train_step.py --net resnet18 --width 0.25 --threads 2
"""
import argparse
import copy
import json
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.resnet import BasicBlock


def scaled(channels, width):
    """pretext's EncoderConfig::scaled: round half away from zero, at least 1."""
    return max(1, int(channels * width + 0.5))


def resnet18_cifar(in_channels, width):
    """torchvision's ResNet-18 (BasicBlock, [2, 2, 2, 2]) with the CIFAR stem (3x3 stride-1
    conv, no max-pool) and widths 64-128-256-512 times `width`; no fc (features)."""
    widths = [scaled(c, width) for c in (64, 128, 256, 512)]
    layers = [
        nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
        nn.BatchNorm2d(widths[0]),
        nn.ReLU(inplace=True),
    ]
    inplanes = widths[0]
    for i, planes in enumerate(widths):
        stride = 1 if i == 0 else 2
        down = None
        if stride != 1 or inplanes != planes:
            down = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )
        layers += [BasicBlock(inplanes, planes, stride, down), BasicBlock(planes, planes)]
        inplanes = planes
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers), inplanes


def convnet_small(in_channels, width):
    """pretext's ConvNetSmall: five 3x3 conv-BN-ReLU layers (32-32-64-64-128 times `width`),
    2x2 max-pool after the 2nd and 4th, global average pooling."""
    layers, c = [], in_channels
    for i, w in enumerate(scaled(w, width) for w in (32, 32, 64, 64, 128)):
        layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
        if i in (1, 3):
            layers.append(nn.MaxPool2d(2))
        c = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), c


def mlp(d_in, hidden, d_out):
    """pretext's MlpConfig::new([hidden], out): Linear-BN-ReLU, then Linear."""
    return nn.Sequential(nn.Linear(d_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, d_out))


def normalized_mse(p, z):
    return (2 - 2 * (F.normalize(p, dim=1) * F.normalize(z, dim=1)).sum(1)).mean()


class Supervised(nn.Module):
    """Encoder + linear classifier, cross-entropy (pretext's `supervised` method without
    the head's batch norm)."""

    def __init__(self, encoder, dim, classes):
        super().__init__()
        self.encoder, self.fc = encoder, nn.Linear(dim, classes)

    def forward(self, x, y):
        return F.cross_entropy(self.fc(self.encoder(x)), y)


class Byol(nn.Module):
    """BYOL (Grill et al. 2020): both views through the online network in one batch (as
    pretext does), the target network under no_grad, the symmetric normalised MSE."""

    def __init__(self, encoder, dim):
        super().__init__()
        self.encoder, self.projector, self.predictor = encoder, mlp(dim, 4096, 256), mlp(256, 4096, 256)
        self.target = nn.Sequential(copy.deepcopy(encoder), copy.deepcopy(self.projector))
        self.target.requires_grad_(False)

    def forward(self, x, _y):
        n = x.shape[0] // 2
        p = self.predictor(self.projector(self.encoder(x)))
        with torch.no_grad():
            t = self.target(x)
        return normalized_mse(p[:n], t[n:]) + normalized_mse(p[n:], t[:n])

    @torch.no_grad()
    def follow(self, tau):
        online = list(self.encoder.parameters()) + list(self.projector.parameters())
        torch._foreach_lerp_(list(self.target.parameters()), online, 1 - tau)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--net", choices=["resnet18", "convnet-small"], default="resnet18")
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--method", choices=["supervised", "byol"], default="supervised")
    p.add_argument("--channels", type=int, default=3)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--bf16", action="store_true",
                   help="the forward under torch.autocast(device, dtype=torch.bfloat16): "
                        "convolutions and matrix products in bf16, as PyTorch's mixed precision")
    p.add_argument("--strict-fp32", action="store_true",
                   help="on CUDA, no TF32 in convolutions (cuDNN's default) or matrix products")
    args = p.parse_args()
    if args.strict_fp32:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    build = resnet18_cifar if args.net == "resnet18" else convnet_small
    encoder, dim = build(args.channels, args.width)
    views = 2 if args.method == "byol" else 1
    model = Byol(encoder, dim) if args.method == "byol" else Supervised(encoder, dim, args.classes)
    model = model.to(args.device)
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(args.batch_size * views, args.channels, args.size, args.size, device=args.device)
    y = torch.randint(0, args.classes, (args.batch_size,), device=args.device)
    loss_fn = torch.compile(model) if args.compile else model

    def forward():
        with torch.autocast(args.device, dtype=torch.bfloat16, enabled=args.bf16):
            return loss_fn(x, y)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = forward()
        loss.backward()
        opt.step()
        if args.method == "byol":
            model.follow(0.996)
        return loss.item()

    counter = FlopCounterMode(display=False)
    with counter:
        model(x, y).backward()
    opt.zero_grad(set_to_none=True)
    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    elapsed = time.perf_counter() - start
    print(json.dumps({
        "images_per_sec": args.batch_size * args.steps / elapsed,
        "flops_per_image": counter.get_total_flops() / args.batch_size,
    }))


if __name__ == "__main__":
    main()
