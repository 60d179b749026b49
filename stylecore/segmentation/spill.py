"""Backdrop kept as product where no edge separates it: light spill, vignettes, smoke.

On dark and coloured studio backdrops both segmenters keep large blobs of backdrop
beside the product: the cyan and pink glow a rim light throws on black paper around a
camera, the navy haze behind a stone lion, the darker corner of a teal wall under a lamp.
The blob differs from the smooth backdrop model fitted to the border (so the edge
segmenter calls it product) and the U-Net, trained on flat and gradient backdrops, takes
it in too. The publish gate then holds the photo back because the outline runs through
one colour ("separates nothing"). Yet the blob meets the rest of the backdrop along no
edge at all, while the product has an outline.

``backdrop_reach`` floods the backdrop from outside the mask and lets it through any
pixel that is not on an edge, at a working size (512 px by default):

- an **edge** is a pixel whose Lab gradient (Sobel on the photo blurred by one pixel, in
  Delta-E per pixel) is above ``edge_k`` times the backdrop's own 90th percentile outside
  the mask, and at least ``edge_min``; edges are widened by one pixel;
- the flood passes only through channels at least ``2 * open_px + 1`` pixels wide (a
  morphological opening of the edge-free pixels), so it cannot seep through a short break
  in a product's outline; it then grows back to the edges it stopped at;
- what it reaches inside the mask is the candidate trim, part by part, where a part lies
  beside the product and not within it (``_beside``) and is not a faint surface
  (``_not_faint``: the backdrop itself to the noise, or spill, plainly off it);
- pixels within ``snap_px`` of the trim go to the side whose colour beside them they are
  nearer (the flood stops an edge's width short); along the rest of the outline, within
  ``outline_px``, a pixel goes when the two sides differ by at least ``outline_sep``
  Delta-E and it is within ``outline_match`` of the outside's colour (the network kept a
  strip of teal wall under a lamp's white rim, which no flood reaches: the rim's edge is
  as wide as the strip);
- small islands of mask it leaves behind go too (less than ``island_share`` of what
  stays, mostly ringed by the trim), and at full size ``apply_trim`` drops pieces it cut
  off the product (below ``cut_off_share`` of it): the check then sees them as product
  left out, and a camera whose strap fades into black paper is held back, not published
  with the strap's tab floating beside it.

This is a repair, not a rule: ``AutoSegmenter`` tries it only on a mask the integrity
check doubts, and keeps the trimmed mask only when that check doubts it less and it does
not span the frame (``spans_frame``). A correct mask is never touched. Flooding every
mask of the 96 held-out renders regardless, with an edge floor of 2.5 Delta-E per pixel,
took 39-51% of several white mugs, bottles and sneakers on white (the flood crosses a
white product's lit rim, where it meets the white backdrop with no edge, then its smooth
shading); with today's floor of 1.2, one mug (42%), and ``_beside`` refuses it. None of
those masks is doubted.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stylecore.segmentation.base import working_size
from stylecore.segmentation.edges import fit_backdrop
from stylecore.segmentation.refine import (
    OUTLINE_EPS,
    disk,
    guided_filter,
    lab_gradient,
    to_lab,
)


@dataclass(frozen=True)
class SpillConfig:
    enabled: bool = True
    working_size: int = 512
    edge_k: float = 3.0  # an edge: gradient above this many times the backdrop's p90 ...
    edge_min: float = 1.2  # ... and at least this (Delta-E per working px)
    open_px: int = 4  # the flood needs channels 2 * open_px + 1 px wide
    min_share: float = 0.02  # a trim smaller than this share of the mask is not tried
    island_share: float = 0.005  # mask islands the trim cuts off below this share go too
    cut_off_share: float = 0.02  # ... and, at full size, pieces below this share of the product
    snap_px: int = 6  # pixels this near the trim go to the nearer side by colour
    outline_px: int = 3  # and this near the rest of the outline, where the two sides ...
    outline_sep: float = 15.0  # ... differ by at least this (Delta-E) ...
    outline_match: float = 6.0  # ... and the pixel is this near the outside's colour
    max_in_hull: float = 0.5  # a trimmed part lies at most this much inside the product's hull
    min_contact: float = 0.5  # ... and touches the backdrop outside along this much of its rim
    # ... and is not a faint surface: a part whose median Delta-E from the smooth
    # backdrop model is above ``faint_noise_k`` times the model's noise (so not the
    # backdrop itself) and at most ``faint_de`` (so not spill) stays (0 turns this off)
    faint_de: float = 2.0
    faint_noise_k: float = 2.5

    def __post_init__(self) -> None:
        if self.working_size < 64:
            raise ValueError(f"spill.working_size={self.working_size}: must be >= 64")
        if self.open_px < 1:
            raise ValueError(f"spill.open_px={self.open_px}: must be >= 1")


def backdrop_reach(rgb: np.ndarray, alpha: np.ndarray, cfg: SpillConfig | None = None):
    """The part of the mask ``alpha`` (full size, >= 0.5 is product) that the backdrop
    outside reaches without crossing an edge: a bool map at the working size, or ``None``
    when it is less than ``cfg.min_share`` of the mask."""
    cfg = cfg or SpillConfig()
    H, W = rgb.shape[:2]
    h, w = working_size(H, W, cfg.working_size)
    small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    m = cv2.resize(alpha.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) >= 0.5
    area = int(m.sum())
    outside = cv2.erode((~m).astype(np.uint8), disk(3)) > 0
    if area < 64 or outside.sum() < 64:
        return None
    # edges: the Lab gradient of the photo blurred by one pixel
    g = lab_gradient(to_lab(cv2.GaussianBlur(small, (0, 0), 1.0)))
    t = max(cfg.edge_min, cfg.edge_k * float(np.percentile(g[outside], 90)))
    passable = cv2.dilate((g > t).astype(np.uint8), np.ones((3, 3), np.uint8)) == 0
    wide = cv2.morphologyEx(passable.astype(np.uint8), cv2.MORPH_OPEN, disk(cfg.open_px)) > 0
    _, labels = cv2.connectedComponents(wide.astype(np.uint8), connectivity=4)
    seeds = np.unique(labels[outside & wide])
    seeds = seeds[seeds > 0]
    if not seeds.size:
        return None
    reach = np.isin(labels, seeds)
    reach = (cv2.dilate(reach.astype(np.uint8), disk(cfg.open_px + 1)) > 0) & passable
    trim = reach & m
    if trim.sum() < cfg.min_share * area:
        return None
    trim = _beside(trim, m, cfg)
    lab = to_lab(small)
    if trim is not None:
        trim = _not_faint(trim, lab, cfg)
    if trim is None or trim.sum() < cfg.min_share * area:
        return None
    # the flood stops a few pixels short of the edge it met (the edge's own width): those
    # pixels go to the side whose colour beside them (outside the band) they are nearer
    band = (cv2.dilate(trim.astype(np.uint8), disk(cfg.snap_px)) > 0) & m & ~trim
    if band.any():
        r = 2 * cfg.snap_px + 1
        fg = _masked_mean(lab, m & ~trim & ~band, r)
        bg = _masked_mean(lab, trim, r)
        px = lab[band]
        # a pixel with no product (or no trim) beside it stays as it is (NaN compares False)
        nearer = np.linalg.norm(px - bg[band], axis=1) < np.linalg.norm(px - fg[band], axis=1)
        trim[band] = nearer
    # the rest of the outline: a band of the same backdrop along the product's edge (a
    # teal strip under a lamp's rim) goes where its colour is plainly the outside's
    kept = m & ~trim
    band = kept & (cv2.dilate((~kept).astype(np.uint8), disk(cfg.outline_px)) > 0)
    if band.any():
        r = 2 * cfg.outline_px + 1
        fg = _masked_mean(lab, kept & ~band, r)[band]
        bg = _masked_mean(lab, ~kept & ~band, r)[band]
        px = lab[band]
        apart = np.linalg.norm(fg - bg, axis=1) >= cfg.outline_sep
        d_bg = np.linalg.norm(px - bg, axis=1)
        trim[band] = apart & (d_bg <= cfg.outline_match) & (d_bg < np.linalg.norm(px - fg, axis=1))
    # islands of mask the trim leaves behind: small, and mostly ringed by the trim
    kept = m & ~trim
    n, lab_k, stats, _ = cv2.connectedComponentsWithStats(kept.astype(np.uint8), connectivity=8)
    if n > 2:
        total = float(kept.sum())
        ring_src = cv2.dilate(trim.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        for i in range(1, n):
            if stats[i, cv2.CC_STAT_AREA] >= cfg.island_share * total:
                continue
            comp = lab_k == i
            rim = (cv2.dilate(comp.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & ~comp
            if rim.any() and (ring_src[rim] & ~kept[rim]).mean() > 0.5:
                trim |= comp
    if trim.sum() >= area:
        return None
    return trim


def _masked_mean(lab: np.ndarray, members: np.ndarray, radius: int) -> np.ndarray:
    """Mean Lab of each pixel's ``members`` within a square window of ``radius``; NaN
    where the window holds none."""
    k = (2 * radius + 1, 2 * radius + 1)
    w = members.astype(np.float32)
    n = cv2.boxFilter(w, -1, k, normalize=False)[..., None]
    total = cv2.boxFilter(lab * w[..., None], -1, k, normalize=False)
    return np.where(n > 0, total / np.maximum(n, 1e-6), np.nan)


def _beside(trim: np.ndarray, m: np.ndarray, cfg: SpillConfig) -> np.ndarray | None:
    """The connected parts of ``trim`` that lie beside the product, not within it: at
    most ``max_in_hull`` of each inside the convex hull of the mask that stays, and at
    least ``min_contact`` of its rim on the backdrop outside the mask.

    Measured on the real photos and the held-out renders: the glow around a camera, a
    vignette's corner, the haze beside a stone lion lie 0-43% inside the hull and touch
    the outside along 56-100% of their rim. What the flood takes from a product lies
    within its silhouette: a glossy mouse's highlight (65% inside the hull, 41-47%
    contact; it fades into the grey backdrop along the mouse's top with no edge), the
    lit bodies of white mugs and bottles on white (100% inside, 2-9% contact)."""
    kept = m & ~trim
    pts = cv2.findNonZero(kept.astype(np.uint8))
    if pts is None:
        return None
    hull = np.zeros(m.shape, np.uint8)
    cv2.fillPoly(hull, [cv2.convexHull(pts)], 1)
    hull = hull > 0
    n, labels = cv2.connectedComponents(trim.astype(np.uint8), connectivity=8)
    out = np.zeros_like(trim)
    k3 = np.ones((3, 3), np.uint8)
    for i in range(1, n):
        comp = labels == i
        if hull[comp].mean() > cfg.max_in_hull:
            continue
        rim = (cv2.dilate(comp.astype(np.uint8), k3) > 0) & ~comp
        outside, inside = int((rim & ~m).sum()), int((rim & kept).sum())
        if outside < cfg.min_contact * max(outside + inside, 1):
            continue
        out |= comp
    return out if out.any() else None


def _not_faint(trim: np.ndarray, lab: np.ndarray, cfg: SpillConfig) -> np.ndarray | None:
    """The connected parts of ``trim`` that are not a faint surface: their median Delta-E
    from the smooth backdrop model fitted to the border (``fit_backdrop``) is either
    within ``faint_noise_k`` times the model's noise (the backdrop itself, kept by the
    mask) or above ``faint_de`` (spill: a rim light's glow, a vignette's corner, haze; on
    the real photos a lamp's teal corner 20.5 and a camera's glow 5.3-7.1, against noise
    1.1).

    Between the two lies a surface that differs from the backdrop by a few times the
    noise but too little for any segmenter's colour test: on a light box flattened onto
    a grey gradient, the top face sat 1.4 Delta-E from the backdrop (noise 0.3). The
    U-Net drew the box whole, the check doubted the outline across the face, and the
    trim cut the face away (20% of the box, published and turned to wood). On a backdrop
    noisier than ``faint_de / faint_noise_k`` (0.8 by default) the band is empty."""
    if cfg.faint_de <= 0:
        return trim
    model, noise, _ = fit_backdrop(lab, 0.015)
    dist = np.linalg.norm(lab - model, axis=2)
    n, labels = cv2.connectedComponents(trim.astype(np.uint8), connectivity=8)
    out = np.zeros_like(trim)
    for i in range(1, n):
        comp = labels == i
        d = float(np.median(dist[comp]))
        if d <= cfg.faint_noise_k * noise or d > cfg.faint_de:
            out |= comp
    return out if out.any() else None


def spans_frame(alpha: np.ndarray, margin: float = 0.005) -> bool:
    """Does the mask (>= 0.5) come within ``margin`` of the frame's size of two opposite
    sides? A trimmed mask is bounded by edges by construction, and the long straight
    edges of a scene (the seams of a plank table, a court's painted lines) span the
    frame: on the real photos, the repair left slivers along such lines and published
    two scenes."""
    m = alpha >= 0.5
    H, W = m.shape
    my, mx = max(int(round(margin * H)), 1), max(int(round(margin * W)), 1)
    left, right = m[:, :mx].any(), m[:, -mx:].any()
    top, bottom = m[:my].any(), m[-my:].any()
    return bool((left and right) or (top and bottom))


def apply_trim(
    rgb: np.ndarray, alpha: np.ndarray, trim: np.ndarray, cut_off_share: float = 0.02
) -> np.ndarray:
    """``alpha`` (full size) with the working-size ``trim`` taken out: upsampled, its
    outline steered onto the photo's edges by a guided filter one working pixel wide, and
    a product pixel keeps at most its old alpha. The trim first takes in the old mask's
    outline beyond it (three working pixels outside the mask): left in, the old mask's
    soft fringe drew the trimmed blob's outline as a thin line of the old backdrop on
    every look."""
    H, W = alpha.shape
    h, w = trim.shape
    inside = cv2.resize(alpha.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) >= 0.5
    around = cv2.dilate(trim.astype(np.uint8), disk(3)) > 0
    trim = trim | (around & ~inside)
    up = cv2.resize(trim.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
    r = max(int(round(max(H / h, W / w))), 1)
    if r > 1:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) * (1.0 / 255.0)
        zone = (up > 0.02) & (up < 0.98)
        band = cv2.dilate(zone.astype(np.uint8), disk(r)) > 0
        smooth = np.clip(guided_filter(grey, up, r, OUTLINE_EPS), 0.0, 1.0)
        up = np.where(band, smooth, up)
    keep = np.clip((0.75 - up) * 2.0, 0.0, 1.0)
    return _drop_cut_off((alpha * keep).astype(np.float32), alpha, cut_off_share)


def _drop_cut_off(new: np.ndarray, old: np.ndarray, share: float) -> np.ndarray:
    """``new`` without the small pieces the trim cut off the product: components below
    ``share`` of the largest that were one piece with it in ``old``. On a real camera on
    black paper the strap fades into the paper; the trim left its leather tab (0.9% of the
    camera) floating beside the camera's ring."""
    n_new, lab_new, stats, _ = cv2.connectedComponentsWithStats(
        (new >= 0.5).astype(np.uint8), connectivity=8
    )
    if n_new <= 2:
        return new
    areas = stats[1:, cv2.CC_STAT_AREA]
    main = 1 + int(np.argmax(areas))
    _, lab_old = cv2.connectedComponents((old >= 0.5).astype(np.uint8), connectivity=8)
    body = np.unique(lab_old[lab_new == main])
    out = new.copy()
    for i in range(1, n_new):
        if i == main or stats[i, cv2.CC_STAT_AREA] >= share * areas.max():
            continue
        comp = lab_new == i
        if np.isin(lab_old[comp], body[body > 0]).any():
            out[comp] = np.minimum(out[comp], 0.0)
    return out
