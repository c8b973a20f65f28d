"""The BYOL recipe of configs/fashion-mnist/byol.toml written with lightly's own components,
for bench/byol_lightly.sh: what a lightly user on the same machine would run.

lightly's parts: `BYOLTransform` (`BYOLView1Transform` / `BYOLView2Transform`, with pretext's
small-image variant: no blur below 64 px, Fashion-MNIST's normalisation), `BYOLProjectionHead`
and `BYOLPredictionHead` (4096 hidden with batch norm, 256 out), `NegativeCosineSimilarity`,
`update_momentum`, `deactivate_requires_grad`, `cosine_schedule` (τ from `tau_base` to 1),
`cosine_warmup_schedule` (the learning rate), `LARS` and `knn_predict`; PyTorch's
`DataLoader` with worker processes. The encoder is pretext's small ConvNet
(bench/reference/train_step.convnet_small: five 3×3 conv-BN-ReLU layers, 128-d features).

What is matched to pretext rather than left at lightly's example values:
- the loss: pretext's is BYOL's eq. 2 symmetrised (eq. 4), Σ over both views of the mean of
  `2 − 2 cos`; with lightly's criterion (−cos) that is `4 + 2 (crit(p0, z1) + crit(p1, z0))`
  (lightly's example halves it instead; the constant changes nothing, the factor 4 would
  change the plain-SGD steps of the biases and batch-norm parameters);
- both views go through the networks as one batch of 2·B images (pretext's views::forward);
- LARS with trust coefficient 0.02 and weight decay 1e-5 on the weights, while biases and
  batch-norm parameters are put in a group with weight decay 0, which lightly's LARS excludes
  from the trust ratio (pretext's train::optim::Lars excludes them from both);
- the learning rate `lr × B/256`, linear warm-up over `warmup_epochs` of an epoch, then cosine
  to 0 over the whole epoch schedule, stepped every iteration; τ on the same step count.

Prints one JSON line: the training wall time (seconds from building the DataLoader to the
end of the last step: data loading included), images per second, the last loss, and the kNN
top-1 (k = 200, T = 0.1, lightly's `knn_predict`; the whole train split as the bank, the
whole test split as queries, centre images without augmentation).

    python bench/reference/byol_lightly.py --data /usr/share/datasets/fashion-mnist --threads 2
"""
import argparse
import copy
import json
import pathlib
import sys
import time

import torch
import torch.nn.functional as F
from PIL import Image

from lightly.loss import NegativeCosineSimilarity
from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead
from lightly.models.utils import deactivate_requires_grad, update_momentum
from lightly.transforms.byol_transform import BYOLTransform, BYOLView1Transform, BYOLView2Transform
from lightly.utils.benchmarking import knn_predict
from lightly.utils.lars import LARS
from lightly.utils.scheduler import cosine_schedule, cosine_warmup_schedule

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from byol_train import MEAN, STD, load  # noqa: E402
from train_step import convnet_small  # noqa: E402


class Images(torch.utils.data.Dataset):
    """Fashion-MNIST's uint8 images as PIL images, through a lightly transform."""

    def __init__(self, images, transform):
        self.images, self.transform = images, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(Image.fromarray(self.images[i].numpy(), mode="L"))


