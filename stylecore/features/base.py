"""The feature-network interface and its config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

FeatureKind = Literal["efficientnet_lite0", "random", "vgg19"]


@dataclass(frozen=True)
class FeatureConfig:
    kind: FeatureKind = "efficientnet_lite0"
    seed: int = 1234  # random network only
    widths: tuple[int, ...] = (32, 64, 128, 128, 256)  # random network only
    content_layer: int = 2  # index into the returned list
    # efficientnet_lite0 only: the blocks after which features are taken (-1 = the stem);
    # see stylecore.features.efficientnet for each tap's stride and width.
    taps: tuple[int, ...] = (-1, 0, 2, 4, 7, 10)

    def __post_init__(self) -> None:
        if self.kind == "efficientnet_lite0":
            from stylecore.features.efficientnet import N_BLOCKS

            if not self.taps or sorted(set(self.taps)) != list(self.taps):
                raise ValueError(f"taps={self.taps}: expected distinct block indices, ascending")
            if self.taps[0] < -1 or self.taps[-1] >= N_BLOCKS:
                raise ValueError(f"taps={self.taps}: block indices run from -1 to {N_BLOCKS - 1}")
            if not 0 <= self.content_layer < len(self.taps):
                raise ValueError(f"content_layer={self.content_layer}: not one of the taps")


class FeatureNet(nn.Module):
    """Frozen feature extractor. ``forward(x) -> list of (B, C_i, H_i, W_i)``."""

    kind: str
    content_layer: int

    def style_and_content(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        feats = self(x)
        return feats, feats[self.content_layer]
