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
- the pixel is the paper (within 3 Delta-E, or 3x the noise, of the border's smooth model
  or of the paper's own colour nearby, ``_paper_nearby``), or the paper in shadow (its
  hue and at least half its chroma, or its a*b*, darker by up to ``max_darkening``);
- it is as smooth as paper: the L* spread over the 7x7 neighbours that pass the colour
  test is at most ``max_spread`` or 3x the backdrop noise.

Then the map grows (``_grow_shade``) into the deepest contact shadows, whose hue turns,
and the product's colour bleeding into the paper: pixels near the paper's hue, not more
saturated, without texture, joined to the map with no edge between. An opening removes
specks but gives back the thin paper it took beside what it kept (between two strands).
Until 2026-12-05 neither was there, and at full size a purple band followed every strand
of the rope on every look. Last, the darkest line of a contact shadow, right at a strand's
edge, joins where it is a line (2-4 px) of the paper's colour beside the shade, at most
half as light as the product beside it: until 2026-12-06 a dark purple line was left
under every strand (3615 dark purple pixels kept as product on the rope shot; 1232 now).
And the slivers of lit paper enclosed between crossing strands, under ``min_area`` and
within 1.5% of the frame of what is known backdrop, join (``_slivers``; on the rope shot
five purple slivers of 11-37 px went, 2026-12-06). A pixel's hue counts only where its
chroma is at least ``hue_chroma`` (10): on a stool shot on pale blue paper (chroma 16)
the chrome rails, reflecting the paper at chroma 6-11, were cut out in patches and
published so (2026-12-06).

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
    min_area: float = 0.00005,
    grow_hue_deg: float = 45.0,
    max_texture: float = 1.5,
    rim_darkening: float = 0.95,
    line_contrast: float = 0.5,
    slivers: bool = True,
    hue_chroma: float = 10.0,
    sliver_reach: float = 0.015,
    background: np.ndarray | None = None,
) -> np.ndarray | None:
    """Full-size bool map of coloured paper in cast shadow, or None when the backdrop is
    not coloured paper (or nothing is in shadow). ``background`` (full-size bool, optional)
    is what the segmenters already call backdrop: slivers of paper colour beside it join
    too (see the sliver step)."""
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
    # and the paper itself, unshaded (within 3 Delta-E, or 3x the noise)
    tol = max(3.0, 3.0 * noise)
    paper = np.linalg.norm(lab_full - model_full, axis=-1) <= tol
    # A smooth model fitted to the border misses the paper's slow drift inside the
    # frame (on the purple shot the paper inside the rope's loops is 1.1x as saturated,
    # 4-8 Delta-E off the model): the paper is also compared with its own colour nearby,
    # the mean of the paper pixels around it, and the model is corrected by that drift.
    local = _paper_nearby(lab_full, paper, sigma=0.02 * max(H, W))
    if local is not None:
        paper |= np.linalg.norm(lab_full - local, axis=-1) <= tol
        model_full = np.where(np.isfinite(local), local, model_full)
    # the paper in shadow: its hue read only where the pixel's chroma is at least
    # ``hue_chroma`` (a neutral product tinted by the paper's bounce light, such as a
    # chrome rail over light-blue paper at chroma 16, has the paper's hue at chroma 6-11)
    cast = cast_shadow(lab_full, model_full, max_darkening, min_chroma=min_chroma)
    shade = (cast & (np.hypot(lab_full[..., 1], lab_full[..., 2]) >= hue_chroma)) | paper
    # smooth: L* spread over the neighbours that pass the colour test too, so the paper
    # between two strands of a rope is not judged on the strands
    shade &= masked_spread(lab_full[..., 0], shade, 7) <= max(max_spread, 3.0 * noise)
    # then the deepest contact shadows and the product's colour bleed, joined by texture
    shade = _grow_shade(
        lab_full, model_full, shade, max_darkening, grow_hue_deg, max_texture, hue_chroma
    )
    r = max(1, round(max(H, W) / 800))
    # and the last line beside the product: where a strand lies on the paper its contact
    # shadow is darkest right at its edge (down to L* 5 on purple paper at L* 41), and
    # that line fails the smoothness tests (the strand's bright edge is beside it) though
    # not the colour test. Within 2r px of the shade, darkened up to ``rim_darkening``, it
    # joins where it is a line: the parts of such pixels that an opening of 2r px takes
    # (a product's own dark part of the paper's hue, such as the soil in a pot on tan
    # paper, is a region, not a line). The chroma bound keeps a dark product's edge out:
    # black and charcoal are far below 0.3x the paper's chroma.
    # (``rim_darkening`` 0 turns this step off)
    if rim_darkening > 0:
        line = _shade_colour(lab_full, model_full, rim_darkening, grow_hue_deg, hue_chroma)
        line &= ~shade
        line &= cv2.morphologyEx(line.astype(np.uint8), cv2.MORPH_OPEN, disk(2 * r)) == 0
        line &= cv2.dilate(shade.astype(np.uint8), disk(2 * r)) > 0
        # a contact line is darker than the product beside it, by half at least; the mixed
        # outline pixels of a dark product of a near hue (navy on teal) are not
        rest = np.where(shade | line, 0.0, lab_full[..., 0]).astype(np.float32)
        beside = cv2.dilate(rest, disk(2 * r + 1))
        shade |= line & (lab_full[..., 0] <= line_contrast * beside)
    # specks go; the thin paper beside a strand (under 2r px wide, between the strand and
    # the open paper) comes back: what the opening took within 2r + 1 px of what it kept
    opened = cv2.morphologyEx(shade.astype(np.uint8), cv2.MORPH_OPEN, disk(r))
    shade &= cv2.dilate(opened, disk(2 * r + 1)) > 0
    n, labels, stats, _ = cv2.connectedComponentsWithStats(shade.astype(np.uint8), 8)
    if n <= 1:
        return None
    big = np.concatenate([[False], stats[1:, cv2.CC_STAT_AREA] >= min_area * H * W])
    out = big[labels]
    if slivers and out.any():
        known = out if background is None else out | background
        colour = _shade_colour(lab_full, model_full, max_darkening, grow_hue_deg, hue_chroma)
        colour &= ~known
        out |= _slivers(lab_full, model_full, colour, known, min_area * H * W, sliver_reach)
    return out if out.any() else None


