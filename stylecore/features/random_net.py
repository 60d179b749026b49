"""A seeded random-filter network: texture statistics without any weights to ship."""

from __future__ import annotations

import torch
from torch import nn

from stylecore.features.base import FeatureConfig, FeatureNet


class RandomFeatureNet(FeatureNet):
    """3x3 convolutions with seeded random weights (He-scaled), ReLU, and 2x average pooling
    between layers: receptive fields of about 3, 8, 18, 38 and 78 px."""

    kind = "random"

    def __init__(self, cfg: FeatureConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or FeatureConfig()
        self.content_layer = cfg.content_layer
        g = torch.Generator().manual_seed(cfg.seed)
        layers = []
        cin = 3
        for c in cfg.widths:
            conv = nn.Conv2d(cin, c, 3, padding=1, padding_mode="reflect")
            with torch.no_grad():
                conv.weight.copy_(
                    torch.randn(conv.weight.shape, generator=g) * (2.0 / (cin * 9)) ** 0.5
                )
                conv.bias.copy_(torch.randn(c, generator=g) * 0.1)
            layers.append(conv)
            cin = c
        self.layers = nn.ModuleList(layers)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        h = x
        for i, conv in enumerate(self.layers):
            if i > 0:
                h = nn.functional.avg_pool2d(h, 2, ceil_mode=True)
            h = torch.relu(conv(h))
            out.append(h)
        return out
