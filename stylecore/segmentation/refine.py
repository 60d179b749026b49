"""Shared mask plumbing for the segmenters: Lab conversion, morphology helpers, local
colour snapping and edge-aware upsampling from the working size to full size."""

from __future__ import annotations

import cv2
import numpy as np

from stylecore.segmentation.base import feather


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB -> float32 Lab (L in [0, 100])."""
    return cv2.cvtColor(rgb.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2Lab)


def is_uniform(lab: np.ndarray, tol: float = 0.6) -> bool:
    """True when no Lab channel varies by more than ``tol`` (std): a blank frame."""
    return bool(lab.reshape(-1, 3).std(axis=0).max() < tol)


def disk(r: int) -> np.ndarray:
    r = max(int(r), 1)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def keep_components(fg: np.ndarray, min_component: float, keep_ratio: float) -> np.ndarray:
    """Keep components of ``fg`` that are at least ``min_component`` of the frame and
    ``keep_ratio`` of the largest component; drop the rest (specks, debris)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), 8)
    if n <= 1:
        return fg
    area = stats[1:, cv2.CC_STAT_AREA]
    biggest = area.max()
    keep = (area >= min_component * fg.size) & (area >= keep_ratio * biggest)
    lut = np.concatenate([[False], keep])
    return lut[labels]


def local_means(lab: np.ndarray, binary: np.ndarray, radius: int):
    """Mean colour of the product side and of the backdrop side within a square window of
    ``radius`` around each pixel (box filters: constant cost per pixel)."""
    k = (2 * radius + 1, 2 * radius + 1)
    inside = binary.astype(np.float32)
    n_in = cv2.boxFilter(inside, -1, k)[..., None]
    s_all = cv2.boxFilter(lab, -1, k)
    s_in = cv2.boxFilter(lab * inside[..., None], -1, k)
    fg = s_in / np.maximum(n_in, 1e-6)
    bg = (s_all - s_in) / np.maximum(1.0 - n_in, 1e-6)
    return fg, bg


def snap(
    values: np.ndarray, fg: np.ndarray, bg: np.ndarray, current: np.ndarray, min_sep: float
) -> np.ndarray:
    """Assign each pixel to the nearer of its local product / backdrop colour, where the
    two differ by at least ``min_sep``; elsewhere keep ``current``."""
    d_fg = np.linalg.norm(values - fg, axis=-1)
    d_bg = np.linalg.norm(values - bg, axis=-1)
    decisive = np.linalg.norm(fg - bg, axis=-1) >= min_sep
    return np.where(decisive, d_fg < d_bg, current)


def upsample_refined(
    small_mask: np.ndarray,
    rgb: np.ndarray,
    fg_mean: np.ndarray | None,
    bg_mean: np.ndarray | None,
    min_sep: float,
    feather_px: float,
) -> np.ndarray:
    """Working-size bool mask -> full-size soft alpha.

    Upsample bilinearly, then re-decide each pixel of the upsampled transition zone from
    its full-size colour against the local product / backdrop colours (``fg_mean`` and
    ``bg_mean``, Lab maps at working size), then feather. Returns float32 in [0, 1].
    """
    H, W = rgb.shape[:2]
    h, w = small_mask.shape
    if (h, w) == (H, W):
        return feather(small_mask, feather_px)
    up = cv2.resize(small_mask.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
    binary = up >= 0.5
    if fg_mean is not None and bg_mean is not None:
        ys, xs = np.nonzero((up > 0.02) & (up < 0.98))
        if ys.size:
            px = to_lab(rgb[ys, xs][:, None, :])[:, 0, :]
            sy = np.minimum((ys * h) // H, h - 1)
            sx = np.minimum((xs * w) // W, w - 1)
            binary[ys, xs] = snap(px, fg_mean[sy, sx], bg_mean[sy, sx], binary[ys, xs], min_sep)
    return feather(binary, feather_px)
