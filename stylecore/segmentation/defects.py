"""Broken masks on purpose: the defects a segmenter makes on real photos, injected into a
correct mask, so the gate's mask check can be measured (``bench/bench_mask_gate.py``,
``tests/test_integrity.py``).

Each defect is visible at catalogue scale; sizes scale with the product (``sqrt(area)``):

- ``hole``: a disc of product removed from the inside (a white label read as backdrop);
- ``bite``: a disc removed across the outline (a white side read as backdrop);
- ``thin``: the product's thin parts dropped (straps, cables, handles); products without
  thin parts lose a slice off one side instead;
- ``strip``: a band of backdrop next to the product kept as product (old backdrop left
  beside a keyboard or under a tablet).
"""

from __future__ import annotations

import cv2
import numpy as np

DEFECTS = ("hole", "bite", "thin", "strip")


def _disc(shape: tuple[int, int], cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r


def inject(mask: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """``mask`` (H, W) bool or {0, 255} -> a broken copy (bool). Raises ``ValueError`` for
    an unknown kind or an empty mask."""
    m = np.asarray(mask) > 0 if mask.dtype != bool else mask.copy()
    area = float(m.sum())
    if area < 16:
        raise ValueError("inject: the mask has (almost) no product")
    size = float(np.sqrt(area))
    h, w = m.shape
    if kind == "hole":
        dist = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 5)
        r = size * rng.uniform(0.08, 0.14)
        r = min(r, 0.6 * float(dist.max()))
        ys, xs = np.nonzero(dist >= r + 2)
        if ys.size == 0:
            ys, xs = np.nonzero(dist >= float(dist.max()) * 0.9)
        i = int(rng.integers(ys.size))
        return m & ~_disc(m.shape, ys[i], xs[i], max(r, 2.0))
    if kind == "bite":
        edge = m & ~(cv2.erode(m.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
        # not along the frame border: a product cut by the frame has no outline there
        edge[[0, -1], :] = False
        edge[:, [0, -1]] = False
        ys, xs = np.nonzero(edge)
        if ys.size == 0:
            raise ValueError("inject: the mask has no outline inside the frame")
        i = int(rng.integers(ys.size))
        return m & ~_disc(m.shape, ys[i], xs[i], size * rng.uniform(0.1, 0.18))
    if kind == "thin":
        k = max(3, int(round(size * 0.06)) | 1)
        opened = cv2.morphologyEx(
            m.astype(np.uint8), cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
        ).astype(bool)
        if (m & ~opened).sum() >= 0.02 * area:
            return opened
        # no thin parts: drop a slice off one side instead (10-20 % of the product)
        ys, xs = np.nonzero(m)
        side = int(rng.integers(4))
        q = rng.uniform(0.1, 0.2)
        out = m.copy()
        if side == 0:
            out[ys[xs <= np.quantile(xs, q)], xs[xs <= np.quantile(xs, q)]] = False
        elif side == 1:
            sel = xs >= np.quantile(xs, 1 - q)
            out[ys[sel], xs[sel]] = False
        elif side == 2:
            sel = ys <= np.quantile(ys, q)
            out[ys[sel], xs[sel]] = False
        else:
            sel = ys >= np.quantile(ys, 1 - q)
            out[ys[sel], xs[sel]] = False
        return out
    if kind == "strip":
        ys, xs = np.nonzero(m)
        y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
        width = max(3, int(round(size * rng.uniform(0.12, 0.22))))
        out = m.copy()
        # a band beside one side of the bounding box that has room in the frame
        sides = [s for s, room in enumerate((x0, w - 1 - x1, y0, h - 1 - y1)) if room > width // 2]
        if not sides:
            raise ValueError("inject: no room beside the product for a strip")
        side = int(rng.choice(sides))
        if side in (0, 1):
            length = int((y1 - y0 + 1) * rng.uniform(0.5, 0.9))
            a = int(rng.integers(y0, max(y0 + 1, y1 - length + 2)))
            xa, xb = (max(0, x0 - width), x0 + 2) if side == 0 else (x1 - 1, min(w, x1 + width))
            band = np.zeros_like(m)
            band[a : a + length, xa:xb] = True
        else:
            length = int((x1 - x0 + 1) * rng.uniform(0.5, 0.9))
            a = int(rng.integers(x0, max(x0 + 1, x1 - length + 2)))
            ya, yb = (max(0, y0 - width), y0 + 2) if side == 2 else (y1 - 1, min(h, y1 + width))
            band = np.zeros_like(m)
            band[ya:yb, a : a + length] = True
        return out | band
    raise ValueError(f"inject: unknown defect {kind!r} (one of {', '.join(DEFECTS)})")


def trial(
    image: np.ndarray, mask: np.ndarray, rng: np.random.Generator, cfg=None
) -> dict[str, bool]:
    """Screen ``mask`` (a correct product mask of ``image``) and one broken copy per
    defect kind: ``{"correct": passed, "hole": passed, ...}`` (``True`` = the gate would
    publish it). Kinds that cannot be injected into this mask are left out."""
    from stylecore.segmentation.base import Mask
    from stylecore.segmentation.integrity import screen

    def passes(m: np.ndarray) -> bool:
        return screen(image, Mask(m.astype(np.float32), 1.0, "injected"), cfg).ok

    out = {"correct": passes(mask > 0)}
    for kind in DEFECTS:
        try:
            broken = inject(mask, kind, rng)
        except ValueError:
            continue
        out[kind] = passes(broken)
    return out
