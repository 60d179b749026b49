"""Multi-scale transfer: run the generator at several resolutions and merge the results
through a Laplacian pyramid, so coarse levels (layout, colour) come from the low-resolution
passes and fine levels (detail) from the high-resolution ones.

Pyramid level j of a full-size image holds detail at about ``full / 2**j`` pixels on the
long side. It is taken from the coarsest pass whose resolution still resolves it (pass
long side >= the level's), which puts each frequency band with the pass that saw the most
context for it. Pure NumPy/OpenCV.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def laplacian_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    """float32 image -> ``levels`` band-pass layers plus the low-pass residual (last)."""
    pyr, cur = [], img.astype(np.float32)
    for _ in range(levels):
        down = cv2.pyrDown(cur)
        up = cv2.pyrUp(down, dstsize=(cur.shape[1], cur.shape[0]))
        pyr.append(cur - up)
        cur = down
    pyr.append(cur)
    return pyr


def collapse(pyr: Sequence[np.ndarray]) -> np.ndarray:
    cur = pyr[-1]
    for band in reversed(pyr[:-1]):
        cur = cv2.pyrUp(cur, dstsize=(band.shape[1], band.shape[0])) + band
    return cur


def merge_scales(
    outputs: Sequence[tuple[int, np.ndarray]], levels: int | None = None
) -> np.ndarray:
    """Merge full-size passes ``[(pass_long_side, image float32/uint8 (H, W, 3)), ...]``
    (sorted or not) into one float32 image by Laplacian-pyramid band assignment."""
    if not outputs:
        raise ValueError("merge_scales: no outputs")
    outs = sorted(outputs, key=lambda t: t[0])
    h, w = outs[0][1].shape[:2]
    full = max(h, w)
    if len(outs) == 1:
        return outs[0][1].astype(np.float32)
    if levels is None:
        levels = max(int(np.floor(np.log2(max(min(h, w), 2) / 8))), 1)
    pyrs = [laplacian_pyramid(o, levels) for _, o in outs]
    merged = []
    for j in range(levels + 1):
        res = full / 2**j
        pick = next((k for k, (s, _) in enumerate(outs) if s >= res), len(outs) - 1)
        merged.append(pyrs[pick][j])
    return collapse(merged)
