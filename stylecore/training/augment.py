"""Differentiable augmentation of the discriminators' inputs (Zhao et al., 2020, "DiffAugment
for data-efficient GAN training").

With a handful of style references a discriminator soon memorises them and its loss falls
to ~0, after which the generator gets no useful gradient. Shifting and cutting out parts of
*both* real and fake images before D sees them (and, for the generator step, before the
gradient flows back through the same operations) stops the memorising without changing
what the generator is asked to produce. No colour jitter: the palette is part of the look.

The random draws come in as a tensor ``params`` ``(B, 4)`` of uniforms in [0, 1), drawn with
the batch, so a data-parallel shard of a batch augments exactly as the whole batch does.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SHIFT = 0.125  # at most this fraction of the side, each way
CUTOUT = 0.5  # side of the cut-out square, as a fraction of the image side


def diff_augment(x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Translate each image by up to ``SHIFT`` of its size (zero fill) and zero a square of
    ``CUTOUT`` of its side. ``params[:, 0:2]`` place the shift, ``params[:, 2:4]`` the
    square's centre."""
    b, _, h, w = x.shape
    if params.shape != (b, 4):
        raise ValueError(f"diff_augment: params {tuple(params.shape)}, expected ({b}, 4)")
    p = params.detach().float().cpu()
    ph, pw = max(1, int(h * SHIFT)), max(1, int(w * SHIFT))
    padded = F.pad(x, (pw, pw, ph, ph))
    dy = (p[:, 0] * (2 * ph + 1)).long().clamp(max=2 * ph)
    dx = (p[:, 1] * (2 * pw + 1)).long().clamp(max=2 * pw)
    shifted = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(b)])
    ch, cw = max(1, int(h * CUTOUT)), max(1, int(w * CUTOUT))
    ys = torch.arange(h)[None, :, None]
    xs = torch.arange(w)[None, None, :]
    cy = (p[:, 2] * h).long()[:, None, None]
    cx = (p[:, 3] * w).long()[:, None, None]
    keep = ~(((ys - cy).abs() <= ch // 2) & ((xs - cx).abs() <= cw // 2))
    return shifted * keep[:, None].to(x.device, x.dtype)
