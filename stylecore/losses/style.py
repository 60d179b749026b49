"""Gram-matrix style loss over several feature layers."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def gram_matrix(feat: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Normalised Gram matrix: ``(B, C, H, W)`` -> ``(B, C, C)``, divided by ``C*H*W`` so
    its scale does not depend on layer size. With ``weight`` ``(B, 1, h, w)`` >= 0 (resized
    to the features), each position counts by its weight and the sum is divided by
    ``C * sum(weight)``: the Gram of a region, e.g. the background."""
    b, c, h, w = feat.shape
    if weight is None:
        f = feat.reshape(b, c, h * w)
        return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)
    wt = F.interpolate(weight.to(feat.dtype), size=(h, w), mode="area").clamp_min(0)
    f = (feat * wt.sqrt()).reshape(b, c, h * w)
    norm = (c * wt.sum(dim=(1, 2, 3))).clamp_min(1e-6)[:, None, None]
    return torch.bmm(f, f.transpose(1, 2)) / norm


def pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    """``x`` at full, 1/2, 1/4, ... size (2x2 average pooling), ``levels`` copies."""
    out = [x]
    for _ in range(levels - 1):
        out.append(F.avg_pool2d(out[-1], 2, ceil_mode=True))
    return out


def colour_stats_loss(
    img: torch.Tensor,
    mean_t: torch.Tensor,
    cov_t: torch.Tensor,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Squared distance of the pixels' colour mean and covariance ``(B, 3)``, ``(B, 3, 3)``
    (weighted by ``weight`` ``(B, 1, H, W)``, e.g. the background) to per-image targets:
    the zeroth layer of a style loss, which holds the palette even where a feature Gram
    trades colour against texture. Mean over the batch's images."""
    b, c = img.shape[:2]
    w = torch.ones_like(img[:, :1]) if weight is None else weight.to(img.dtype).clamp_min(0)
    total = w.sum(dim=(1, 2, 3)).clamp_min(1e-6)
    mean = (img * w).sum(dim=(2, 3)) / total[:, None]
    d = (img - mean[:, :, None, None]) * w.sqrt()
    d = d.reshape(b, c, -1)
    cov = torch.bmm(d, d.transpose(1, 2)) / total[:, None, None]
    return (((mean - mean_t) ** 2).sum(1) + ((cov - cov_t) ** 2).sum(dim=(1, 2)).sqrt()).mean()


def style_loss(
    feats: Sequence[torch.Tensor],
    target_grams: Sequence[torch.Tensor],
    layer_weights: Sequence[float] | None = None,
    weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sum over layers of the mean squared difference between the features' Gram matrices
    and target Grams (``(C, C)`` or ``(B, C, C)``, broadcast over the batch), with each
    layer's term divided by the target Gram's mean square so layers weigh alike. With
    per-image targets ``(B, C, C)`` each image is scaled by its own target, so a batch's
    loss is the mean of its images' losses. ``weight`` ``(B, 1, H, W)`` takes the output's
    Grams over a weighted region (see ``gram_matrix``)."""
    if len(feats) != len(target_grams):
        raise ValueError(f"style_loss: {len(feats)} feature layers but {len(target_grams)} grams")
    weights = layer_weights or [1.0] * len(feats)
    total = feats[0].new_zeros(())
    for f, g_t, w in zip(feats, target_grams, weights, strict=True):
        g = gram_matrix(f, weight)
        if g_t.ndim == 3:
            scale = (g_t.detach() ** 2).mean(dim=(1, 2)).clamp_min(1e-12)
            total = total + w * (((g - g_t) ** 2).mean(dim=(1, 2)) / scale).mean()
        else:
            scale = (g_t.detach() ** 2).mean().clamp_min(1e-12)
            total = total + w * ((g - g_t) ** 2).mean() / scale
    return total


class GramStyleLoss(nn.Module):
    """Holds the target Grams (buffers) of a style; ``forward(feats)`` gives the loss."""

    def __init__(
        self, target_grams: Sequence[torch.Tensor], layer_weights: Sequence[float] | None = None
    ) -> None:
        super().__init__()
        for i, g in enumerate(target_grams):
            self.register_buffer(f"gram{i}", g.detach().clone())
        self.n = len(target_grams)
        self.layer_weights = list(layer_weights) if layer_weights else None

    def forward(self, feats: Sequence[torch.Tensor]) -> torch.Tensor:
        grams = [getattr(self, f"gram{i}") for i in range(self.n)]
        return style_loss(feats, grams, self.layer_weights)