class BYOL(torch.nn.Module):
    """lightly's BYOL example: online backbone + projection + prediction head, momentum copies
    of the backbone and projection head."""

    def __init__(self, backbone, dim):
        super().__init__()
        self.backbone = backbone
        self.projection_head = BYOLProjectionHead(dim, 4096, 256)
        self.prediction_head = BYOLPredictionHead(256, 4096, 256)
        self.backbone_momentum = copy.deepcopy(self.backbone)
        self.projection_head_momentum = copy.deepcopy(self.projection_head)
        deactivate_requires_grad(self.backbone_momentum)
        deactivate_requires_grad(self.projection_head_momentum)

    def forward(self, x):
        return self.prediction_head(self.projection_head(self.backbone(x)))

    def forward_momentum(self, x):
        return self.projection_head_momentum(self.backbone_momentum(x)).detach()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="folder of the Fashion-MNIST IDX files")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads of the training process")
    p.add_argument("--workers", type=int, default=2, help="DataLoader worker processes")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=300, help="stop after this many steps (the schedules still span all epochs)")
    p.add_argument("--lr", type=float, default=1.0, help="before × batch/256")
    p.add_argument("--trust", type=float, default=0.02)
    p.add_argument("--weight-decay", type=float, default=1e-5)
    p.add_argument("--warmup-epochs", type=float, default=0.013)
    p.add_argument("--tau-base", type=float, default=0.99)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    train_images, train_labels = load(args.data, "train")
    test_images, test_labels = load(args.data, "test")
    normalize = {"mean": [MEAN], "std": [STD]}
    transform = BYOLTransform(
        BYOLView1Transform(input_size=28, gaussian_blur=0.0, normalize=normalize),
        BYOLView2Transform(input_size=28, gaussian_blur=0.0, solarization_prob=0.2, normalize=normalize),
    )
    backbone, dim = convnet_small(1, 1.0)
    model = BYOL(backbone, dim)
    criterion = NegativeCosineSimilarity()
    trained = [q for q in model.parameters() if q.requires_grad]
    weights = [q for q in trained if q.ndim > 1]
    others = [q for q in trained if q.ndim <= 1]
    base_lr = args.lr * args.batch_size / 256
    opt = LARS(
        [{"params": weights, "weight_decay": args.weight_decay}, {"params": others, "weight_decay": 0.0}],
        lr=base_lr, momentum=0.9, trust_coefficient=args.trust,
    )

    start = time.perf_counter()
    loader = torch.utils.data.DataLoader(
        Images(train_images, transform), batch_size=args.batch_size, shuffle=True, drop_last=True,
        num_workers=args.workers, persistent_workers=args.workers > 0)
    total = args.epochs * len(loader)
    warmup = round(args.warmup_epochs * len(loader))
    step, loss = 0, float("nan")
    for _ in range(args.epochs):
        for x0, x1 in loader:
            lr = cosine_warmup_schedule(step, total, base_lr, 0.0, warmup, 0.0, base_lr)
            for group in opt.param_groups:
                group["lr"] = lr
            tau = cosine_schedule(step, total, args.tau_base, 1.0)
            x = torch.cat([x0, x1])
            p0, p1 = model(x).chunk(2)
            z0, z1 = model.forward_momentum(x).chunk(2)
            out = 4 + 2 * (criterion(p0, z1) + criterion(p1, z0))
            opt.zero_grad(set_to_none=True)
            out.backward()
            opt.step()
            update_momentum(model.backbone, model.backbone_momentum, m=tau)
            update_momentum(model.projection_head, model.projection_head_momentum, m=tau)
            step += 1
            if step == args.max_steps:
                break
        loss = out.item()
        if step == args.max_steps:
            break
    elapsed = time.perf_counter() - start

    @torch.no_grad()
    def embed(images):
        model.backbone.eval()
        out = [F.normalize(model.backbone((c[:, None].float().div(255) - MEAN) / STD), dim=1) for c in images.split(1024)]
        return torch.cat(out)

    bank, queries = embed(train_images), embed(test_images)
    predicted = torch.cat([knn_predict(q, bank.T, train_labels, 10, 200, 0.1)[:, 0] for q in queries.split(1024)])
    print(json.dumps({
        "seconds": elapsed,
        "images_per_sec": step * args.batch_size / elapsed,
        "steps": step,
        "loss": loss,
        "knn_top1": (predicted == test_labels).float().mean().item(),
        "torch": torch.__version__,
        "lightly": __import__("lightly").__version__,
    }))


if __name__ == "__main__":
    main()
