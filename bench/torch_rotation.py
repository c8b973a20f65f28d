"""PyTorch reference for pretext's rotation training step: the same small ConvNet
(five 3x3 conv-BN-ReLU layers, widths 32-32-64-64-128, 2x2 max-pool after the 2nd and 4th,
global average pooling, linear 4-way head), the same batch (128 images x 4 rotations, 1x28x28),
SGD with momentum 0.9 and weight decay 5e-4. Prints raw images (not views) per second of
the training step, on synthetic data so only the compute is timed.

    python3 bench/torch_rotation.py --threads 2 --steps 30
"""
import argparse
import time

import torch
import torch.nn as nn


def convnet_small(in_channels=1, width=1.0):
    widths = [max(1, round(w * width)) for w in (32, 32, 64, 64, 128)]
    layers, c = [], in_channels
    for i, w in enumerate(widths):
        layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
        if i in (1, 3):
            layers.append(nn.MaxPool2d(2))
        c = w
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten()), c


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=128)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    encoder, dim = convnet_small()
    model = nn.Sequential(encoder, nn.Linear(dim, 4))
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(args.batch_size * 4, 1, 28, 28)
    y = torch.arange(4).repeat(args.batch_size)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    elapsed = time.perf_counter() - start
    print(f"{args.batch_size * args.steps / elapsed:.1f}")


if __name__ == "__main__":
    main()
