"""Writes the state_dict keys and shapes of torchvision's resnet18 and resnet50 (without fc)
to tests/data/torchvision_keys.txt, the reference pretext's export test compares its names
against without needing PyTorch in CI.

    python bench/reference/torchvision_keys.py > tests/data/torchvision_keys.txt
"""
import torchvision

print(f"# torchvision {torchvision.__version__}: arch key shape (fc.* left out)")
for arch in ["resnet18", "resnet50"]:
    for key, value in getattr(torchvision.models, arch)().state_dict().items():
        if not key.startswith("fc."):
            print(arch, key, "x".join(str(d) for d in value.shape) or "scalar")
