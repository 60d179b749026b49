"""On a clean backdrop, what the second segmenter calls product and what plainly differs
from the backdrop joins the chosen mask.

A product cut-out flattened onto white or onto a light-grey gradient, and a studio shot
whose backdrop is blown out, have a backdrop the border's quadratic model fits to the
noise floor (``fit_backdrop`` noise at most ``max_noise`` Delta-E; 0.3 is its floor, and
the Vendure shots on paper, sweeps and walls read 0.6-3.4). There a pixel that differs
from the model by ``min_delta`` Delta-E or more is not backdrop, whatever it looks like.
``clean_union`` adds to the chosen mask the pixels that the other segmenter calls product
and that differ so, in parts that touch the chosen mask and are wider than the
anti-aliased rim (an opening of one pixel per 800 of the long side removes the mixed
pixels along the other mask's outline). Nothing is ever taken away: a product face of the
backdrop's exact colour (the grey top of a box on a grey gradient) cannot be told from
the backdrop, and taking backdrop-coloured pixels out cut it away.

Why: the U-Net, trained on renders, misses strips of real products at its 256 px working
size: the dark bottom edge of a sneaker's sole on a grey gradient, the clear plastic and
the lower edge of a network cable. The edge segmenter, which measures the difference from
the backdrop directly, has them. On 11 real shop photos flattened onto white and onto a
light-grey gradient with their published masks as truth, ``auto``'s IoU went from 0.952 /
0.928 to 0.955 / 0.934 (the sneaker 0.948 -> 0.981 on grey); on the 96 held-out renders
flattened the same way, 0.9977 / 0.9940 -> 0.9982 / 0.9943 (worst 0.925 -> 0.969 on
white). ``bench/eval_cutouts.py``; docs/segmentation.md, "Clean backdrops".

Shadows stay out. ``backdrop`` (known backdrop, such as coloured paper's cast shadows
from ``shadows.paper_shadow``) never joins; on a coloured backdrop its own shade (darker,
within ``shade_hue_deg`` of its hue) does not join; and a part of a cast shadow's colour
joins only where its rim away from the mask is mostly a crisp edge. Without that test the
contact shadows under 39 of the 96 held-out renders joined (boundary F 0.986 -> 0.978).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stylecore.segmentation.base import working_size
from stylecore.segmentation.edges import fit_backdrop
from stylecore.segmentation.refine import cast_shadow, disk, to_lab


@dataclass(frozen=True)
class CleanConfig:
    enabled: bool = True
    working_size: int = 384  # where the backdrop model is fitted (as the integrity check)
    max_noise: float = 0.5  # a backdrop whose border fit noise is at most this is clean
    min_delta: float = 6.0  # Delta-E from the model that is plainly not backdrop ...
    noise_k: float = 10.0  # ... or this many times the fit noise, if larger
    touch_px: int = 2  # a joining part lies within this of the chosen mask
    # On a coloured backdrop (chroma at least ``shade_chroma``) the backdrop's own shade
    # does not join: darker, within ``shade_hue_deg`` of its hue (a contact shadow)
    shade_chroma: float = 8.0
    shade_hue_deg: float = 30.0
    # a part of a cast shadow's colour joins only where most (``crisp_share``) of its rim
    # away from the mask is an edge of at least ``crisp_edge`` L* per pixel
    crisp_edge: float = 4.0
    crisp_share: float = 0.5

    def __post_init__(self) -> None:
        if self.working_size < 64:
            raise ValueError(f"clean.working_size={self.working_size}: must be >= 64")
        if self.max_noise < 0 or self.min_delta <= 0:
            raise ValueError("clean.max_noise must be >= 0 and clean.min_delta > 0")


def clean_union(
    rgb: np.ndarray,
    chosen: np.ndarray,
    other: np.ndarray,
    cfg: CleanConfig | None = None,
    backdrop: np.ndarray | None = None,
) -> np.ndarray | None:
    """``chosen`` (full-size alpha) with the parts of ``other`` that plainly differ from
    a clean backdrop joined, at ``other``'s alpha; ``None`` when the backdrop is not
    clean or nothing joins. ``backdrop`` (full-size bool, optional) never joins."""
    cfg = cfg or CleanConfig()
    H, W = rgb.shape[:2]
    h, w = working_size(H, W, cfg.working_size)
    small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA) if (h, w) != (H, W) else rgb
    model, noise, _ = fit_backdrop(to_lab(small), 0.015)
    if noise > cfg.max_noise:
        return None
    c, o = chosen >= 0.5, other >= 0.5
    cand = o & ~c
    if backdrop is not None:
        cand &= ~backdrop
    if not cand.any():
        return None
    # the colour test only where it can matter (the candidates' box), at full size
    ys, xs = np.nonzero(cand)  # with a margin, so the candidates' rims have both sides
    y0, y1 = max(int(ys.min()) - 4, 0), min(int(ys.max()) + 5, H)
    x0, x1 = max(int(xs.min()) - 4, 0), min(int(xs.max()) + 5, W)
    model_full = cv2.resize(model, (W, H), interpolation=cv2.INTER_LINEAR)[y0:y1, x0:x1]
    lab = to_lab(rgb[y0:y1, x0:x1])
    dist = np.linalg.norm(lab - model_full, axis=-1)
    plain = dist > max(cfg.min_delta, cfg.noise_k * noise)
    chroma = np.hypot(model_full[..., 1], model_full[..., 2])
    if float(np.median(chroma)) >= cfg.shade_chroma:
        plain &= ~_shade(lab, model_full, cfg.shade_hue_deg)
    differs = np.zeros_like(cand)
    differs[y0:y1, x0:x1] = plain
    add = (cand & differs).astype(np.uint8)
    rim = max(1, round(max(H, W) / 800))
    add = cv2.morphologyEx(add, cv2.MORPH_OPEN, disk(rim))
    n, labels = cv2.connectedComponents(add, connectivity=8)
    if n <= 1:
        return None
    near = cv2.dilate(c.astype(np.uint8), disk(cfg.touch_px)) > 0
    joins = np.zeros(n, bool)
    joins[np.unique(labels[near & (add > 0)])] = True
    joins[0] = False
    if not joins.any():
        return None
    # a part of the backdrop's colour, darker (a cast shadow's) joins only where its rim
    # away from the mask is a crisp edge: a shadow's outer rim is a soft penumbra, the
    # dark sole of a sneaker ends in an edge
    box = np.s_[y0:y1, x0:x1]
    shady = np.zeros_like(cand)
    shady[box] = cast_shadow(lab, model_full, 1.0, hue_deg=cfg.shade_hue_deg)
    g = np.zeros(cand.shape, np.float32)
    L = cv2.GaussianBlur(lab[..., 0], (0, 0), 0.8)
    g[box] = cv2.dilate(lab_gradient_l(L), np.ones((3, 3), np.uint8))
    far = ~(cv2.dilate(c.astype(np.uint8), disk(cfg.touch_px + 2)) > 0)
    for i in np.nonzero(joins)[0]:
        comp = labels == i
        if shady[comp].mean() <= 0.5:
            continue
        rim = comp & ~(cv2.erode(comp.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & far
        joins[i] = rim.sum() >= 4 and (g[rim] > cfg.crisp_edge).mean() >= cfg.crisp_share
    if not joins.any():
        return None
    joined = joins[labels]
    return np.where(joined, np.maximum(chosen, other), chosen).astype(np.float32)


def _shade(lab: np.ndarray, model: np.ndarray, hue_deg: float) -> np.ndarray:
    """Pixels darker than the backdrop model and within ``hue_deg`` of its hue: the
    paper's own shade, down to its deepest contact line (whose chroma falls with its
    lightness, so no chroma bound but a floor where the hue is still readable)."""
    c_px = np.hypot(lab[..., 1], lab[..., 2])
    c_bg = np.hypot(model[..., 1], model[..., 2])
    cos = (lab[..., 1] * model[..., 1] + lab[..., 2] * model[..., 2]) / np.maximum(
        c_px * c_bg, 1e-6
    )
    return (lab[..., 0] < model[..., 0]) & (c_px >= 3.0) & (cos >= np.cos(np.radians(hue_deg)))


def lab_gradient_l(L: np.ndarray) -> np.ndarray:
    """Magnitude of the L* gradient per pixel (Sobel, scaled to a one-pixel step)."""
    gx = cv2.Sobel(L, cv2.CV_32F, 1, 0, ksize=3) * 0.125
    gy = cv2.Sobel(L, cv2.CV_32F, 0, 1, ksize=3) * 0.125
    return cv2.magnitude(gx, gy)
