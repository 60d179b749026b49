"""Gram-matrix style loss over several feature layers."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def gram_matrix(feat: torch.Tensor) -> torch.Tensor:
    """Normalised Gram matrix: ``(B, C, H, W)`` -> ``(B, C, C)``, divided by ``C*H*W`` so
    its scale does not depend on layer size."""
    b, c, h, w = feat.shape
    f = feat.reshape(b, c, h * w)
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def style_loss(
    feats: Sequence[torch.Tensor],
    target_grams: Sequence[torch.Tensor],
    layer_weights: Sequence[float] | None = None,
) -> torch.Tensor:
    """Sum over layers of the mean squared difference between the features' Gram matrices
    and target Grams (``(C, C)`` or ``(B, C, C)``, broadcast over the batch), with each
    layer's term divided by the target Gram's mean square so layers weigh alike. With
    per-image targets ``(B, C, C)`` each image is scaled by its own target, so a batch's
    loss is the mean of its images' losses."""
    if len(feats) != len(target_grams):
        raise ValueError(f"style_loss: {len(feats)} feature layers but {len(target_grams)} grams")
    weights = layer_weights or [1.0] * len(feats)
    total = feats[0].new_zeros(())
    for f, g_t, w in zip(feats, target_grams, weights, strict=True):
        g = gram_matrix(f)
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
