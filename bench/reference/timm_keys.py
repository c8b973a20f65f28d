"""Writes the state_dict keys and shapes of timm's vit_tiny/small/base_patch16_224 (without
the classifier: num_classes=0), and of vit_tiny with LayerScale (init_values=1e-5), to
tests/data/timm_keys.txt, the reference pretext's export test compares its ViT names against
without needing PyTorch in CI.

    python bench/reference/timm_keys.py > tests/data/timm_keys.txt
"""
import timm

print(f"# timm {timm.__version__}: model key shape (num_classes=0)")
cases = [("vit-tiny", "vit_tiny_patch16_224", {}), ("vit-small", "vit_small_patch16_224", {}),
         ("vit-base", "vit_base_patch16_224", {}),
         ("vit-tiny-ls", "vit_tiny_patch16_224", {"init_values": 1e-5})]
for name, model, kwargs in cases:
    net = timm.create_model(model, pretrained=False, num_classes=0, **kwargs)
    for key, value in net.state_dict().items():
        print(name, key, "x".join(str(d) for d in value.shape) or "scalar")
