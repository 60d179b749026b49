"""Content (perceptual) loss: mean squared difference of feature maps."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def content_loss(
    feat: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """MSE between feature maps ``(B, C, H, W)``; ``weight`` ``(B, 1, h, w)`` in [0, 1]
    (resized to the features) weights each position, e.g. strong on the product and weak
    on the background. Returns a scalar.

    With a weight, each image is normalised by its own weight sum and the images are
    averaged, so every image counts equally whatever its product size, and the loss of a
    batch is the mean of its images' losses (data-parallel training over shards of a batch
    then gives exactly the gradients of the whole batch)."""
    if feat.shape != target.shape:
        raise ValueError(
            f"content_loss: shapes differ {tuple(feat.shape)} vs {tuple(target.shape)}"
        )
    sq = (feat - target) ** 2
    if weight is None:
        return sq.mean()
    w = F.interpolate(weight, size=feat.shape[-2:], mode="bilinear", align_corners=False)
    per_image = (sq * w).sum(dim=(1, 2, 3)) / (w.sum(dim=(1, 2, 3)) * feat.shape[1]).clamp_min(1e-8)
    return per_image.mean()
