"""EfficientNet-Lite0 (the package's ImageNet weights) as a feature network."""

from __future__ import annotations

import torch

from stylecore.features.base import FeatureConfig, FeatureNet


class Lite0Features(FeatureNet):
    """EfficientNet-Lite0 (package ImageNet weights) features at ``cfg.taps``, from images
    ``(B, 3, H, W)`` in [-1, 1] (normalised to ImageNet statistics inside)."""

    kind = "efficientnet_lite0"

    def __init__(self, cfg: FeatureConfig | None = None) -> None:
        super().__init__()
        from stylecore.features.efficientnet import pretrained_lite0

        cfg = cfg or FeatureConfig()
        self.taps = tuple(cfg.taps)
        self.content_layer = cfg.content_layer
        self.net = pretrained_lite0()

    def train(self, mode: bool = True) -> Lite0Features:
        # Frozen BatchNorm: running statistics always, whatever the caller's mode.
        return super().train(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        from stylecore.features.efficientnet import imagenet_normalise

        return self.net.features(imagenet_normalise(x), self.taps)
