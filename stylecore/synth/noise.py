"""Seeded procedural noise fields shared by the product and style generators.

All functions are pure: they take a ``numpy.random.Generator`` and return new arrays.
Values are float32; ranges are stated per function.
"""

from __future__ import annotations

import cv2
import numpy as np


def value_noise(shape: tuple[int, int], cells: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth value noise: a ``cells``-wide random grid upsampled bicubically.

    Returns ``(H, W)`` float32, roughly in [0, 1] (bicubic overshoot is clipped).
    """
    h, w = shape
    cells = max(int(cells), 1)
    gh = max(round(cells * h / max(h, w)), 1) + 3
    gw = max(round(cells * w / max(h, w)), 1) + 3
    grid = rng.random((gh, gw), dtype=np.float32)
    # Upsample past the target and crop the centre so the border cells' bicubic
    # ringing stays outside the field.
    up = cv2.resize(
        grid, (w * gw // (gw - 2) + 1, h * gh // (gh - 2) + 1), interpolation=cv2.INTER_CUBIC
    )
    y0 = (up.shape[0] - h) // 2
    x0 = (up.shape[1] - w) // 2
    return np.clip(up[y0 : y0 + h, x0 : x0 + w], 0.0, 1.0)


def fractal_noise(
    shape: tuple[int, int],
    rng: np.random.Generator,
    base_cells: int = 4,
    octaves: int = 5,
    persistence: float = 0.5,
) -> np.ndarray:
    """Sum of ``octaves`` value-noise layers, each twice as fine and ``persistence`` as strong.

    Returns ``(H, W)`` float32 normalised to [0, 1].
    """
    total = np.zeros(shape, np.float32)
    amp = 1.0
    for i in range(octaves):
        total += amp * value_noise(shape, base_cells * 2**i, rng)
        amp *= persistence
    lo, hi = float(total.min()), float(total.max())
    return (total - lo) / max(hi - lo, 1e-6)


def grain(shape: tuple[int, int], rng: np.random.Generator, sigma: float = 1.0) -> np.ndarray:
    """Zero-mean Gaussian grain, lightly blurred. ``(H, W)`` float32 with std about 1."""
    g = rng.standard_normal(shape, dtype=np.float32)
    if sigma > 0:
        g = cv2.GaussianBlur(g, (0, 0), sigma)
        g /= max(float(g.std()), 1e-6)
    return g
