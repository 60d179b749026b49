"""Large images without seams or out-of-memory: overlapping tiles, smooth blending and
normalisation statistics shared by all tiles.

Instance normalisation computes per-image statistics, so two tiles of one photo would be
normalised differently and disagree at their border. ``tiled_generate`` first runs the
generator once on a low-resolution copy of the whole photo and records every instance-norm
layer's per-channel mean and variance; every tile is then normalised with those global
statistics. Tiles overlap by ``overlap`` pixels and are blended with a raised-cosine
window, and the noise field is cut from one full-size field, so overlapping tiles see the
same noise. Memory is bounded by the tile size plus a few full-size float32 buffers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stylecore.models.generator import Generator, noise_for
from stylecore.models.style_model import StyleModel, mask_tensor, to_image, to_tensor
from stylecore.segmentation.base import working_size


def _norms(g: Generator) -> list[nn.InstanceNorm2d]:
    return [m for m in g.modules() if isinstance(m, nn.InstanceNorm2d)]


@torch.inference_mode()
def record_norm_stats(
    g: Generator,
    x: torch.Tensor,
    noise: torch.Tensor | None,
    style: torch.Tensor,
    alpha: float,
    mask: torch.Tensor | None = None,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per instance-norm layer, the ``(mean, var)`` of its input on ``x`` (channel vectors)."""
    stats: list[tuple[torch.Tensor, torch.Tensor]] = []

    def hook(_m, inputs):
        t = inputs[0]
        stats.append((t.mean(dim=(0, 2, 3)), t.var(dim=(0, 2, 3), unbiased=False)))

    handles = [m.register_forward_pre_hook(hook) for m in _norms(g)]
    try:
        g(x, noise, style, alpha, mask=mask)
    finally:
        for h in handles:
            h.remove()
    return stats


@contextmanager
def frozen_norm_stats(
    g: Generator, stats: list[tuple[torch.Tensor, torch.Tensor]]
) -> Iterator[None]:
    """Inside the block, every instance-norm layer normalises with the recorded statistics
    instead of its input's own."""
    norms = _norms(g)
    if len(norms) != len(stats):
        raise ValueError(f"recorded {len(stats)} norm statistics for {len(norms)} layers")
    saved = [m.forward for m in norms]

    def make(m: nn.InstanceNorm2d, mean: torch.Tensor, var: torch.Tensor):
        def fwd(x: torch.Tensor) -> torch.Tensor:
            y = (x - mean[None, :, None, None]) * torch.rsqrt(var[None, :, None, None] + m.eps)
            if m.affine:
                y = y * m.weight[None, :, None, None] + m.bias[None, :, None, None]
            return y

        return fwd

    for m, (mean, var) in zip(norms, stats, strict=True):
        m.forward = make(m, mean, var)
    try:
        yield
    finally:
        for m, f in zip(norms, saved, strict=True):
            m.forward = f


def _window(n: int, overlap: int) -> np.ndarray:
    """1-D blending weights: raised cosine over ``overlap`` at both ends, 1 inside."""
    w = np.ones(n, np.float32)
    r = min(overlap, n // 2)
    if r > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(r) + 0.5) / r)
        w[:r] = ramp
        w[n - r :] = ramp[::-1]
    return w


def _starts(size: int, tile: int, overlap: int) -> list[int]:
    if size <= tile:
        return [0]
    step = tile - overlap
    starts = [*list(range(0, size - tile, step)), size - tile]
    return sorted(set(starts))


