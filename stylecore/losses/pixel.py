"""Pixel-space losses: cycle reconstruction, identity, the L1 constraint, total variation.

Images are ``(B, 3, H, W)`` in the network range [-1, 1]; masks ``(B, 1, H, W)`` in [0, 1].
"""

from __future__ import annotations

import torch


def cycle_loss(reconstructed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """DualGAN / CycleGAN reconstruction: mean |F(G(x)) - x|."""
    return (reconstructed - original).abs().mean()


def identity_loss(mapped: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Mean |G(y) - y| for a target-domain input y: G should leave the style's own images
    alone, which curbs colour shifts (Zhu et al., 2017)."""
    return (mapped - original).abs().mean()


def l1_constraint(
    output: torch.Tensor, content: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """The L1 constraint: mean |output - content|, weighted per pixel by ``weight`` (the
    product mask, typically), so the product stays true to colour while the background is
    free to take the style. Without a weight it is plain L1. Each image is normalised by
    its own weight sum, then the images are averaged (see ``content_loss``)."""
    diff = (output - content).abs()
    if weight is None:
        return diff.mean()
    dims = tuple(range(1, output.ndim))
    norm = (weight.sum(dim=dims) * output.shape[1]).clamp_min(1e-8)
    return ((diff * weight).sum(dim=dims) / norm).mean()


def total_variation(img: torch.Tensor) -> torch.Tensor:
    """Anisotropic total variation: mean absolute difference of neighbouring pixels."""
    dh = (img[..., 1:, :] - img[..., :-1, :]).abs().mean()
    dw = (img[..., :, 1:] - img[..., :, :-1]).abs().mean()
    return dh + dw
