"""Thin parts a mask lost: cords, laces, cables, strings.

Both segmenters see the photo at 256-384 px, where a lamp's 4 px cord at 1600 px is under
one pixel wide; the U-Net drops it, and a restyled background then erases it (a lamp
hanging from nothing, a sneaker's lace ends cut off). At up to 1600 px a thin part is a
*ridge*: a line lighter or darker than what lies on both sides of it. The morphological
top-hat and black-hat (the image minus its opening, its closing minus the image, with a
disk of radius ``r``) respond to ridges up to about ``2 r`` px wide and not to steps, so
a wall meeting a floor or a backdrop's edge gives nothing.

A ridge is added to the mask when it is a part of the product leaving it, not a line of
the backdrop passing by:
- it touches the mask;
- it is long (``min_length`` of the frame's long side) and thin (mean width at most
  ``2 r + 1`` px);
- most of it (``far_share``) lies more than ``2 r`` px from the mask: a contact shadow's
  dark line hugs the outline, a cord leaves it;
- the backdrop has few ridges of its own: the ridge pixels elsewhere in the backdrop are
  at most ``others_max`` of the candidates'. White planks' joints touch an iPad lying on
  them and leave it, but they also cross the rest of the frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stylecore.segmentation.base import Mask
from stylecore.segmentation.edges import fit_backdrop
from stylecore.segmentation.refine import to_lab


@dataclass(frozen=True)
class ThinConfig:
    max_side: int = 1600  # ridges are found at most at this long side
    radius: float = 0.004  # r, the disk's radius, as a fraction of that long side (>= 3 px)
    min_contrast: float = 6.0  # L* a ridge stands out by, at least ...
    noise_k: float = 4.0  # ... and at least this many times the backdrop's noise
    min_length: float = 0.04  # of the long side
    far_share: float = 0.6
    others_max: float = 0.5


@dataclass(frozen=True)
class Ridges:
    """The ridges of one photo, worked out once for both segmenters' masks."""

    line: np.ndarray  # bool (h, w): ridge pixels at the size they are judged at
    r: float  # the disk's radius at that size


def ridges(rgb: np.ndarray, cfg: ThinConfig = ThinConfig()) -> Ridges:
    H, W = rgb.shape[:2]
    f = min(1.0, cfg.max_side / max(H, W))
    size = (round(W * f), round(H * f))
    img = rgb if f >= 1 else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    h, w = img.shape[:2]
    L = np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_RGB2Lab)[..., 0])  # L* x 255/100
    r = max(3, int(round(cfg.radius * max(h, w))))
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    light = cv2.morphologyEx(L, cv2.MORPH_TOPHAT, disk)
    dark = cv2.morphologyEx(L, cv2.MORPH_BLACKHAT, disk)
    s = 384 / max(h, w)
    small = cv2.resize(
        img, (max(round(w * s), 1), max(round(h * s), 1)), interpolation=cv2.INTER_AREA
    )
    _, noise, _ = fit_backdrop(to_lab(small), 0.015)
    t = max(cfg.min_contrast, cfg.noise_k * noise) * 255 / 100
    line = np.maximum(light, dark) > t
    if max(h, w) > cfg.max_side // 2:
        # judged at half that size (2 x 2 max-pooled): a 3 px cord stays connected, and
        # the components and distances cost a quarter (30 -> 8 ms a mask at 1600 px)
        h2, w2 = h // 2, w // 2
        line = line[: 2 * h2, : 2 * w2].reshape(h2, 2, w2, 2).any(axis=(1, 3))
        return Ridges(line, r / 2)
    return Ridges(line, float(r))


def add_thin_parts(mask: Mask, found: Ridges, cfg: ThinConfig = ThinConfig()) -> Mask:
    """``mask`` with the ridges that leave it (module docstring) added as product."""
    h, w = found.line.shape
    r = found.r
    alpha = mask.alpha
    m = cv2.resize(alpha.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) >= 0.5
    if not m.any() or m.all():
        return mask
    line = found.line & ~m
    touch = cv2.dilate(m.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if not (line & touch).any():  # most photos: no ridge meets the mask
        return mask
    n, labels, stats, _ = cv2.connectedComponentsWithStats(line.astype(np.uint8), 8)
    dist = cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 3)
    long_side = max(h, w)
    keep = np.zeros(n, bool)
    for i in range(1, n):
        length = max(stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT])
        if length < cfg.min_length * long_side:
            continue
        if stats[i, cv2.CC_STAT_AREA] / length > 2 * r + 1:
            continue
        part = labels == i
        if not (part & touch).any() or (dist[part] > 2 * r).mean() < cfg.far_share:
            continue
        keep[i] = True
    if not keep.any():
        return mask
    added = keep[labels]
    away = dist > 2 * r
    others = int((line & away & ~added).sum())
    if others > cfg.others_max * int(added.sum()):
        return mask
    # back to the full size with soft edges (the max-pooling already covers the ridge)
    full = cv2.resize(added.astype(np.float32), alpha.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    full = cv2.GaussianBlur(full, (0, 0), 0.5 * alpha.shape[1] / w)
    out = np.maximum(alpha, np.clip(full, 0.0, 1.0)).astype(np.float32)
    return Mask(out, mask.confidence, mask.method, mask.flags, mask.signals)
