"""Loads an encoder exported by `pretext export` with strict=True into torchvision's ResNet
or, for a ViT, into timm's VisionTransformer (`timm.create_model("vit_tiny_patch16_224",
num_classes=0, img_size=…, patch_size=…, in_chans=…, …)` with the run's shape), and checks that
it computes pretext's features on the sample `pretext export --sample N` wrote.

    python check_export.py ENCODER.safetensors   # reads ENCODER.sample.safetensors too

Prints the largest absolute difference; exits 1 when the load fails or the difference exceeds
1e-4 times the features' largest magnitude (at least 1): float32 sums of untrained networks
reach 1e4 and more, where the last bit alone is 1e-3.
"""
import json
import sys

import torch
import torchvision
from safetensors import safe_open
from safetensors.torch import load_file


def build_vit(encoder, shape):
    """timm's ViT for pretext's encoder config: the size's name, with pretext's overrides."""
    import timm
    dim, heads = shape["dim"], shape["heads"]
    return timm.create_model(
        encoder["arch"].replace("-", "_") + "_patch16_224", pretrained=False, num_classes=0,
        img_size=encoder["image_size"], patch_size=encoder["patch_size"],
        in_chans=encoder["in_channels"], embed_dim=dim, depth=encoder["depth"], num_heads=heads,
        global_pool="avg" if encoder.get("pool") == "mean" else "token", fc_norm=False,
        init_values=encoder.get("layer_scale") or None)


def build(encoder):
    """torchvision's ResNet for pretext's encoder config, without the classifier."""
    assert encoder["width"] == 1.0, "torchvision has no width multiplier; export width 1.0"
    net = getattr(torchvision.models, encoder["arch"].replace("-", ""))()
    net.fc = torch.nn.Identity()
    channels = encoder["in_channels"]
    if encoder["stem"] == "cifar":
        net.conv1 = torch.nn.Conv2d(channels, 64, 3, 1, 1, bias=False)
        net.maxpool = torch.nn.Identity()
    elif channels != 3:
        net.conv1 = torch.nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
    return net


def main(path):
    with safe_open(path, "pt") as f:
        info = json.loads(f.metadata()["pretext"])
    encoder = info["encoder"]
    if encoder["arch"].startswith("vit"):
        with safe_open(path, "pt") as f:
            width = f.get_slice("cls_token").get_shape()[-1]
        net = build_vit(encoder, {"dim": width, "heads": encoder["heads"]})
    else:
        net = build(encoder)
    net.load_state_dict(load_file(path), strict=True)
    net.eval()
    sample = load_file(path.removesuffix(".safetensors") + ".sample.safetensors")
    with torch.no_grad():
        features = net(sample["input"])
    diff = (features - sample["features"]).abs().max().item()
    scale = max(1.0, sample["features"].abs().max().item())
    print(json.dumps({"arch": encoder["arch"], "stem": encoder["stem"],
                      "strict_load": True, "images": features.shape[0],
                      "feature_dim": features.shape[1], "max_abs_diff": diff,
                      "max_abs_feature": scale, "relative_diff": diff / scale}))
    return 0 if diff <= 1e-4 * scale else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
