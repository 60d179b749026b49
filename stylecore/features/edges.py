"""Oriented luminance edges: the texture's direction, for the style loss."""

from __future__ import annotations

import torch
from torch import nn

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
