"""Coloured paper and its cast shadows, taken out of a product mask.

On coloured paper a thin product's shadow is the paper darkened by more than half: a
jump rope on purple paper (L* 41) throws shadows of L* 17-20 inside and beside its loops.
Both segmenters kept them as product, and the restyled photo kept purple patches inside
the rope. ``cast_shadow`` (the hole rule's and the edge segmenter's shadow test) allows up
to 50% darkening, so that a dark product is not taken for shadow.

The same photo's masks also held unshaded paper inside the loops: the hole rule keeps a
hole only where the backdrop shows within 1.5 Delta-E (noise 0.3 there), and the paper
inside a loop is shaded a little.

``paper_shadow`` marks paper only where three things hold:
- the backdrop is coloured paper: chroma at least ``min_chroma`` and L* at least
  ``min_lightness``. On white and grey a smooth, darker neutral region is as likely a grey
  product; near black, the chroma of a charcoal backdrop (10 on the Vendure keyboard and
  tennis-ball shots) is JPEG noise;
- the pixel is the paper (within 3 Delta-E, or 3x the noise), or the paper in shadow (its
  hue and at least half its chroma, or its a*b*, darker by up to ``max_darkening``);
- it is as smooth as paper: the L* spread over the 7x7 neighbours that pass the colour
  test is at most ``max_spread`` or 3x the backdrop noise.

A product part of the paper's exact hue is the case it gets wrong; regions smaller than
``min_area`` of the frame are left alone.
"""

from __future__ import annotations

import cv2
import numpy as np

from stylecore.segmentation.base import Mask, feather, working_size
from stylecore.segmentation.edges import fit_backdrop
from stylecore.segmentation.refine import cast_shadow, disk, masked_spread, to_lab


def paper_shadow(
    rgb: np.ndarray,
    working: int = 384,
    min_chroma: float = 12.0,
    min_lightness: float = 25.0,
    max_darkening: float = 0.85,
    max_spread: float = 6.0,
    min_area: float = 0.0005,
) -> np.ndarray | None:
    """Full-size bool map of coloured paper in cast shadow, or None when the backdrop is
    not coloured paper (or nothing is in shadow)."""
    H, W = rgb.shape[:2]
    h, w = working_size(H, W, working)
    small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA) if (h, w) != (H, W) else rgb
    lab = to_lab(small)
    model, noise, _ = fit_backdrop(lab, 0.015)
    chroma = float(np.median(np.hypot(model[..., 1], model[..., 2])))
    if chroma < min_chroma or float(np.median(model[..., 0])) < min_lightness:
        return None
    # colour at full size (a shadow's edge against the product is sharp), the backdrop
    # model from the working size
    model_full = cv2.resize(model, (W, H), interpolation=cv2.INTER_LINEAR)
    lab_full = to_lab(rgb)
    shade = cast_shadow(lab_full, model_full, max_darkening, min_chroma=min_chroma)
    # and the paper itself, unshaded (within 3 Delta-E, or 3x the noise)
    shade |= np.linalg.norm(lab_full - model_full, axis=-1) <= max(3.0, 3.0 * noise)
    # smooth: L* spread over the neighbours that pass the colour test too, so the paper
    # between two strands of a rope is not judged on the strands
    shade &= masked_spread(lab_full[..., 0], shade, 7) <= max(max_spread, 3.0 * noise)
    r = max(1, round(max(H, W) / 800))
    shade = cv2.morphologyEx(shade.astype(np.uint8), cv2.MORPH_OPEN, disk(r)) > 0
    n, labels, stats, _ = cv2.connectedComponentsWithStats(shade.astype(np.uint8), 8)
    if n <= 1:
        return None
    big = np.concatenate([[False], stats[1:, cv2.CC_STAT_AREA] >= min_area * H * W])
    out = big[labels]
    return out if out.any() else None


def trim_shadow(mask: Mask, shadow: np.ndarray | None, feather_px: float = 1.5) -> Mask:
    """``mask`` without the product pixels ``shadow`` marks (re-feathered there)."""
    if shadow is None:
        return mask
    binary = mask.alpha >= 0.5
    cut = binary & shadow
    if not cut.any():
        return mask
    alpha = feather(binary & ~cut, feather_px)
    # keep the mask's own soft edge away from the cut
    near = cv2.dilate(cut.astype(np.uint8), disk(max(2, round(2 * feather_px)))) > 0
    alpha = np.where(near, alpha, mask.alpha).astype(np.float32)
    return Mask(alpha, mask.confidence, mask.method, mask.flags, mask.signals)
