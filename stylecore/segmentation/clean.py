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

A strip of the outline that both segmenters lost joins too (``grow_delta``): pixels whose
L* differs from the model by 3 or more, in parts that lie wholly within ``grow_reach`` of
the long side of the mask and end in a crisp outer rim in L*, whatever their colour. That
is a light edge on light grey (a mug's rim, a sneaker's welt). L* only by default, since
JPEG smears a saturated product's chroma a pixel or two into the backdrop at the
backdrop's lightness. Held-out renders on grey 0.9943 -> 0.9950, published with more than
0.5% of the product altered 13 -> 10 of 92.

What a joining strip closes in against the mask joins with it (``strip_fill``): the
strip is the product's outer rim, so the face between it and the rest is product, though
it may be the backdrop's own colour (a white heel's face on white: only its rim joined,
and the face stayed backdrop). And a strip joins only where it runs along the outline
(``max_jut``): one that reaches out from the mask further than 1.2x the length of outline
it lies along is no lost rim. On the network plug on white such a part of the clear
plastic (reaching out 20 px, along 11) joined and printed as a white fleck.

The other segmenter's parts that differ from the backdrop only faintly join where most of
their rim away from the mask is a crisp edge, by the same test as a shadow-coloured part,
and 90% of their pixels differ from the backdrop by ``faint_delta`` (1.5) Delta-E or more
(``faint_share``): a glossy white top on light grey, 2-4 Delta-E from it, which the U-Net
bit off a real mouse flattened onto the grey gradient and the edge segmenter kept (5.2%
of the mouse restyled). The backdrop seen between a hanging plant's leaves, which the
edge segmenter kept, is 20-67% within 1.5 Delta-E of the backdrop (the rest is the leaves'
colour bled into it) and stays out; so does a region of the backdrop's colour that the
other mask kept, however crisp its rim. What such a part closes in against the mask joins
with it, as with a strip (the mouse's top beside its scroll wheel, which both segmenters
left out). Parts under 0.01% of the frame (``faint_min_px``) stay out: on the network plug
two of 48 and 63 px, bits of the clear plastic, printed as a white speck on wood.

``grow_lab`` (off) lets the strip's pixels join by their Delta-E instead, still with the
crisp L* rim. A cream rim whose lightness wavers around 3 L* from the backdrop then joins
whole instead of breaking into pieces the opening removes: on the held-out renders on
grey, altered 11 -> 7 of 92, and on 56 renders at 1600 px on grey 11 -> 8 of 53. It is
off because of a real photo: on a network plug on white it joined fragments of the clear
plastic, whose see-through parts show the white backdrop, and they printed as ragged
white flecks on the new background.

