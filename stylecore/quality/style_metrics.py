"""How far an image's look is from the style references, and how much structure it kept.

- ``gram_distance``: mean over layers of the normalised squared distance between the
  image's Gram matrices and the references' mean Grams, in a fixed feature network.
- ``lab_stats_distance``: distance between Lab colour statistics (mean and covariance).
- ``edge_ssim``: SSIM between Sobel edge maps of two images, optionally inside a mask.

All take uint8 RGB ``(H, W, 3)`` arrays; masks are ``(H, W)`` in [0, 1] or uint8.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from stylecore.features import FeatureNet
from stylecore.losses import gram_matrix


def _t(rgb: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(rgb.astype(np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0)


@torch.no_grad()
def reference_grams(features: FeatureNet, refs: Sequence[np.ndarray]) -> list[torch.Tensor]:
    """Mean Gram per layer over the reference images."""
    per = [[gram_matrix(f)[0] for f in features(_t(r))] for r in refs]
    return [torch.stack([p[k] for p in per]).mean(0) for k in range(len(per[0]))]


@torch.no_grad()
def gram_distance(features: FeatureNet, image: np.ndarray, target: Sequence[torch.Tensor]) -> float:
    grams = [gram_matrix(f)[0] for f in features(_t(image))]
    terms = [
        float(((g - t) ** 2).mean() / (t**2).mean().clamp_min(1e-12))
        for g, t in zip(grams, target, strict=True)
    ]
    return float(np.mean(terms))


def lab_stats(rgb: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    if mask is not None:
        m = mask.reshape(-1) >= (128 if mask.dtype == np.uint8 else 0.5)
        if m.sum() >= 16:
            lab = lab[m]
    return lab.mean(0), np.cov(lab.T)


def lab_stats_distance(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """Euclidean distance of means plus the Frobenius distance of covariance square roots
    (the two terms of the Frechet distance between Gaussians, without the cross term)."""
    (ma, ca), (mb, cb) = a, b

    def sqrtm(c):
        w, v = np.linalg.eigh((c + c.T) / 2)
        return (v * np.sqrt(np.clip(w, 0, None))) @ v.T

    return float(np.linalg.norm(ma - mb) + np.linalg.norm(sqrtm(ca) - sqrtm(cb)))


def _edges(rgb: np.ndarray) -> np.ndarray:
    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    return cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))


def ssim_map(
    a: np.ndarray, b: np.ndarray, data_range: float, weight: np.ndarray | None = None
) -> np.ndarray:
    """Per-pixel SSIM (Wang et al., 2004) with a Gaussian window of sigma 1.5. With a
    ``weight`` map (e.g. a product mask) the window statistics use only weighted pixels, so
    a region is compared without its surroundings leaking in."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    w = np.ones_like(a, np.float32) if weight is None else weight.astype(np.float32)
    norm = cv2.GaussianBlur(w, (0, 0), 1.5) + 1e-6

    def blur(x):
        return cv2.GaussianBlur(x * w, (0, 0), 1.5) / norm

    mu_a, mu_b = blur(a), blur(b)
    va = blur(a * a) - mu_a**2
    vb = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (va + vb + c2))


def edge_ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    ea, eb = _edges(a), _edges(b)
    s = ssim_map(ea, eb, data_range=max(float(ea.max()), 1e-3))
    if mask is None:
        return float(s.mean())
    m = mask >= (128 if mask.dtype == np.uint8 else 0.5)
    return float(s[m].mean()) if m.any() else float("nan")
