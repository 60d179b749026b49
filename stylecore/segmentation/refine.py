"""Shared mask plumbing for the segmenters: Lab conversion, morphology helpers, local
colour snapping, the hole rule and edge-aware upsampling from the working size to full
size.

**The hole rule** (``Backdrop``, ``settle_holes``): a region the product mask
encloses is a hole (background, restyled) only where the backdrop really shows through
it: its colour is the backdrop model's (or the backdrop's, in neutral shade) *and* it is as
smooth as the backdrop. Anything else enclosed is product, whatever a segmenter said: a
logo's letter, a dial's red digits, a knit's light yarn. The rule runs at the segmenter's
working size, and again at full size on whatever the colour snapping opened there. The
U-Net then gives a kept hole back the backdrop-coloured mask pixels beside it
(``open_holes``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from stylecore.segmentation.base import feather


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB -> float32 Lab (L in [0, 100])."""
    return cv2.cvtColor(rgb.astype(np.float32) * (1.0 / 255.0), cv2.COLOR_RGB2Lab)


def lab_gradient(lab: np.ndarray) -> np.ndarray:
    """Delta-E per pixel of a Lab image's gradient (Sobel, all three channels)."""
    g2 = np.zeros(lab.shape[:2], np.float32)
    for c in range(3):
        gx = cv2.Sobel(lab[..., c], cv2.CV_32F, 1, 0, ksize=3) * 0.125
        gy = cv2.Sobel(lab[..., c], cv2.CV_32F, 0, 1, ksize=3) * 0.125
        g2 += gx * gx + gy * gy
    return np.sqrt(g2)


def is_uniform(lab: np.ndarray, tol: float = 0.6) -> bool:
    """True when no Lab channel varies by more than ``tol`` (std): a blank frame."""
    return bool(lab.reshape(-1, 3).std(axis=0).max() < tol)


def disk(r: int) -> np.ndarray:
    r = max(int(r), 1)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def keep_components(fg: np.ndarray, min_component: float, keep_ratio: float) -> np.ndarray:
    """Keep components of ``fg`` that are at least ``min_component`` of the frame and
    ``keep_ratio`` of the largest component; drop the rest (specks, debris)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg.astype(np.uint8), 8)
    if n <= 1:
        return fg
    area = stats[1:, cv2.CC_STAT_AREA]
    biggest = area.max()
    keep = (area >= min_component * fg.size) & (area >= keep_ratio * biggest)
    lut = np.concatenate([[False], keep])
    return lut[labels]


def drop_specks(alpha: np.ndarray, min_share: float = 2e-5, min_px: int = 16) -> np.ndarray:
    """``alpha`` without product islands smaller than ``min_share`` of the frame (and at
    least ``min_px``), their feather included. At full size the U-Net's upsampled outline
    leaves islands of a few pixels in small gaps (between a jump rope's strands on purple
    paper: 33 islands of 1-23 px), and each one printed a speck of old backdrop on the
    new background.

    Faint islands go too: soft pixels (alpha in (0, 0.5)) that no product pixel joins,
    under the same size. The compositor draws a soft pixel in the product's colour at
    opacity ``2 alpha``, so on the same rope shot nine of them (1-21 px, 79 in all,
    alpha 0.04-0.4, left by the upsampled probability beside the strands) printed as
    orange dots on the dark bokeh look. A soft stretch that holds product (a ramp, a
    thin strand) is untouched, whatever its size."""
    limit = max(min_px, min_share * alpha.size)
    fg = (alpha >= 0.5).astype(np.uint8)
    out = alpha
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n > 2:
        small = stats[1:, cv2.CC_STAT_AREA] < limit
        if small.any():
            specks = np.concatenate([[False], small])[labels].astype(np.uint8)
            halo = cv2.dilate(specks, np.ones((7, 7), np.uint8)) > 0
            out = alpha.copy()
            out[(specks > 0) | (halo & (alpha < 0.5))] = 0.0
    any_alpha = (out > 0.002).astype(np.uint8)  # below that, 2 alpha prints nothing
    n, labels, stats, _ = cv2.connectedComponentsWithStats(any_alpha, connectivity=8)
    if n <= 1:
        return out
    holds = np.bincount(labels[out >= 0.5], minlength=n) > 0
    faint = ~holds & (stats[:, cv2.CC_STAT_AREA] < limit)
    faint[0] = False
    if not faint.any():
        return out
    out = out.copy() if out is alpha else out
    out[faint[labels]] = 0.0
    return out


def cast_shadow(
    lab: np.ndarray,
    model: np.ndarray,
    max_darkening: float,
    neutral_chroma: float = 5.0,
    min_chroma: float = 8.0,
    hue_deg: float = 12.0,
) -> np.ndarray:
    """Pixels that can be the backdrop in shadow: darker than the backdrop model (by less
    than ``max_darkening`` of its L*, so not black), and either neutral against it (a*, b*
    within ``neutral_chroma``) or, on a backdrop with at least ``min_chroma``, of its hue
    (within ``hue_deg``) and at least half its chroma. A shadow on tan or purple paper is a
    darker tan or purple, often more saturated (the paper lights its own shadow): its
    chroma differs from the paper's, its hue does not. On real coloured-paper shots such
    contact shadows were taken for product when only neutral darkening counted."""
    d = lab - model
    darker = -d[..., 0]
    dark_enough = (darker > 0) & (darker < max_darkening * model[..., 0])
    neutral = np.hypot(d[..., 1], d[..., 2]) < neutral_chroma
    c_bg = np.hypot(model[..., 1], model[..., 2])
    c_px = np.hypot(lab[..., 1], lab[..., 2])
    dot = lab[..., 1] * model[..., 1] + lab[..., 2] * model[..., 2]
    cos = dot / np.maximum(c_bg * c_px, 1e-6)  # of the hue angle between the two
    same_hue = (c_bg >= min_chroma) & (c_px >= 0.5 * c_bg) & (cos >= np.cos(np.radians(hue_deg)))
    return dark_enough & (neutral | same_hue)


def masked_spread(values: np.ndarray, members: np.ndarray, size: int) -> np.ndarray:
    """The standard deviation of ``values`` over each pixel's ``size`` x ``size``
    neighbours that are ``members`` (box filters: constant cost per pixel). Texture judged
    this way at a region's rim leaves out the other side of the rim."""
    k = (size, size)
    w = members.astype(np.float32)
    n = np.maximum(cv2.boxFilter(w, -1, k, normalize=False), 1.0)
    mean = cv2.boxFilter(values * w, -1, k, normalize=False) / n
    var = cv2.boxFilter(values * values * w, -1, k, normalize=False) / n - mean * mean
    return np.sqrt(np.maximum(var, 0.0))