After the verdict, ``clean_cut`` takes out of the chosen mask, on a clean backdrop, the
regions the other segmenter calls backdrop whose inside follows the model to the noise
(the wall between a white stool's legs on grey: real products on grey 0.934 -> 0.957).
It runs after the check so that it cannot make a mask pass: run before it, it let a
stool pass with a rear leg that both segmenters lost. On a clipped backdrop (pure white),
where a white product part is the backdrop's exact colour, only bays are cut
(``cut_clipped``): regions open to the backdrop round the other mask and rimmed by
product that plainly differs from the backdrop (real products on white 0.963 -> 0.979:
the wall below a stool's rail, under a lamp's shade); a clipped white part that fades
into its product through shading stays.

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
from stylecore.segmentation.refine import cast_shadow, disk, enclosed, to_lab


@dataclass(frozen=True)
class CleanConfig:
    enabled: bool = True
    working_size: int = 384  # where the backdrop model is fitted (as the integrity check)
    max_noise: float = 0.5  # a backdrop whose border fit noise is at most this is clean
    min_delta: float = 6.0  # Delta-E from the model that is plainly not backdrop ...
    noise_k: float = 10.0  # ... or this many times the fit noise, if larger
    # what differs from the model by ``grow_delta`` (or ``grow_noise_k`` times the noise,
    # if larger) joins even where the other segmenter calls it backdrop; 0 turns it off
    grow_delta: float = 3.0
    grow_noise_k: float = 10.0
    # such a part joins only as a strip along the mask: within ``grow_reach`` of the long
    # side of it, and with a crisp outer rim whatever its colour
    grow_reach: float = 0.02
    # ... by its Delta-E from the model, not only its L* (off: it joined a clear plug's
    # see-through fragments on a real photo, printed as white flecks)
    grow_lab: bool = False
    # After the verdict (it never makes a mask pass): on a clean backdrop that is not
    # clipped (model L* within ``cut_l_range``), regions of the chosen mask that the other
    # segmenter calls backdrop and whose inside follows the model to the noise (at least
    # ``cut_share`` within ``cut_delta`` Delta-E, median within ``cut_median``) go back to
    # the backdrop: the wall between a stool's legs; ``cut`` False turns it off
    cut: bool = True
    cut_delta: float = 1.0
    cut_share: float = 0.75
    cut_median: float = 0.6
    cut_near: float = 3.0
    cut_l_range: tuple[float, float] = (5.0, 97.0)
    # ... and on a clipped backdrop (pure white) a region is cut only where it is a bay:
    # open to the backdrop round the other mask, and rimmed by product that differs from
    # the backdrop by ``clip_rim_delta`` Delta-E on ``clip_rim_share`` of its rim (the
    # wall below a white stool's rail; a clipped white sleeve meets its shirt through
    # shading, and a hole the other mask keeps is ``auto``'s clear-hole rule's); False: off
    cut_clipped: bool = True
    clip_rim_delta: float = 6.0
    clip_rim_share: float = 0.8
    cut_min_px: float = 0.0005  # of the frame: smaller regions stay
    touch_px: int = 2  # a joining part lies within this of the chosen mask
    # what a joining strip closes in between itself and the mask joins with it, up to this
    # share of the product per region (0 turns it off): the strip is the product's outer
    # rim, so what lies between it and the rest is product (a white heel's face on white)
    strip_fill: float = 0.02
    # a strip (with what it closes in) joins only where it reaches out from the mask at
    # most ``max_jut`` times as far as it runs along it: a lost rim runs along the
    # outline; the see-through parts of a clear plug jut out from it as flecks (0: off)
    max_jut: float = 1.2
    # the other segmenter's parts whose pixels differ from the model by at least
    # ``faint_delta`` Delta-E (or ``faint_noise_k`` x the noise), ``faint_share`` of them,
    # join where most of their rim away from the mask is crisp (the ``crisp_*`` test
    # below); ``faint_delta`` 0 turns it off
    faint_delta: float = 1.5
    faint_noise_k: float = 3.0
    faint_share: float = 0.9
    faint_min_px: float = 0.0001  # of the frame: smaller faint parts stay out
    # On a coloured backdrop (chroma at least ``shade_chroma``) the backdrop's own shade
    # does not join: darker, within ``shade_hue_deg`` of its hue (a contact shadow)
    shade_chroma: float = 8.0
    shade_hue_deg: float = 30.0
    # a part of a cast shadow's colour joins only where most (``crisp_share``) of its rim
    # away from the mask is an edge of at least ``crisp_edge`` L* per pixel
    crisp_edge: float = 4.0
    crisp_share: float = 0.5
    # ... or, for a faint part, ``crisp_rel`` of its median Delta-E from the model (at
    # least ``crisp_floor``): a light edge's step is small but falls within a pixel or two
    crisp_rel: float = 0.2
    crisp_floor: float = 1.0

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
    model, noise = _fit(rgb, cfg)
    if noise > cfg.max_noise:
        return None
    c, o = chosen >= 0.5, other >= 0.5
    grow = cfg.grow_delta > 0
    rim = max(1, round(max(H, W) / 800))
    reach = max(2.0 * rim, cfg.grow_reach * max(H, W))
    cand = o & ~c
    if grow:  # a band around the mask, a little wider than a joining strip can reach
        cand |= cv2.distanceTransform((~c).astype(np.uint8), cv2.DIST_L2, 3) <= reach + 2
        cand &= ~c
    if backdrop is not None:
        cand &= ~backdrop
    if not cand.any():
        return None
    # the colour tests on the candidate pixels only, at full size; the backdrop model
    # (smooth) sampled bilinearly there from the working size
    ys, xs = np.nonzero(cand)
    lab = to_lab(rgb[ys, xs][:, None, :])[:, 0, :]
    model_px = _sample(model, ys, xs, H, W)
    dist = np.linalg.norm(lab - model_px, axis=-1)
    plain = o[ys, xs] & (dist > max(cfg.min_delta, cfg.noise_k * noise))
    # in L* only: JPEG's halved chroma smears a saturated product's colour a pixel or two
    # into the backdrop, at the backdrop's lightness
    grow_t = max(cfg.grow_delta, cfg.grow_noise_k * noise)
    faint = np.abs(lab[:, 0] - model_px[:, 0]) > grow_t
    if cfg.grow_lab:
        faint |= dist > grow_t
    faint &= grow & ~plain
    # the rest of the other mask's product, for parts that differ faintly (``faint_delta``)
    rest = o[ys, xs] & ~plain
    if float(np.median(np.hypot(model[..., 1], model[..., 2]))) >= cfg.shade_chroma:
        shade = _shade(lab, model_px, cfg.shade_hue_deg)
        plain &= ~shade
        faint &= ~shade
        rest &= ~shade
    shady = cast_shadow(lab[:, None, :], model_px[:, None, :], 1.0, hue_deg=cfg.shade_hue_deg)
    px = _Pixels(ys, xs, dist, shady[:, 0])
    joined = _parts(rgb, c, px, plain, rim, cfg)
    if grow and faint.any():
        # what the other segmenter calls backdrop joins only as a strip of the outline
        # that both missed (a light edge on light grey): narrow along the mask, and
        # ending in a crisp edge whatever its colour
        before = c | (joined > 0)
        strips = _parts(rgb, before, px, faint, 1, cfg, reach=reach)
        if strips.any() and cfg.strip_fill > 0:
            strips = np.maximum(strips, _closed_in(before, strips > 0, cfg))
        if strips.any() and cfg.max_jut > 0:
            strips = _along(before, strips, cfg)
        joined = np.maximum(joined, 2 * strips)
    if cfg.faint_delta > 0 and rest.any():
        # the other mask's parts that differ from the backdrop only faintly join where
        # their outer rim is a crisp edge all the same (a glossy white top on light grey)
        taken = c | (joined > 0)
        rest &= ~taken[ys, xs]
        least = max(cfg.faint_delta, cfg.faint_noise_k * noise)
        parts = _parts(rgb, taken, px, rest, rim, cfg, crisp_only=True, min_depth=least)
        if parts.any():  # a few pixels' crisp rim says little: specks of a clear plug
            _, labels, stats, _ = cv2.connectedComponentsWithStats(parts, connectivity=8)
            big = stats[:, cv2.CC_STAT_AREA] >= cfg.faint_min_px * H * W
            big[0] = False
            parts = big[labels].astype(np.uint8)
        joined = np.where((joined == 0) & (parts > 0), 1, joined).astype(np.uint8)
        if parts.any() and cfg.strip_fill > 0:  # like a strip, with what it closes in
            fill = _closed_in(taken, parts > 0, cfg) > 0
            joined = np.where(fill & (joined == 0), 2, joined).astype(np.uint8)
    if not joined.any():
        return None
    add = np.where(joined == 1, np.maximum(chosen, other), 1.0)
    return np.where(joined > 0, add, chosen).astype(np.float32)


def plainly_product(
    rgb: np.ndarray, ys: np.ndarray, xs: np.ndarray, cfg: CleanConfig | None = None
) -> np.ndarray | None:
    """Which of the full-size pixels ``(ys, xs)`` plainly differ from a clean backdrop
    (``min_delta`` Delta-E from the border's model, or ``noise_k`` x its noise): product,
    whatever a segmenter says. ``None`` when the backdrop is not clean."""
    cfg = cfg or CleanConfig()
    if not cfg.enabled:
        return None
    H, W = rgb.shape[:2]
    model, noise = _fit(rgb, cfg)
    if noise > cfg.max_noise:
        return None
    lab = to_lab(rgb[ys, xs][:, None, :])[:, 0, :]
    dist = np.linalg.norm(lab - _sample(model, ys, xs, H, W), axis=-1)
    return dist > max(cfg.min_delta, cfg.noise_k * noise)


def clean_cut(
    rgb: np.ndarray, chosen: np.ndarray, other: np.ndarray, cfg: CleanConfig | None = None
) -> np.ndarray | None:
    """``chosen`` with the regions that the other segmenter calls backdrop and that are
    the clean backdrop to the noise set to 0 (on a clipped backdrop, only bays:
    ``CleanConfig.cut_clipped``, ``_bays``); ``None`` when nothing is cut (see
    ``CleanConfig.cut``). Run after the verdict: it tidies a mask the gate judged, so it
    cannot make a mask that misses a product part pass (a white stool whose rear leg both
    segmenters lost passed once the wall between its legs was cut)."""
    cfg = cfg or CleanConfig()
    if not (cfg.enabled and cfg.cut):
        return None
    c, o = chosen >= 0.5, other >= 0.5
    cand = c & ~o
    H, W = rgb.shape[:2]
    if cand.sum() < cfg.cut_min_px * H * W:
        return None
    model, noise = _fit(rgb, cfg)
    lo, hi = cfg.cut_l_range
    clipped = model[..., 0].min() <= lo or model[..., 0].max() >= hi
    if noise > cfg.max_noise or (clipped and not cfg.cut_clipped):
        return None
    rim = max(2, round(max(H, W) / 800))
    parts = cv2.morphologyEx(cand.astype(np.uint8), cv2.MORPH_OPEN, disk(rim))
    n, labels = cv2.connectedComponents(parts, connectivity=8)
    if n <= 1:
        return None
    ys, xs = np.nonzero(parts)
    lab = to_lab(rgb[ys, xs][:, None, :])[:, 0, :]
    dist = np.linalg.norm(lab - _sample(model, ys, xs, H, W), axis=-1)
    region = labels[ys, xs]
    size = np.bincount(region, minlength=n)
    close = np.bincount(region, weights=dist <= cfg.cut_delta, minlength=n)
    cut = (size >= cfg.cut_min_px * H * W) & (close >= cfg.cut_share * np.maximum(size, 1))
    cut[0] = False
    for i in np.nonzero(cut)[0]:
        cut[i] = np.median(dist[region == i]) <= cfg.cut_median
    if clipped and cut.any():
        cut &= _bays(rgb, c, o, labels, cut, model, rim, cfg)
    if not cut.any():
        return None
    # in a region that passes, the pixels that follow the model go, and with them the
    # pixels of the region the other segmenter calls backdrop that are within
    # ``cut_near`` of the model and connected to them (the region's JPEG-rippled rim
    # along a leg); the odd product pixel the region took in stays
    seed = np.zeros((H, W), np.uint8)
    sel = cut[region] & (dist <= max(cfg.cut_delta, 2.0 * noise))
    seed[ys[sel], xs[sel]] = 1
    seed = cv2.morphologyEx(seed, cv2.MORPH_OPEN, disk(1))
    if not seed.any():
        return None
    cy, cx = np.nonzero(cand)
    near = np.linalg.norm(
        to_lab(rgb[cy, cx][:, None, :])[:, 0, :] - _sample(model, cy, cx, H, W), axis=-1
    ) <= max(cfg.cut_near, 6.0 * noise)
    loose = np.zeros((H, W), np.uint8)
    loose[cy[near], cx[near]] = 1
    k, weak = cv2.connectedComponents(loose | seed, connectivity=4)
    keep = np.zeros(k, bool)
    keep[np.unique(weak[seed > 0])] = True
    keep[0] = False
    gone = keep[weak]
    return np.where(gone, np.float32(0.0), chosen).astype(np.float32)


@dataclass
class _Pixels:
    """Candidate pixels ``(ys, xs)`` with their Delta-E from the backdrop model and
    whether their colour is a cast shadow's."""

    ys: np.ndarray
    xs: np.ndarray
    dist: np.ndarray
    shady: np.ndarray


def _parts(
    rgb: np.ndarray,
    mask: np.ndarray,
    px: _Pixels,
    pick: np.ndarray,
    rim: int,
    cfg: CleanConfig,
    reach: float | None = None,
    crisp_only: bool = False,
    min_depth: float = 0.0,
) -> np.ndarray:
    """The parts of the picked pixels ``px[pick]`` that join ``mask``, as a uint8 map (1
    where they join). A part joins when it survives an opening of ``rim`` px, lies within
    ``touch_px`` of ``mask`` and, if it is mostly of a cast shadow's colour or ``reach`` is
    given, ends in a crisp edge away from the mask; with ``reach`` it also lies wholly
    within ``reach`` px of the mask. With ``crisp_only`` every part needs the crisp edge,
    and ``faint_share`` of its pixels ``min_depth`` Delta-E or more from the backdrop."""
    H, W = mask.shape
    out = np.zeros((H, W), np.uint8)
    if not pick.any():
        return out
    out[px.ys[pick], px.xs[pick]] = 1
    out = cv2.morphologyEx(out, cv2.MORPH_OPEN, disk(rim))
    n, labels = cv2.connectedComponents(out, connectivity=8)
    if n <= 1:
        return out
    near = cv2.dilate(mask.astype(np.uint8), disk(cfg.touch_px)) > 0
    joins = np.zeros(n, bool)
    joins[np.unique(labels[near & (out > 0)])] = True
    joins[0] = False
    if not joins.any():
        return np.zeros_like(out)
    # a part of the backdrop's colour, darker (a cast shadow's) joins only where its rim
    # away from the mask is a crisp edge: a shadow's outer rim is a soft penumbra, the
    # dark sole of a sneaker ends in an edge. Counted per part (8-connected parts: the
    # rim of their union is the union of their rims). The edge needed is ``crisp_edge``
    # L* per px, or ``crisp_rel`` of a faint part's mean Delta-E from the backdrop.
    part = out > 0
    size = np.bincount(labels[part], minlength=n)
    in_part = labels[px.ys, px.xs]
    shady_n = np.bincount(in_part, weights=px.shady, minlength=n)
    shady_n[0] = 0
    depth = np.bincount(in_part, weights=px.dist, minlength=n) / np.maximum(
        np.bincount(in_part, minlength=n), 1
    )
    far = ~(cv2.dilate(mask.astype(np.uint8), disk(cfg.touch_px + 2)) > 0)
    edge = part & ~(cv2.erode(out, np.ones((3, 3), np.uint8)) > 0) & far
    ry, rx = np.nonzero(edge)
    g = _l_gradient(rgb, ry, rx)
    rim_n = np.bincount(labels[ry, rx], minlength=n)
    need = np.maximum(np.minimum(cfg.crisp_edge, cfg.crisp_rel * depth), cfg.crisp_floor)
    crisp_n = np.bincount(labels[ry, rx], weights=g > need[labels[ry, rx]], minlength=n)
    crisp = (rim_n >= 4) & (crisp_n >= cfg.crisp_share * np.maximum(rim_n, 1))
    if crisp_only:
        # and nearly all of it differs from the backdrop by ``min_depth`` or more
        below = np.bincount(in_part, weights=px.dist < min_depth, minlength=n)
        below[0] = 0
        joins &= crisp & (below <= (1.0 - cfg.faint_share) * np.maximum(size, 1))
    elif reach is None:
        joins &= (shady_n <= 0.5 * size) | crisp
    else:
        gap = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
        far_px = np.zeros(n, np.float32)
        np.maximum.at(far_px, labels[part], gap[part])
        joins &= crisp & (far_px <= reach)
    return joins[labels].astype(np.uint8)


def _closed_in(mask: np.ndarray, strips: np.ndarray, cfg: CleanConfig) -> np.ndarray:
    """The regions that ``strips`` close in against ``mask`` (uint8, 1 there): regions
    outside both that the frame's backdrop reached before the strips joined and does not
    after, each at most ``strip_fill`` of the product, with the pixels that bridge a strip's
    end to the mask (within ``touch_px`` of both)."""
    reach = disk(cfg.touch_px)
    bridge = (cv2.dilate(strips.astype(np.uint8), reach) > 0) & (
        cv2.dilate(mask.astype(np.uint8), reach) > 0
    )
    after = mask | strips | bridge
    n, labels, is_hole = enclosed(after)
    if not is_hole.any():
        return np.zeros(mask.shape, np.uint8)
    _, before_labels, was_hole = enclosed(mask)
    old = was_hole[before_labels]  # pixels in a hole the mask already had (a handle's)
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n)
    had = np.bincount(flat, weights=old.ravel(), minlength=n)
    fill = is_hole & (had == 0) & (area <= cfg.strip_fill * max(float(mask.sum()), 1.0))
    if not fill.any():
        return np.zeros(mask.shape, np.uint8)
    out = fill[labels]
    # the bridges that close a filled region in, and nothing else
    out |= bridge & ~mask & (cv2.dilate(out.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    return out.astype(np.uint8)


def _along(mask: np.ndarray, strips: np.ndarray, cfg: CleanConfig) -> np.ndarray:
    """``strips`` (uint8) without the parts that jut out from ``mask``: their greatest
    distance from it over the length of the mask's outline they lie along (the outline
    pixels within 2 px of them) above ``max_jut``."""
    n, labels = cv2.connectedComponents(strips, connectivity=8)
    if n <= 1:
        return strips
    u8 = mask.astype(np.uint8)
    outline = mask & ~(cv2.erode(u8, np.ones((3, 3), np.uint8)) > 0)
    gap = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
    part = strips > 0
    reach = np.zeros(n, np.float32)
    np.maximum.at(reach, labels[part], gap[part])
    # the outline pixels within 2 px of a part count for it (for the later-labelled part,
    # where two lie that close)
    near = cv2.dilate(labels.astype(np.float32), np.ones((5, 5), np.uint8)).astype(np.int32)
    along = np.bincount(near[outline], minlength=n)
    keep = reach <= cfg.max_jut * np.maximum(along, 1)
    keep[0] = False
    return (keep[labels] & part).astype(np.uint8)


def _bays(
    rgb: np.ndarray,
    c: np.ndarray,
    o: np.ndarray,
    labels: np.ndarray,
    cand: np.ndarray,
    model: np.ndarray,
    rim: int,
    cfg: CleanConfig,
) -> np.ndarray:
    """Of the candidate regions (``labels`` == i where ``cand[i]``), those that are bays on
    a clipped backdrop: the other mask's backdrop around the region reaches the frame's
    border (it is open to the backdrop, not a hole in the product the other segmenter
    kept), and the product beside it, 2-4 ``rim`` px away, differs from the backdrop
    model by ``clip_rim_delta`` or more on ``clip_rim_share`` of those pixels."""
    H, W = c.shape
    n_o, comp = cv2.connectedComponents((~o).astype(np.uint8), connectivity=4)
    border = np.zeros(n_o, bool)
    for edge in (comp[0], comp[-1], comp[:, 0], comp[:, -1]):
        border[np.unique(edge)] = True
    border[0] = False  # label 0: the other mask's product
    product = c & o
    ok = np.zeros_like(cand)
    pad = 4 * rim + 1
    for i in np.nonzero(cand)[0]:
        ys, xs = np.nonzero(labels == i)
        if not border[np.unique(comp[ys, xs])].any():
            continue
        y0, x0 = max(int(ys.min()) - pad, 0), max(int(xs.min()) - pad, 0)
        y1, x1 = min(int(ys.max()) + pad + 1, H), min(int(xs.max()) + pad + 1, W)
        region = (labels[y0:y1, x0:x1] == i).astype(np.uint8)
        ring = cv2.dilate(region, disk(4 * rim)) > 0
        ring &= ~(cv2.dilate(region, disk(2 * rim)) > 0) & product[y0:y1, x0:x1]
        ys, xs = np.nonzero(ring)
        if ys.size < 8:
            continue
        ys, xs = ys + y0, xs + x0
        lab = to_lab(rgb[ys, xs][:, None, :])[:, 0, :]
        far = np.linalg.norm(lab - _sample(model, ys, xs, H, W), axis=-1) >= cfg.clip_rim_delta
        ok[i] = bool(far.mean() >= cfg.clip_rim_share)
    return ok


def _fit(rgb: np.ndarray, cfg: CleanConfig) -> tuple[np.ndarray, float]:
    """The border's smooth backdrop model (Lab, at ``cfg.working_size``) and its noise."""
    H, W = rgb.shape[:2]
    h, w = working_size(H, W, cfg.working_size)
    small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA) if (h, w) != (H, W) else rgb
    model, noise, _ = fit_backdrop(to_lab(small), 0.015)
    return model, float(noise)


def _sample(model: np.ndarray, ys: np.ndarray, xs: np.ndarray, H: int, W: int) -> np.ndarray:
    """``model`` (h, w, C) sampled bilinearly at full-size pixels ``(ys, xs)`` of an
    ``(H, W)`` frame, as ``cv2.resize`` to ``(W, H)`` would give there."""
    h, w = model.shape[:2]
    fy = np.clip((ys + 0.5) * (h / H) - 0.5, 0, h - 1)
    fx = np.clip((xs + 0.5) * (w / W) - 0.5, 0, w - 1)
    y0, x0 = np.floor(fy).astype(int), np.floor(fx).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    wy, wx = (fy - y0)[:, None], (fx - x0)[:, None]
    top = model[y0, x0] * (1 - wx) + model[y0, x1] * wx
    bottom = model[y1, x0] * (1 - wx) + model[y1, x1] * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32)


def _l_gradient(rgb: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The largest L* gradient per pixel (Sobel of L* blurred by 0.8 px) within one pixel
    of each of ``(ys, xs)``, computed on a small window around each."""
    H, W = rgb.shape[:2]
    out = np.zeros(len(ys), np.float32)
    if not len(ys):
        return out
    y0, y1 = max(int(ys.min()) - 4, 0), min(int(ys.max()) + 5, H)
    x0, x1 = max(int(xs.min()) - 4, 0), min(int(xs.max()) + 5, W)
    # L* of the box from OpenCV's 8-bit Lab (L scaled to 0-255): a fraction of to_lab's cost
    L = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2Lab)[..., 0]
    L = cv2.GaussianBlur(L.astype(np.float32) * (100.0 / 255.0), (0, 0), 0.8)
    g = cv2.dilate(lab_gradient_l(L), np.ones((3, 3), np.uint8))
    return g[ys - y0, xs - x0]


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