def _slivers(
    lab: np.ndarray,
    model: np.ndarray,
    colour: np.ndarray,
    known: np.ndarray,
    max_area: float,
    reach_frac: float,
    hue_deg: float = 30.0,
) -> np.ndarray:
    """The slivers of paper left between crossing strands: regions of ``colour`` (the
    colour a shadow on the paper can take, outside what is ``known`` backdrop) smaller
    than ``max_area`` px, within ``reach_frac`` of the frame of ``known``, that are the
    paper itself, lit (most of their pixels at least 0.8x the paper's L* and within
    ``hue_deg`` of its hue), not its shade.
    They join whatever their texture: a 2-6 px gap between two bright strands fails every
    smoothness test, and the specks rule above drops what is smaller than ``min_area``.
    On the rope shot five purple slivers of 13-52 px, enclosed a strand's width from the
    open paper, were kept as product on every look. The mixed outline of a darker product
    of a near hue (navy on teal: 0.8x the paper's L*, 42 degrees off its hue) stays. A lit product
    part that small and of the paper's hue is the case this gets wrong."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(colour.astype(np.uint8), 8)
    if n <= 1:
        return np.zeros_like(colour)
    H, W = colour.shape
    reach = disk(max(1, round(reach_frac * max(H, W))))
    close = cv2.dilate(known.astype(np.uint8), reach) > 0
    closeby = np.bincount(labels[close & colour], minlength=n) > 0
    area = stats[:, cv2.CC_STAT_AREA]
    cos = (lab[..., 1] * model[..., 1] + lab[..., 2] * model[..., 2]) / np.maximum(
        np.hypot(lab[..., 1], lab[..., 2]) * np.hypot(model[..., 1], model[..., 2]), 1e-6
    )
    lit = (lab[..., 0] >= 0.8 * model[..., 0]) & (cos >= np.cos(np.radians(hue_deg)))
    lit_share = np.bincount(labels[colour], weights=lit[colour], minlength=n) / np.maximum(area, 1)
    join = closeby & (lit_share > 0.5) & (area < max_area)
    join[0] = False
    return join[labels]


def _paper_nearby(lab: np.ndarray, paper: np.ndarray, sigma: float) -> np.ndarray | None:
    """The paper's own colour around each pixel: the Gaussian-weighted mean (``sigma``
    px) of the ``paper`` pixels' Lab, NaN where there are almost none nearby; None when
    there is no paper. Computed on a 4x smaller copy (the drift is slow)."""
    if not paper.any():
        return None
    H, W = paper.shape
    h, w = max(H // 4, 1), max(W // 4, 1)
    wt = cv2.resize(paper.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    val = cv2.resize(lab * paper[..., None], (w, h), interpolation=cv2.INTER_AREA)
    s = max(sigma / 4, 1.0)
    num = cv2.GaussianBlur(val, (0, 0), s)
    den = cv2.GaussianBlur(wt, (0, 0), s)[..., None]
    mean = np.where(den > 0.05, num / np.maximum(den, 1e-6), np.nan).astype(np.float32)
    return cv2.resize(mean, (W, H), interpolation=cv2.INTER_LINEAR)


def _shade_colour(
    lab: np.ndarray,
    model: np.ndarray,
    max_darkening: float,
    hue_deg: float,
    hue_chroma: float = 10.0,
) -> np.ndarray:
    """Pixels of the colour a shadow on the paper can take (``_grow_shade``): not lighter
    than the paper by more than 3 L*, darker by less than ``max_darkening`` of its L*,
    within ``hue_deg`` of its hue, at 0.3-1.1 x its chroma and at least ``hue_chroma``
    (below that a pixel's hue is white balance and JPEG, not the paper's)."""
    d = lab - model
    c_bg = np.hypot(model[..., 1], model[..., 2])
    c_px = np.hypot(lab[..., 1], lab[..., 2])
    cos = (lab[..., 1] * model[..., 1] + lab[..., 2] * model[..., 2]) / np.maximum(
        c_bg * c_px, 1e-6
    )
    return (
        (d[..., 0] <= 3.0)
        & (-d[..., 0] < max_darkening * model[..., 0])
        & (cos >= np.cos(np.radians(hue_deg)))
        & (c_px >= np.maximum(0.3 * c_bg, hue_chroma))
        & (c_px <= 1.1 * c_bg)
    )


def _grow_shade(
    lab: np.ndarray,
    model: np.ndarray,
    shade: np.ndarray,
    max_darkening: float,
    hue_deg: float,
    max_texture: float,
    hue_chroma: float = 10.0,
) -> np.ndarray:
    """``shade`` grown into the paper's deepest contact shadows and the product's colour
    bleeding into the paper, where they join it with no edge and no texture between.

    On the purple jump-rope shot the contact shadows beside the strands turn the paper's
    hue by 15-20 degrees (the ambient light is bluer than the key) and halve its chroma,
    and JPEG's half-resolution chroma spreads the rope's orange a few pixels into the
    paper beside it: neither passes ``cast_shadow``, and both segmenters kept a purple
    band along every strand, seen at full size on the look sheet. A pixel may join when
    it is not lighter than the paper (by at most 3 L*), within ``hue_deg`` of its hue, at
    0.3-1.1 x its chroma (a terracotta pot on tan paper is the tan's hue but 1.2x or more
    its chroma; a shadow does not saturate the paper past that), and smooth: its L*
    detail (the mean absolute difference from the local mean, both over the neighbours
    that pass the colour test, Gaussian 2 px) at most ``max_texture``, and the L*
    gradient under 6 per px (a product's outline is an edge). Only the regions these
    pixels form that touch ``shade`` join."""
    L = lab[..., 0]
    soft = cv2.GaussianBlur(L, (0, 0), 1.0)
    grad = np.hypot(cv2.Sobel(soft, cv2.CV_32F, 1, 0), cv2.Sobel(soft, cv2.CV_32F, 0, 1)) / 8
    colour = _shade_colour(lab, model, max_darkening, hue_deg, hue_chroma)
    # L* detail over the neighbours that pass the colour test: a shadow's ramp beside a
    # bright strand is judged on the shadow alone, not on the strand's edge
    w = colour.astype(np.float32)

    def local(x):
        return cv2.GaussianBlur(x * w, (0, 0), 2.0) / np.maximum(
            cv2.GaussianBlur(w, (0, 0), 2.0), 1e-3
        )

    detail = local(np.abs(L - local(L)))
    loose = colour & (grad < 6.0) & (detail <= max_texture)
    joined = (shade | loose).astype(np.uint8)
    n, labels = cv2.connectedComponents(joined, connectivity=8)
    touches = np.bincount(labels[shade], minlength=n) > 0
    touches[0] = False
    return touches[labels] & (joined > 0)


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