@torch.inference_mode()
def tiled_generate(
    model: StyleModel,
    rgb: np.ndarray,
    style: torch.Tensor,
    alpha: float = 1.0,
    noise_key: str = "",
    tile: int = 512,
    overlap: int = 64,
    stats_side: int = 512,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Run the generator on ``rgb`` (uint8 ``(H, W, 3)``) tile by tile. ``style`` is a
    ``(1,)`` id tensor or a ``(1, style_dim)`` code; ``mask`` ``(H, W)`` the product, for
    models that take it. Returns uint8 ``(H, W, 3)``."""
    g = model.generator
    dev = next(g.parameters()).device
    H, W = rgb.shape[:2]
    m = g.cfg.multiple
    tile = max(tile - tile % m, 16)
    overlap = min(overlap, tile // 4)
    nc = g.cfg.noise_channels
    noise_full = noise_for(noise_key, (1, nc, H, W), dev) if nc else None
    # Global statistics from a low-resolution pass over the whole photo.
    h, w = working_size(H, W, stats_side)
    h, w = max(h - h % m, 16), max(w - w % m, 16)
    small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    small_noise = noise_for(noise_key + "#stats", (1, nc, h, w), dev) if nc else None
    use_mask = g.cfg.mask_input and mask is not None
    small_mask = mask_tensor(mask, (h, w), dev) if use_mask else None
    mask_full = mask_tensor(mask, (H, W), "cpu") if use_mask else None
    stats = record_norm_stats(
        g, to_tensor(small).to(dev), small_noise, style.to(dev), alpha, small_mask
    )

    acc = np.zeros((H, W, 3), np.float32)
    wsum = np.zeros((H, W), np.float32)
    with frozen_norm_stats(g, stats):
        for y0 in _starts(H, tile, overlap):
            for x0 in _starts(W, tile, overlap):
                y1, x1 = min(y0 + tile, H), min(x0 + tile, W)
                x = to_tensor(np.ascontiguousarray(rgb[y0:y1, x0:x1])).to(dev)
                n = noise_full[..., y0:y1, x0:x1] if noise_full is not None else None
                mt = mask_full[..., y0:y1, x0:x1].to(dev) if mask_full is not None else None
                th, tw = y1 - y0, x1 - x0
                ph, pw = (-th) % m + max(16 - th, 0), (-tw) % m + max(16 - tw, 0)
                if ph or pw:
                    x = F.pad(x, (0, pw, 0, ph), mode="replicate")
                    n = F.pad(n, (0, pw, 0, ph), mode="replicate") if n is not None else None
                    mt = F.pad(mt, (0, pw, 0, ph), mode="replicate") if mt is not None else None
                y = g(x, n, style.to(dev), alpha, mask=mt)
                out = to_image(y[..., :th, :tw]).astype(np.float32)
                wy = _window(th, overlap if tile < H else 0)
                wx = _window(tw, overlap if tile < W else 0)
                if y0 == 0:
                    wy[: min(overlap, th // 2)] = 1.0
                if y1 == H:
                    wy[th - min(overlap, th // 2) :] = 1.0
                if x0 == 0:
                    wx[: min(overlap, tw // 2)] = 1.0
                if x1 == W:
                    wx[tw - min(overlap, tw // 2) :] = 1.0
                wgt = wy[:, None] * wx[None, :]
                acc[y0:y1, x0:x1] += out * wgt[..., None]
                wsum[y0:y1, x0:x1] += wgt
    return np.clip(acc / np.maximum(wsum, 1e-6)[..., None] + 0.5, 0, 255).astype(np.uint8)


def seam_ratio(img: np.ndarray, tile: int, overlap: int) -> float:
    """Gradient energy on the worst row or column where tiles meet, relative to the image's
    median row/column energy: about 1 when there is no seam, well above 1 with one."""
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    dy = np.abs(np.diff(g, axis=0)).mean(axis=1)  # energy between row i and i+1
    dx = np.abs(np.diff(g, axis=1)).mean(axis=0)
    H, W = g.shape
    ys = [s + overlap // 2 for s in _starts(H, tile, overlap)[1:]]
    xs = [s + overlap // 2 for s in _starts(W, tile, overlap)[1:]]
    border = [dy[y] for y in ys if y < len(dy)] + [dx[x] for x in xs if x < len(dx)]
    if not border:
        return 1.0
    typical = float(np.median(np.concatenate([dy, dx])))
    return float(np.max(border) / max(typical, 1e-6))
