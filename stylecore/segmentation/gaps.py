"""Gaps in porous products: the backdrop seen between leaves, links and strands.

The U-Net works at 256 px and its outline is refined near the silhouette only, so a
hanging plant's foliage, a chain or a wire basket comes back as one solid blob: the wall
between the leaves is kept as product and prints as white paper behind every leaf on
every look (the hanging plant of the look sheet). The hole rule (``refine.settle_holes``)
works at the network's size too, where those gaps are a pixel wide or less.

``open_gaps`` looks again at a larger working size (1024 px by default). First, the
product must be porous: most of the mask (``min_solid``) is clearly not backdrop-coloured
(Delta-E from the smooth backdrop model above ``rim_contrast``, or ``rim_noise_k`` times
the fit's noise). A white shirt with a print, a white mug with a logo, a light product on
white is mostly backdrop-coloured itself, and nothing is opened in it. Then, inside the
mask, a connected region is a gap, and goes back to the backdrop, when all of these hold:

- **it can be the backdrop, lit or shaded by the product**: its lightness is the smooth
  backdrop model's, or darker by at most ``max_shade`` of it, with the backdrop's hue
  (``refine.cast_shadow``), and it is as smooth as the backdrop (fine texture, such as a
  knit's light yarn, is not);
- **its colour is one the backdrop has** along the frame's border (``matches_palette``),
  once its shading is divided out;
- **its rim is coloured product** that differs clearly from the backdrop over at least
  ``rim_share`` of its length, with a median a*b* distance from the backdrop of at least
  ``min_rim_chroma`` and a median Delta-E of at least ``min_rim_delta``. Leaves on a white
  wall measure 31 and 52. A black camera's chrome trim, a laptop's black hinge on black
  and a Polaroid's white top (rims near the backdrop's hue) do not pass, and neither does
  the clear plastic of a network plug (13 and 21), which shows the wall through itself
  and would be cut into pieces;
- **the product around it is thin**: the clearly-differing pixels on its rim lie within
  ``max_thickness`` px of other backdrop-like pixels (leaves, links and strands are thin;
  a white logo or a dial on a dark shoe or watch is ringed by a broad body). A gap that
  opens onto the backdrop outside the mask with no edge between (a bay the network's
  blobby outline took in) skips the rim-share and thickness tests;
- **it is small against the product**: at most ``max_share`` (2%) of the product's area,
  and at least ``min_px``. The hanging plant's largest gap is 0.55% of it; a pot of the
  wall's own white under foliage, 9% of the product, lost its upper 3% as one gap that
  passed every other test (at 10%, until the same day). Larger see-through regions are
  the hole rule's (``refine.settle_holes``).

A product is porous only when at least ``min_coloured`` of its mask is that coloured (the
check that ends the work early on most photos), that colour is one hue family (the mean of
its unit a*b* directions at least ``min_hue_concentration`` long: 0.99 for the hanging
plant's greens, 0.12 for a dense many-coloured print on white fabric, whose white ground
passes every other test a gap passes), and at least ``min_gaps`` gaps pass all of
that: a bottle's white label or two white sliders of a headphone are one or two enclosed
regions, a hanging plant has about a hundred. And at least ``min_bays`` of its gaps must
open onto the backdrop outside: the network's outline of foliage cuts through the wall
(the hanging plant has 3 such bays), while a knit vest's cream or white pattern, which
passes every other test on a one-hue brown knit, is ringed by the vest's solid edge.
Once it is porous, gaps turned down only because the body around them is broad or their
rim pale get a second look with
``porous_thickness``, ``porous_rim_chroma``, ``porous_rim_delta``, ``porous_rim_share`` and
``porous_min_px`` (the dense middle of the foliage, out-of-focus leaves, the pale underside
of a basket, specks of wall), and regions the smoothness test turned down get one with
``porous_spread`` (``_second_look``: the wall between real leaves is mottled). When the
gaps found would take more than ``max_total`` of the product, none is opened.

Pixels on a gap's rim that mix the leaf and the wall (anti-aliasing, a little defocus)
get a soft matte by the two-colour projection ``a = (I - B).(F - B) / |F - B|^2`` (F: the
product colour beside them, B: the backdrop model), in the compositor's convention
(alpha >= 0.5 is product kept exactly; below it, ``2 alpha`` is opacity), so no pale
fringe of old wall stays around each leaf.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from stylecore.segmentation.base import working_size
from stylecore.segmentation.edges import fit_backdrop
from stylecore.segmentation.refine import (
    Backdrop,
    cast_shadow,
    lab_gradient,
    masked_spread,
    to_lab,
)


@dataclass(frozen=True)
class GapConfig:
    enabled: bool = True
    working_size: int = 1024
    min_px: int = 12  # smallest gap opened, working px
    max_share: float = 0.02  # largest single gap, as a share of the product's area
    max_total: float = 0.4  # all gaps together; more: a light product, open none
    min_solid: float = 0.5  # share of the mask that must clearly differ from the backdrop
    max_shade: float = 0.3  # backdrop shaded by the product by at most this much
    max_thickness: float = 48.0  # the widest leaf or link around a gap (working px)
    rim_share: float = 0.6  # of a gap's rim that must be clearly product
    rim_contrast: float = 10.0  # Delta-E from the backdrop model that is "clearly"
    rim_noise_k: float = 6.0  # ... or this many times the fit's noise
    soft_px: int = 1  # rim band given a two-colour matte (working px)
    bays_only: bool = False  # True: only gaps that open onto the backdrop outside
    min_rim_chroma: float = 20.0  # a*b* distance from the backdrop of a gap's rim (median)
    min_rim_delta: float = 30.0  # ... and its Delta-E (median): coloured, clearly not glass
    min_gaps: int = 8  # fewer gaps than this: not porous, open none
    min_bays: int = 2  # ... or fewer gaps open onto the backdrop outside than this
    min_coloured: float = 0.25  # share of the mask that is that coloured, or open none
    min_hue_concentration: float = 0.8  # length of the mean a*b* direction of that colour
    porous_thickness: float = 128.0  # widest body around a gap once the product is porous
    porous_rim_chroma: float = 12.0  # ... and its rim's a*b* distance from the backdrop
    porous_rim_delta: float = 20.0  # ... and Delta-E (out-of-focus leaves are paler)
    porous_rim_share: float = 0.4  # ... and the share of its rim that is clearly product
    porous_min_px: int = 4  # ... and its smallest gap
    porous_spread: float = 2.0  # ... and a second look at gaps this many times less smooth
    gap_chroma: float = 10.0  # a*b* tint a gap may carry from the leaves around it
    bay_edge: float = 2.0  # Delta-E per px below which a bay meets the outside unbroken
    bay_share: float = 0.8  # ... along this much of where they meet

    def __post_init__(self) -> None:
        if self.working_size < 128:
            raise ValueError(f"gaps.working_size={self.working_size}: must be >= 128")
        if not 0 < self.rim_share <= 1:
            raise ValueError(f"gaps.rim_share={self.rim_share}: must be in (0, 1]")
        if self.porous_thickness < self.max_thickness:
            raise ValueError("gaps.porous_thickness must be >= gaps.max_thickness")
        if (
            self.porous_rim_chroma > self.min_rim_chroma
            or self.porous_rim_delta > self.min_rim_delta
        ):
            raise ValueError("gaps.porous_rim_* must be <= gaps.min_rim_*: they relax them")
        if self.porous_rim_share > self.rim_share or self.porous_min_px > self.min_px:
            raise ValueError("gaps.porous_rim_share and porous_min_px relax rim_share, min_px")
        if self.min_gaps < 1:
            raise ValueError(f"gaps.min_gaps={self.min_gaps}: must be >= 1")


def find_gaps(rgb: np.ndarray, alpha: np.ndarray, cfg: GapConfig = GapConfig()):
    """The gaps at the working size: ``(gaps, lab, model, differs)`` (bool ``(h, w)``
    maps and the working Lab image and backdrop model), or ``None`` when there is
    nothing to open."""
    if not _may_be_porous(rgb, alpha, cfg):
        return None
    long_side = min(cfg.working_size, max(alpha.shape))
    if long_side >= 2 * _SCREEN_MIN and not _screen(rgb, alpha, cfg, long_side):
        return None
    return _find(rgb, alpha, cfg)


_SCREEN_MIN = 256  # the screen's smallest working size


def _screen(rgb: np.ndarray, alpha: np.ndarray, cfg: GapConfig, long_side: int) -> bool:
    """The whole search at half the working size, lengths and areas scaled to it, with
    half the gaps asked for: a coloured product that is not porous (a red bottle) leaves
    here for a quarter of the full search's cost. Bays are left to the full search: the
    U-Net's outline redrawn at 384 px takes in the wall beside a hanging plant's leaves in
    few places, at half size those few bays fell under the size limit, and the screen
    turned the plant down while the full search found its gaps."""
    k = 2.0
    half = replace(
        cfg,
        working_size=long_side // 2,
        min_px=max(int(cfg.min_px / k**2), 1),
        porous_min_px=max(int(cfg.porous_min_px / k**2), 1),
        max_thickness=cfg.max_thickness / k,
        porous_thickness=cfg.porous_thickness / k,
        min_gaps=max(cfg.min_gaps // 2, 1),
        min_bays=0,
    )
    return _find(rgb, alpha, half, count_only=True) is not None


def _find(rgb: np.ndarray, alpha: np.ndarray, cfg: GapConfig, count_only: bool = False):
    H, W = alpha.shape
    h, w = working_size(H, W, cfg.working_size)
    small = rgb if (h, w) == (H, W) else cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    a = alpha if (h, w) == (H, W) else cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA)
    inside = a >= 0.5
    area = int(inside.sum())
    if area < cfg.min_px or inside.all():
        return None
    lab = to_lab(small)
    model, noise, _ = fit_backdrop(lab, 0.015)
    bd = Backdrop(lab, model, float(noise))
    d = lab - model
    dist = np.linalg.norm(d, axis=2)
    differs = dist > max(cfg.rim_contrast, cfg.rim_noise_k * noise)
    solid = inside & differs
    if solid.sum() < cfg.min_solid * area:
        return None  # mostly backdrop-coloured itself: a light product, not a porous one
    chroma = np.hypot(d[..., 1], d[..., 2])
    coloured = solid & (chroma >= cfg.min_rim_chroma) & (dist >= cfg.min_rim_delta)
    if coloured.sum() < cfg.min_coloured * area:
        return None  # no gap's rim can be coloured enough (the cheap way out: most photos)
    if _hue_concentration(d, chroma, coloured) < cfg.min_hue_concentration:
        return None  # many hues: a print on fabric, whose white ground is not a gap
    # JPEG's chroma subsampling tints a small gap with the leaves around it: the colour
    # test allows ``gap_chroma`` of tint (a*b* distance from the model)
    tinted = chroma <= max(cfg.gap_chroma, bd.tol)
    lit = (np.abs(d[..., 0]) <= bd.tol) & tinted
    darker = (d[..., 0] < 0) & (-d[..., 0] <= cfg.max_shade * model[..., 0])
    shaded = cast_shadow(lab, model, cfg.max_shade) | (darker & tinted)
    colour = lit | shaded
    smooth = masked_spread(lab[..., 0], colour, 5) <= max(2.0, 3.0 * noise)
    cand = inside & colour & smooth
    if not cand.any():
        return None
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cand.astype(np.uint8), 8)
    sizes = stats[1:, cv2.CC_STAT_AREA]
    ok = (sizes >= min(cfg.min_px, cfg.porous_min_px)) & (sizes <= cfg.max_share * area)
    if not ok.any():
        return None
    # how far each clearly-differing pixel is from the nearest pixel that is not: half the
    # width of the leaf, link or body it belongs to
    depth = cv2.distanceTransform(solid.astype(np.uint8), cv2.DIST_L2, 3)
    grad = lab_gradient(lab)
    flat = labels.ravel()
    strict = np.zeros(n, bool)  # gaps by the strict tests: these say whether it is porous
    bays = np.zeros(n, bool)
    porous = np.zeros(n, bool)  # gaps by the tests relaxed for a product known porous
    judge = _Judge(cfg, lab, model, bd, d, inside, solid, depth, grad)
    for i in np.nonzero(ok)[0] + 1:
        verdict = judge(labels, stats, i)
        if verdict is not None:
            porous[i], bays[i], coloured, thick = True, *verdict
            strict[i] = coloured and thick <= cfg.max_thickness / 2 and sizes[i - 1] >= cfg.min_px
    if strict.sum() < cfg.min_gaps or bays.sum() < cfg.min_bays:
        return None
    if count_only:
        return True
    gaps = porous
    found = gaps[flat].reshape(h, w)
    if cfg.porous_spread > 1.0:
        found |= _second_look(cfg, lab, colour, noise, inside, found, area, judge)
    # and the backdrop-coloured pixels beside them that the texture test left out (its
    # window straddles the leaves): a thin line of old wall would trace each gap's rim
    grow = cv2.dilate(found.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    found |= grow & colour & inside
    # ... and the slivers left between an opened gap and the backdrop outside: lines a
    # pixel or two wide, of a colour nearer the backdrop's than the leaves'
    rest = (inside & ~found).astype(np.uint8)
    sliver = (rest > 0) & ~(cv2.morphologyEx(rest, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0)
    open_side = cv2.dilate((found | ~inside).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    found |= sliver & open_side & ~differs & grow
    if found.sum() > cfg.max_total * area:
        return None
    return found, lab, model, differs


class _Judge:
    """The per-gap tests of ``_find`` (module docstring): for a candidate region, ``None``
    when it is not a gap, else ``(bay, coloured, thick)``: whether it opens onto the
    backdrop outside, whether its rim passes the strict colour tests, and the half-width
    of the body around it (0 for a bay)."""

    def __init__(self, cfg, lab, model, bd, d, inside, solid, depth, grad):
        self.cfg, self.lab, self.model, self.bd, self.d = cfg, lab, model, bd, d
        self.inside, self.solid, self.depth, self.grad = inside, solid, depth, grad
        self.rs = int(np.ceil(cfg.max_thickness))
        self.r = int(np.ceil(max(cfg.max_thickness, cfg.porous_thickness)))

    def __call__(self, labels: np.ndarray, stats: np.ndarray, i: int):
        cfg, r = self.cfg, self.r
        h, w = labels.shape
        square, square5 = np.ones((3, 3), np.uint8), np.ones((5, 5), np.uint8)
        x, y, bw, bh = stats[i, :4]
        y0, y1 = max(y - r, 0), min(y + bh + r, h)
        x0, x1 = max(x - r, 0), min(x + bw + r, w)
        comp = labels[y0:y1, x0:x1] == i
        inside = self.inside[y0:y1, x0:x1]
        # the rim one pixel out, past the anti-aliased pixels that mix leaf and wall
        c8 = comp.astype(np.uint8)
        rim = (cv2.dilate(c8, square5) > 0) & ~(cv2.dilate(c8, square) > 0)
        rim &= inside
        rim_solid = rim & self.solid[y0:y1, x0:x1]
        if not rim_solid.any():
            return None
        rim_d = self.d[y0:y1, x0:x1][rim_solid]
        rim_chroma = float(np.median(np.hypot(rim_d[:, 1], rim_d[:, 2])))
        rim_delta = float(np.median(np.linalg.norm(rim_d, axis=1)))
        coloured = rim_chroma >= cfg.min_rim_chroma and rim_delta >= cfg.min_rim_delta
        if not (rim_chroma >= cfg.porous_rim_chroma and rim_delta >= cfg.porous_rim_delta):
            return None
        # a bay: it meets the backdrop outside the mask along a stretch with no edge at
        # all (the network's blobby outline took in the wall beside the leaves)
        touch = (cv2.dilate(c8, square) > 0) & ~comp & ~inside
        bay = bool(
            touch.sum() >= cfg.min_px
            and (self.grad[y0:y1, x0:x1][touch] < cfg.bay_edge).mean() >= cfg.bay_share
        )
        thick = 0.0
        if not bay:
            share = rim_solid.mean() / rim.mean()
            if cfg.bays_only or share < min(cfg.rim_share, cfg.porous_rim_share):
                return None
            coloured &= share >= cfg.rim_share
            # the body ringing it: how deep it reaches within max_thickness of the rim
            thick = _body_depth(c8, self.solid[y0:y1, x0:x1], self.depth[y0:y1, x0:x1], self.rs)
            if thick > cfg.porous_thickness / 2:
                return None
        if not _backdrop_colour(self.lab, self.model, self.bd, comp, (y0, y1, x0, x1)):
            return None
        return bay, coloured, thick


def _second_look(cfg, lab, colour, noise, inside, found, area, judge) -> np.ndarray:
    """Once a product is known porous, the gaps the smoothness test turned down. Between
    a hanging plant's leaves most of the wall seen through is a few working pixels
    across, and the leaves' anti-aliased edges and JPEG's blocks give it an L* spread of
    5-10 over a 5x5 window, against the test's 4.5: 2300 of the 2700 wall-coloured pixels
    left inside its mask failed it, and printed as white flecks all through the foliage
    on the bokeh look. Here the spread may be ``porous_spread`` times as large; every
    other test holds as in the first look (the rim and the body around it, the
    backdrop's colour, the size), so a chain's white links (their rims grey, not the
    leaves' colour) stay."""
    smooth = masked_spread(lab[..., 0], colour, 5) <= cfg.porous_spread * max(2.0, 3.0 * noise)
    cand = inside & colour & smooth & ~found
    n, labels, stats, _ = cv2.connectedComponentsWithStats(cand.astype(np.uint8), 8)
    sizes = stats[:, cv2.CC_STAT_AREA]
    keep = np.zeros(n, bool)
    for i in range(1, n):
        if cfg.porous_min_px <= sizes[i] <= cfg.max_share * area:
            keep[i] = judge(labels, stats, i) is not None
    return keep[labels]


def _hue_concentration(d: np.ndarray, chroma: np.ndarray, members: np.ndarray) -> float:
    """Length of the mean unit a*b* direction of ``members`` (1: one hue, 0: spread)."""
    if not members.any():
        return 0.0
    hues = d[..., 1:][members] / np.maximum(chroma[members], 1e-6)[:, None]
    return float(np.linalg.norm(hues.mean(axis=0)))


def _may_be_porous(rgb: np.ndarray, alpha: np.ndarray, cfg: GapConfig) -> bool:
    """The colour tests of the porous check at 256 px, with half the margin: most photos
    end here for a few milliseconds instead of the 40 ms the 1024 px Lab image and
    backdrop fit cost (the tests are shares of the mask, so they hardly move with size)."""
    h, w = working_size(*alpha.shape, 256)
    small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    inside = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA) >= 0.5
    area = int(inside.sum())
    if area == 0 or inside.all():
        return False
    lab = to_lab(small)
    model, _, _ = fit_backdrop(lab, 0.015)
    d = lab - model
    chroma = np.hypot(d[..., 1], d[..., 2])
    coloured = (
        inside & (chroma >= cfg.min_rim_chroma) & (np.linalg.norm(d, axis=2) >= cfg.min_rim_delta)
    )
    if coloured.sum() < 0.5 * cfg.min_coloured * area:
        return False
    return _hue_concentration(d, chroma, coloured) >= 0.5 * cfg.min_hue_concentration


def _nearest_colour(lab: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Each pixel's Lab colour taken from the nearest pixel of ``members`` (the product
    beside a gap's rim): the leaf a rim pixel belongs to, not an average of the leaves
    around it, which would turn a lighter leaf's own rim half transparent."""
    if not members.any():
        return lab
    src = (~members).astype(np.uint8)
    _, labels = cv2.distanceTransformWithLabels(src, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    seeds = np.flatnonzero(members.ravel())  # label k is the k-th member in raster order
    return lab.reshape(-1, 3)[seeds[labels.ravel() - 1]].reshape(lab.shape)


def _body_depth(c8: np.ndarray, solid: np.ndarray, depth: np.ndarray, radius: int) -> float:
    """Half the width of the thickest clearly-differing body within ``radius`` of a gap."""
    near = cv2.dilate(c8, np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)) > 0
    body = near & solid
    return float(depth[body].max()) if body.any() else 0.0


def _backdrop_colour(lab, model, bd: Backdrop, comp: np.ndarray, box) -> bool:
    """Is the gap's colour, its shading divided out, one the frame's backdrop has?"""
    y0, y1, x0, x1 = box
    colour_i = np.median(lab[y0:y1, x0:x1][comp], axis=0)
    model_i = np.median(model[y0:y1, x0:x1][comp], axis=0)
    colour_i[1:] = model_i[1:]  # its tint was allowed above; the palette judges lightness
    return bool(bd.matches_palette(_unshaded(colour_i, model_i)))


def _unshaded(colour: np.ndarray, model: np.ndarray) -> np.ndarray:
    """A shaded backdrop pixel's Lab colour with its shading divided out: lightness set
    to the model's (a shadow keeps the backdrop's hue)."""
    out = np.asarray(colour, np.float64).copy()
    if out[0] < model[0]:
        scale = model[0] / max(out[0], 1e-3)
        out[0] = model[0]
        out[1:] = out[1:] * min(scale, 1.5)
    return out


def open_gaps(rgb: np.ndarray, alpha: np.ndarray, cfg: GapConfig = GapConfig()) -> np.ndarray:
    """``alpha`` (float32 ``(H, W)``) with the gaps of a porous product opened (module
    docstring); returned unchanged when there are none."""
    if not cfg.enabled:
        return alpha
    found = find_gaps(rgb, alpha, cfg)
    if found is None:
        return alpha
    gaps, lab, model, differs = found
    H, W = alpha.shape
    h, w = gaps.shape
    out = alpha.astype(np.float32, copy=True)
    # the two-colour matte on the band around each gap, at the working size: F is the
    # mean colour of the product pixels near it that are not backdrop-like
    a = alpha if (h, w) == (H, W) else cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA)
    inside = a >= 0.5
    k = 2 * cfg.soft_px + 1
    band = (cv2.dilate(gaps.astype(np.uint8), np.ones((k, k), np.uint8)) > 0) & ~gaps & inside
    solid = inside & ~gaps & ~band
    F = _nearest_colour(lab, solid)
    d_fb = F - model
    a = ((lab - model) * d_fb).sum(2) / np.maximum((d_fb**2).sum(2), 1e-6)
    a = np.clip(a, 0.0, 1.0)
    soft = np.ones((h, w), np.float32)
    soft[gaps] = 0.0
    sel = band & solid.any()
    # a >= 1 stays product exactly; below, the compositor's 0.5 a (its opacity 2 x 0.5 a)
    soft[sel] = np.where(a[sel] >= 0.999, 1.0, 0.5 * a[sel])
    if (h, w) != (H, W):
        gaps_full = cv2.resize(gaps.astype(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST)
        # a working pixel is several full-size ones: the old outline beside a gap can lie
        # a pixel or two past it, and stay as a thin line of old wall; the gap takes the
        # pixels around it that are not near clearly-differing product
        up = int(np.ceil(max(H / h, W / w)))
        differs_full = cv2.resize(differs.astype(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST)
        near_product = cv2.dilate(differs_full, np.ones((3, 3), np.uint8)) > 0
        reach = cv2.dilate(gaps_full, np.ones((2 * up + 1, 2 * up + 1), np.uint8)) > 0
        gaps_full = (gaps_full > 0) | (reach & ~near_product)
        soft_full = cv2.resize(soft, (W, H), interpolation=cv2.INTER_LINEAR)
        soft_full[gaps_full] = 0.0
    else:
        soft_full = soft
    inner = out >= 0.5
    out[inner] = np.minimum(out[inner], soft_full[inner])
    return out
