"""A plain image-quilting baseline (Efros & Freeman 2001), for `bench_background.py` only.

Written here the textbook way: one resolution (full size), square patches in raster
order, each picked from ``candidates`` random positions of one reference by its squared
error on the overlap (one of the 3 best at random), joined along a minimum-error cut.
No coarse-to-fine search, no structure channel, no backdrop light. The production
version is ``stylecore.transfer.synthesis``.
"""

from __future__ import annotations

import numpy as np

from stylecore.transfer.cuts import vertical_cut
from stylecore.transfer.synthesis import SynthConfig, scaled_reference


def quilt_baseline(
    refs: list[np.ndarray],
    frame_hw: tuple[int, int],
    seed: int,
    patch: float = 0.25,
    overlap: float = 0.25,
    candidates: int = 150,
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ref = scaled_reference(refs[int(rng.integers(len(refs)))], frame_hw, SynthConfig())
    src = ref.astype(np.float32)
    P = max(8, int(round(patch * min(ref.shape[:2]))))
    Ov = max(2, int(round(P * overlap)))
    S = P - Ov
    H, W = frame_hw
    ny, nx = max(1, -(-(H - Ov) // S)), max(1, -(-(W - Ov) // S))
    out = np.zeros((ny * S + Ov, nx * S + Ov, 3), np.float32)
    hy, hx = ref.shape[0] - P + 1, ref.shape[1] - P + 1
    for i in range(ny):
        for j in range(nx):
            y, x = i * S, j * S
            ys, xs = rng.integers(hy, size=candidates), rng.integers(hx, size=candidates)
            if i == 0 and j == 0:
                k = 0
            else:
                dst = out[y : y + P, x : x + P]
                err = np.zeros(candidates)
                for c in range(candidates):
                    cand = src[ys[c] : ys[c] + P, xs[c] : xs[c] + P]
                    if j:
                        err[c] += ((cand[:, :Ov] - dst[:, :Ov]) ** 2).sum()
                    if i:
                        err[c] += ((cand[:Ov] - dst[:Ov]) ** 2).sum()
                k = int(rng.choice(np.argsort(err)[:3]))
            patch_px = src[ys[k] : ys[k] + P, xs[k] : xs[k] + P]
            cut = np.ones((P, P), np.float32)
            if i or j:
                diff = ((out[y : y + P, x : x + P] - patch_px) ** 2).sum(2)
                if j:
                    cut[:, :Ov] *= vertical_cut(diff[:, :Ov])
                if i:
                    cut[:Ov, :] *= vertical_cut(diff[:Ov, :].T).T
            region = out[y : y + P, x : x + P]
            region[:] = cut[..., None] * patch_px + (1 - cut[..., None]) * region
    return np.clip(out[:H, :W] + 0.5, 0, 255).astype(np.uint8)
