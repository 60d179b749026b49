"""Multi-scale PatchGAN discriminator with spectral normalisation.

Each scale is a small PatchGAN (70x70-style receptive field at full scale) that scores
overlapping patches; the second and third scales see 2x and 4x average-pooled copies, so
the set judges both fine texture and larger layout (Wang et al., pix2pixHD). Spectral
normalisation (Miyato et al., 2018) bounds each layer's Lipschitz constant, which keeps the
discriminator from overpowering the generator on a handful of style images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm


@dataclass(frozen=True)
class DiscriminatorConfig:
    base: int = 32
    n_layers: int = 3
    n_scales: int = 2

    def __post_init__(self) -> None:
        if self.base < 1 or self.n_layers < 1 or self.n_scales < 1:
            raise ValueError("base, n_layers and n_scales must be >= 1")


class PatchD(nn.Module):
    def __init__(self, base: int, n_layers: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin, c = 3, base
        for i in range(n_layers):
            stride = 2 if i < n_layers - 1 else 1
            layers += [spectral_norm(nn.Conv2d(cin, c, 4, stride, 1)), nn.LeakyReLU(0.2, True)]
            cin, c = c, min(c * 2, base * 8)
        layers.append(spectral_norm(nn.Conv2d(cin, 1, 4, 1, 1)))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MultiScaleDiscriminator(nn.Module):
    """``forward(x)`` -> list of patch score maps, one per scale (finest first)."""

    def __init__(self, cfg: DiscriminatorConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or DiscriminatorConfig()
        self.scales = nn.ModuleList(PatchD(cfg.base, cfg.n_layers) for _ in range(cfg.n_scales))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i, d in enumerate(self.scales):
            if i > 0:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            outs.append(d(x))
        return outs
