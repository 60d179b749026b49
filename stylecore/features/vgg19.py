"""torchvision's VGG19 as a feature network, when the caller has its ImageNet weights."""

from __future__ import annotations

import torch

from stylecore.features.base import FeatureNet

# relu1_1, relu2_1, relu3_1, relu4_1 for style; relu4_2 for content (Gatys et al.)
_VGG_TAPS = (1, 6, 11, 20, 22)


class VGG19Features(FeatureNet):
    """torchvision VGG19 ``features`` up to relu4_2, ImageNet-normalised input."""

    kind = "vgg19"

    def __init__(self, state_dict: dict[str, torch.Tensor]) -> None:
        super().__init__()
        from torchvision.models import vgg19

        net = vgg19(weights=None)
        missing, unexpected = net.load_state_dict(state_dict, strict=False)
        if any(k.startswith("features.") for k in missing):
            raise ValueError(f"VGG19 weights: missing {sorted(missing)[:3]}...")
        self.body = net.features[: _VGG_TAPS[-1] + 1]
        self.content_layer = len(_VGG_TAPS) - 1
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()
        del unexpected

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = ((x + 1) / 2 - self.mean) / self.std
        out = []
        for i, layer in enumerate(self.body):
            h = layer(h)
            if i in _VGG_TAPS:
                out.append(h)
        return out