@dataclass
class Backdrop:
    """What the hole rule knows of a photo's backdrop, at a working size: the photo's Lab,
    the smooth backdrop model fitted to the border (``edges.fit_backdrop``) and that
    fit's noise."""

    lab: np.ndarray
    model: np.ndarray
    noise: float

    @property
    def tol(self) -> float:
        """Lightness difference from the model that still reads as backdrop showing
        through: 1.5 Delta-E, or 2.5 x the fit's noise where the smooth model fits the
        backdrop loosely. Tighter than the segmenters' "differs" (5 x noise): on a real
        wall-and-floor shot (noise 3) that let a tan sofa's light leather pass for the
        grey wall, and holes were cut in it."""
        return max(1.5, 2.5 * self.noise)

    @cached_property
    def shows(self) -> np.ndarray:
        """Pixels through which the backdrop could be showing: lightness within ``tol``
        of the model, a*b* within ``max(5, tol)``, and lightness as smooth as the
        backdrop's. Texture is measured over the pixel's neighbours that share its
        verdict on colour, so a hole's rim does not count the product's pixels beyond it.
        A backdrop in shade (inside a mug's handle) is darker than the model and is not
        taken as showing: a white product's shaded side looks the same."""
        d = self.lab - self.model
        chroma = np.hypot(d[..., 1], d[..., 2])
        colour = (np.abs(d[..., 0]) <= self.tol) & (chroma <= max(5.0, self.tol))
        spread = masked_spread(self.lab[..., 0], colour, 5)
        return colour & (spread <= max(2.0, 3.0 * self.noise))

    @cached_property
    def palette(self) -> np.ndarray:
        """Colours the backdrop really has: the border band's pixels that fit the model
        (at most 4096 of them, ``(k, 3)`` Lab). Where a product covers much of the border,
        the model can be off inside the frame; a hole must also match these."""
        h, w = self.lab.shape[:2]
        band = max(int(round(0.015 * max(h, w))), 2)
        ring = np.zeros((h, w), bool)
        ring[:band] = ring[-band:] = True
        ring[:, :band] = ring[:, -band:] = True
        px, mod = self.lab[ring], self.model[ring]
        fits = np.linalg.norm(px - mod, axis=1) <= max(3.0 * self.noise, 3.0)
        px = px[fits] if fits.any() else px
        return px[:: max(len(px) // 4096, 1)]

    def matches_palette(self, colour: np.ndarray) -> bool:
        """Is the Lab ``colour`` within ``max(3, tol)`` Delta-E of one of the backdrop's
        border colours?"""
        return bool(np.linalg.norm(self.palette - colour, axis=1).min() <= max(3.0, self.tol))


def enclosed(fg: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """Regions of ``~fg`` that do not reach the frame: ``(n, labels, is_hole)``, where
    ``is_hole[i]`` says whether label ``i`` of ``labels`` is such a region (4-connected)."""
    n, labels = cv2.connectedComponents((~fg).astype(np.uint8), connectivity=4)
    is_hole = np.ones(n, bool)
    is_hole[0] = False  # label 0 is the product itself
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        is_hole[np.unique(edge)] = False
    return n, labels, is_hole


def settle_holes(
    fg: np.ndarray, backdrop: Backdrop, min_share: float = 0.9, min_hole: float = 0.002
) -> tuple[np.ndarray, np.ndarray]:
    """Apply the hole rule to a bool mask: fill every enclosed region unless at least
    ``min_share`` of it ``backdrop.shows``, its median colour is one the backdrop has
    along the border, and it covers at least ``min_hole`` of the frame. Smaller enclosed
    regions are always product: on a real close-up of a memory module, out-of-focus
    patches of its dark board matched the dark backdrop in colour, smoothness and
    palette, and 0.1-0.3% holes were cut in it; a real through-hole (a handle) is larger.
    Returns ``(mask, kept_holes)``."""
    n, labels, is_hole = enclosed(fg)
    if not is_hole.any():
        return fg, np.zeros_like(fg)
    flat = labels.ravel()
    area = np.bincount(flat, minlength=n).astype(np.float64)
    # judged away from the rim, whose pixels mix the product's colour with the backdrop's;
    # a hole too thin to have an inside is judged on all of its pixels
    inner = (cv2.dilate(fg.astype(np.uint8), disk(2)) == 0).ravel()
    shows = backdrop.shows.ravel()
    n_in = np.bincount(flat, weights=inner, minlength=n)
    show_in = np.bincount(flat, weights=shows & inner, minlength=n)
    show_all = np.bincount(flat, weights=shows, minlength=n)
    share = np.where(n_in > 0, show_in / np.maximum(n_in, 1), show_all / np.maximum(area, 1))
    keep = is_hole & (share >= min_share) & (area >= min_hole * fg.size)
    lab = backdrop.lab.reshape(-1, 3)
    for i in np.nonzero(keep)[0]:
        keep[i] = backdrop.matches_palette(np.median(lab[flat == i], axis=0))
    fill = is_hole & ~keep
    return fg | fill[labels], keep[labels]


def open_holes(
    fg: np.ndarray,
    kept: np.ndarray,
    backdrop: Backdrop,
    max_ratio: float = 0.5,
    min_touch: float = 0.3,
) -> tuple[np.ndarray, np.ndarray]:
    """Give a kept hole back the mask pixels beside it that show the backdrop: each
    connected region of mask pixels that ``backdrop.shows`` and that touches a kept hole
    joins it, when it is at most ``max_ratio`` of that hole's area and at least
    ``min_touch`` of its rim borders the hole. A network can fill the corners of a
    handle's inside with product; the hole rule alone only ever fills. The area bound
    keeps a light part of a product (a lid) that touches a small real hole from being
    eaten.

    The rim bound keeps a light strip of product beside a hole: the backdrop showing
    through meets the hole with no edge between them, so a filled corner borders the
    hole along a whole side, while a white mug's lit inner handle is parted from the hole
    by the handle's darker rim and touches it only through gaps in that line. Measured at
    the U-Net's working size: filled corners of real shots (between a white stool's legs,
    a tripod's, a camera strap's loop) bordered their hole along 35-100% of their rim;
    the lit inner handles of four sample-catalogue mugs, carved before this bound, along
    2-23%. Returns ``(mask, kept_holes)``."""
    if not kept.any():
        return fg, kept
    n_h, holes = cv2.connectedComponents(kept.astype(np.uint8), connectivity=4)
    hole_area = np.bincount(holes.ravel(), minlength=n_h)
    cand = fg & backdrop.shows
    n, comp = cv2.connectedComponents(cand.astype(np.uint8), connectivity=8)
    if n <= 1:
        return fg, kept
    area = np.bincount(comp.ravel(), minlength=n)
    grow = np.ones((3, 3), np.uint8)
    near_hole = cv2.dilate(kept.astype(np.uint8), grow) > 0
    ring = near_hole & cand
    carve = np.zeros(n, bool)
    for i in np.unique(comp[ring]):
        region = (comp == i).astype(np.uint8)
        around = cv2.dilate(region, grow) > 0
        beside = np.unique(holes[around & kept])
        if not (i and beside.size and area[i] <= max_ratio * hole_area[beside].sum()):
            continue
        rim = (region > 0) & ~(cv2.erode(region, grow) > 0)
        carve[i] = (rim & near_hole).sum() >= min_touch * rim.sum()
    opened = carve[comp]
    return fg & ~opened, kept | opened


def local_means(lab: np.ndarray, binary: np.ndarray, radius: int):
    """Mean colour of the product side and of the backdrop side within a square window of
    ``radius`` around each pixel (box filters: constant cost per pixel)."""
    k = (2 * radius + 1, 2 * radius + 1)
    inside = binary.astype(np.float32)
    n_in = cv2.boxFilter(inside, -1, k)[..., None]
    s_all = cv2.boxFilter(lab, -1, k)
    s_in = cv2.boxFilter(lab * inside[..., None], -1, k)
    fg = s_in / np.maximum(n_in, 1e-6)
    bg = (s_all - s_in) / np.maximum(1.0 - n_in, 1e-6)
    return fg, bg


def rim_means(lab: np.ndarray, binary: np.ndarray, radius: int, reach: int = 2):
    """Like ``local_means``, but each side's mean is taken over its pixels within
    ``reach`` px of the outline only (where a window holds none, the whole side's). The
    colours a pixel on the outline is torn between are those right beside it: a white
    mug's light-grey rim borders its dark inside, and the window's mean of the whole
    product side was pulled so dark that the rim snapped to the white backdrop, in
    segments (the demo mug on wood showed a ragged rim)."""
    g = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
    u8 = binary.astype(np.uint8)
    inner = binary & ~(cv2.erode(u8, g, borderType=cv2.BORDER_REPLICATE) > 0)
    outer = ~binary & (cv2.dilate(u8, g) > 0)
    k = (2 * radius + 1, 2 * radius + 1)
    fg, bg = local_means(lab, binary, radius)
    out = []
    for side, whole in ((inner, fg), (outer, bg)):
        w = side.astype(np.float32)
        n = cv2.boxFilter(w, -1, k)[..., None]
        mean = cv2.boxFilter(lab * w[..., None], -1, k) / np.maximum(n, 1e-6)
        out.append(np.where(n > 0, mean, whole))
    return out[0], out[1]


def snap(
    values: np.ndarray, fg: np.ndarray, bg: np.ndarray, current: np.ndarray, min_sep: float
) -> np.ndarray:
    """Assign each pixel to the nearer of its local product / backdrop colour, where the
    two differ by at least ``min_sep``; elsewhere keep ``current``."""
    d_fg = np.linalg.norm(values - fg, axis=-1)
    d_bg = np.linalg.norm(values - bg, axis=-1)
    decisive = np.linalg.norm(fg - bg, axis=-1) >= min_sep
    return np.where(decisive, d_fg < d_bg, current)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Edge-preserving smoothing of ``src`` steered by ``guide`` (both float32 ``(H, W)``;
    He, Sun and Tang, ECCV 2010): in each ``2 * radius + 1`` window the output is a linear
    function of the guide, fitted to ``src`` by least squares with ridge ``eps``. Where
    the guide has an edge (variance well above ``eps``) the output follows it; where the
    guide is flat, the output is ``src``'s local mean. Box filters: constant cost per
    pixel."""
    k = (2 * radius + 1, 2 * radius + 1)

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, k, borderType=cv2.BORDER_REFLECT)

    mean_g, mean_s = box(guide), box(src)
    a = (box(guide * src) - mean_g * mean_s) / (box(guide * guide) - mean_g * mean_g + eps)
    b = mean_s - a * mean_g
    return box(a) * guide + box(b)


# Guided smoothing of the upsampled outline: the ridge, in (grey level / 255)^2. Edges of
# at least ~8 grey levels (std 0.03) are followed; below that the outline is smoothed.
OUTLINE_EPS = 1e-3


def upsample_refined(
    small_mask: np.ndarray,
    rgb: np.ndarray,
    fg_mean: np.ndarray | None,
    bg_mean: np.ndarray | None,
    min_sep: float,
    feather_px: float,
    kept_holes: np.ndarray | None = None,
    smooth: bool = True,
) -> np.ndarray:
    """Working-size bool mask -> full-size soft alpha.

    Upsample bilinearly, then re-decide each pixel of the upsampled transition zone from
    its full-size colour against the local product / backdrop colours (``fg_mean`` and
    ``bg_mean``, Lab maps at working size), then feather. Returns float32 in [0, 1].
    With ``kept_holes`` (the working-size holes the hole rule kept), an enclosed region
    at full size that overlaps none of them is product and is filled: snapping decides
    single pixels by colour and must not open a hole the rule did not allow.

    With ``smooth``, when the photo is more than 1.5x the working size, the outline is
    then smoothed with a guided filter (``guided_filter``, the photo's grey levels as the
    guide, a window one working pixel wide) around the transition zone. Where the photo
    has an edge the outline keeps to it; where it has none, the working pixels' steps are
    averaged into a straight line. Along a laptop's black bezel on a black backdrop the
    outline stepped by the working pixel (6 px at 1600 px wide): a staircase of backdrop
    kept as product.
    """
    H, W = rgb.shape[:2]
    h, w = small_mask.shape
    if (h, w) == (H, W):
        return feather(small_mask, feather_px)
    up = cv2.resize(small_mask.astype(np.float32), (W, H), interpolation=cv2.INTER_LINEAR)
    binary = up >= 0.5
    zone = (up > 0.02) & (up < 0.98)
    if fg_mean is not None and bg_mean is not None:
        ys, xs = np.nonzero(zone)
        if ys.size:
            px = to_lab(rgb[ys, xs][:, None, :])[:, 0, :]
            sy = np.minimum((ys * h) // H, h - 1)
            sx = np.minimum((xs * w) // W, w - 1)
            binary[ys, xs] = snap(px, fg_mean[sy, sx], bg_mean[sy, sx], binary[ys, xs], min_sep)
    scale = max(H / h, W / w)
    if smooth and scale > 1.5 and zone.any():
        binary = _smooth_outline(binary, zone, rgb, max(int(round(scale)), 2))
    if kept_holes is not None:
        binary = _fill_unkept(binary, kept_holes)
    return feather(binary, feather_px)


def _smooth_outline(binary: np.ndarray, zone: np.ndarray, rgb: np.ndarray, r: int) -> np.ndarray:
    """``binary`` re-decided by ``guided_filter`` within ``r`` px of ``zone``, computed on
    the box around the zone only (the filter reaches 2r)."""
    ys, xs = np.nonzero(zone)
    H, W = binary.shape
    y0, y1 = max(int(ys.min()) - 3 * r, 0), min(int(ys.max()) + 3 * r + 1, H)
    x0, x1 = max(int(xs.min()) - 3 * r, 0), min(int(xs.max()) + 3 * r + 1, W)
    crop = np.s_[y0:y1, x0:x1]
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[crop]), cv2.COLOR_RGB2GRAY)
    grey = grey.astype(np.float32) * (1.0 / 255.0)
    smooth = guided_filter(grey, binary[crop].astype(np.float32), r, OUTLINE_EPS) >= 0.5
    band = cv2.dilate(zone[crop].astype(np.uint8), disk(r)) > 0
    out = binary.copy()
    out[crop] = np.where(band, smooth, binary[crop])
    return out


def _fill_unkept(binary: np.ndarray, kept_small: np.ndarray) -> np.ndarray:
    n, labels, is_hole = enclosed(binary)
    if not is_hole.any():
        return binary
    H, W = binary.shape
    kept = cv2.resize(kept_small.astype(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST) > 0
    allowed = np.zeros(n, bool)
    allowed[np.unique(labels[kept])] = True
    return binary | (is_hole & ~allowed)[labels]
