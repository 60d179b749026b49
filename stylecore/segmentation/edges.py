"""Edge-based product segmentation: background model, colour distance, edges, morphology.

The recipe, at a reduced working size:

1. **Background model.** Sample a band along the frame's border and fit a smooth quadratic
   surface per Lab channel to it, robustly (trimmed refits drop border samples that are
   product, e.g. where the product runs off the frame). White, grey, gradient and paper
   backdrops are all "a smooth surface plus noise". The residual spread sets the noise
   level that every later threshold scales with.
2. **Colour seeds.** Pixels whose CIE76 distance from the background model exceeds
   ``max(delta_min, noise_k * noise)`` are product, except shadow-like pixels: darker than
   the backdrop, neutral against it or of its own hue (coloured paper), and with no sharp
   edge. (Convention: the contact shadow is background.)
3. **Edges.** Canny (or a thresholded Sobel magnitude) on L*, with thresholds from the
   noise level, adds outlines that colour alone misses: white products on white.
4. **Morphology.** Close (bridges gaps in the outline), fill enclosed regions except
   where the backdrop shows through them in colour and texture (the hole rule of
   ``refine``: a mug handle's inside stays background, a logo's letter does not), open
   (drops specks), then keep the product components and drop small debris.
5. **Optional GrabCut** seeded with the result, for soft or low-contrast boundaries.
6. **Full size.** The working-size mask is upsampled, snapped to the full-resolution
   colour distance inside a thin band around the outline (edge-aware refinement), and
   feathered into a soft alpha.

Pure NumPy/OpenCV; any size, aspect ratio, gray, RGB or RGBA (a real alpha is the mask).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from stylecore.segmentation.base import (
    FLAG_EMPTY,
    FLAG_FULL,
    FLAG_LOW_CONFIDENCE,
    FLAG_UNIFORM,
    Mask,
    cutout_first,
    working_size,
)
from stylecore.segmentation.refine import (
    Backdrop,
    cast_shadow,
    disk,
    is_uniform,
    keep_components,
    local_means,
    settle_holes,
    snap,
    to_lab,
    upsample_refined,
)


@dataclass(frozen=True)
class EdgeConfig:
    """Settings of :class:`EdgeSegmenter`. Distances are CIE76 Delta-E; sizes are pixels
    at the working size unless they say fraction."""

    working_size: int = 512  # long side the analysis runs at
    edge_operator: Literal["canny", "sobel"] = "canny"
    border_band: float = 0.015  # width of the border band sampled as backdrop (fraction)
    delta_min: float = 1.5  # a lightness difference below this is never product
    chroma_min: float = 7.0  # a chroma difference below this is never product (JPEG bleeds
    # chroma across 8x8 blocks, so chroma needs a higher floor than lightness)
    noise_k: float = 5.0  # ... nor below noise_k times the backdrop's noise
    max_backdrop_noise: float = 8.0  # a border noisier than this is not a backdrop
    base_zone: float = 0.12  # fraction of the product's height above its base where
    # darkened, neutral, smooth pixels are taken as cast shadow rather than product
    edge_k: float = 3.0  # edge threshold, in multiples of the L* noise (>= edge_min)
    edge_min: float = 4.0  # lowest edge threshold on L* gradient (0-100 scale)
    shadow_chroma: float = 5.0  # darkening with less chroma change than this is shadow
    # (or, on coloured paper, darkening of the paper's own hue: refine.cast_shadow)
    shadow_max_darkening: float = 0.7  # ... and at most this fraction darker than backdrop
    close_px: int = 4  # closing radius
    open_px: int = 1  # opening radius
    min_component: float = 0.0015  # components under this fraction of the frame are dropped
    keep_ratio: float = 0.03  # ... and under this fraction of the largest component
    hole_backdrop_fraction: float = 0.9  # enclosed regions this much backdrop stay holes
    min_hole: float = 0.002  # enclosed regions under this fraction of the frame are filled
    # ... on a clean backdrop (border fit noise at most ``clean_noise``, a flattened
    # cut-out or a blown-out sweep) from this fraction, where the region's inside is the
    # backdrop to the noise (median Delta-E from the model at most ``clean_follow``, and
    # ``clean_follow_share`` of it within 1): the loops of a rope on white, not a patch
    # of a white mouse's top on grey (2.8 Delta-E from it)
    clean_min_hole: float = 0.0005
    clean_noise: float = 0.5
    clean_follow: float = 0.6
    clean_follow_share: float = 0.75
    grabcut: bool = False
    grabcut_iters: int = 2
    snap_px: int = 2  # working-size band around the outline re-decided by local colour
    feather_px: float = 1.5  # width of the soft edge at full size
    smooth_outline: bool = True  # guided smoothing of the upsampled outline (refine.py)

    def __post_init__(self) -> None:
        if self.working_size < 64:
            raise ValueError(f"working_size={self.working_size}: must be >= 64")
        if not 0 < self.border_band < 0.2:
            raise ValueError(f"border_band={self.border_band}: must be in (0, 0.2)")
        if self.feather_px < 0 or self.snap_px < 0:
            raise ValueError("feather_px and snap_px must be >= 0")


def _border_samples(h: int, w: int, band: int) -> tuple[np.ndarray, np.ndarray]:
    m = np.zeros((h, w), bool)
    m[:band] = m[-band:] = True
    m[:, :band] = m[:, -band:] = True
    ys, xs = np.nonzero(m)
    return ys, xs


def _design(ys: np.ndarray, xs: np.ndarray, h: int, w: int) -> np.ndarray:
    y = ys.astype(np.float32) / max(h - 1, 1) - 0.5
    x = xs.astype(np.float32) / max(w - 1, 1) - 0.5
    return np.stack([np.ones_like(x), x, y, x * x, y * y, x * y], axis=1)


def fit_backdrop(lab: np.ndarray, band_frac: float) -> tuple[np.ndarray, float, float]:
    """Fit the backdrop: returns ``(model (H, W, 3), noise, inlier_fraction)``.

    ``noise`` is a robust spread of the border's Delta-E around the model; the inlier
    fraction says how much of the border looks like backdrop (low: all-product frame).
    """
    h, w = lab.shape[:2]
    band = max(int(round(band_frac * max(h, w))), 2)
    ys, xs = _border_samples(h, w, band)
    if ys.size > 20000:  # thin out for speed; the surface has six coefficients
        step = ys.size // 20000 + 1
        ys, xs = ys[::step], xs[::step]
    A = _design(ys, xs, h, w)
    vals = lab[ys, xs]
    sides = (ys < band, ys >= h - band, xs < band, xs >= w - band)
    # Start from the border's median colour (robust to half of it being product), then
    # refit constant -> plane -> quadratic on the samples that agree with the last model.
    # The quadratic needs backdrop on all four sides; where the product covers most of a
    # side, a quadratic would extrapolate wildly into the frame, so a plane it stays.
    pred = np.broadcast_to(np.median(vals, axis=0), vals.shape)
    coef = np.zeros((6, 3), np.float32)
    keep = np.ones(len(ys), bool)
    for n_terms, loose in ((1, 14.0), (3, 8.0), (6, None)):
        resid = np.linalg.norm(vals - pred, axis=1)
        if n_terms == 6 and min(float(keep[s].mean()) for s in sides) < 0.3:
            n_terms = 3
        if loose is None:
            core = resid[resid <= np.quantile(resid, 0.5)]
            spread = float(np.median(core) + 1.4826 * np.median(np.abs(core - np.median(core))))
            keep = resid <= max(4.0 * spread, 2.0)
        else:
            keep = resid <= loose
        if keep.sum() < 12:
            keep = resid <= np.quantile(resid, 0.5)
        c, *_ = np.linalg.lstsq(A[keep, :n_terms], vals[keep], rcond=None)
        coef = np.zeros((6, 3), np.float32)
        coef[:n_terms] = c
        pred = A @ coef
    resid = np.linalg.norm(vals - pred, axis=1)
    core = resid[keep]
    noise = float(np.median(core) + 1.4826 * np.median(np.abs(core - np.median(core))))
    inliers = float((resid <= max(3.0 * noise, 3.0)).mean())
    return surface(coef, h, w), max(noise, 0.3), inliers


def surface(coef: np.ndarray, h: int, w: int) -> np.ndarray:
    """The quadratic backdrop ``coef`` ``(6, 3)`` (terms as ``_design``) over an ``(h, w)``
    frame, float32 ``(h, w, 3)``: summed from its row and column parts, not through a
    per-pixel design matrix (that cost 4 ms of a 5 ms fit at 512 px)."""
    coef = coef.astype(np.float32)
    y = (np.arange(h, dtype=np.float32) / max(h - 1, 1) - 0.5)[:, None]
    x = (np.arange(w, dtype=np.float32) / max(w - 1, 1) - 0.5)[:, None]
    rows = coef[0] + y * coef[2] + y * y * coef[4]  # (h, 3)
    cols = x * coef[1] + x * x * coef[3]  # (w, 3)
    out = rows[:, None, :] + cols[None, :, :]
    if coef[5].any():
        out += (y * x.T)[..., None] * coef[5]
    return out


def _edges(L: np.ndarray, cfg: EdgeConfig, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Edge map and gradient magnitude of L* (0-100). Returns (bool edges, magnitude)."""
    Ls = cv2.GaussianBlur(L, (0, 0), 0.8)
    gx = cv2.Sobel(Ls, cv2.CV_32F, 1, 0, ksize=3) * 0.125
    gy = cv2.Sobel(Ls, cv2.CV_32F, 0, 1, ksize=3) * 0.125
    mag = cv2.magnitude(gx, gy)
    thr = max(cfg.edge_min, cfg.edge_k * noise)
    if cfg.edge_operator == "sobel":
        return mag > thr, mag
    # Canny on an 8-bit L* (x2.55); its Sobel is 8x ours, hence the factor.
    L8 = np.clip(Ls * 2.55, 0, 255).astype(np.uint8)
    lo = thr * 2.55 * 8
    edges = cv2.Canny(L8, lo, 2 * lo, L2gradient=True)
    return edges > 0, mag


def _row_span(core: np.ndarray) -> np.ndarray:
    """Pixels between the leftmost and rightmost ``core`` pixel of their row."""
    w = core.shape[1]
    has = core.any(axis=1)
    first = np.where(has, core.argmax(axis=1), w)
    last = np.where(has, w - 1 - core[:, ::-1].argmax(axis=1), -1)
    xs = np.arange(w)[None, :]
    return (xs >= first[:, None]) & (xs <= last[:, None])


class EdgeSegmenter:
    """Classical segmentation for catalogue photos (see the module docstring)."""

    name = "edge"

    def __init__(self, cfg: EdgeConfig | None = None) -> None:
        self.cfg = cfg or EdgeConfig()

    def segment(self, image: np.ndarray) -> Mask:
        rgb, cutout = cutout_first(image, self.name)
        if cutout is not None:
            return cutout
        H, W = rgb.shape[:2]
        fg, conf, flags, ctx = self._segment_small(rgb)
        if FLAG_EMPTY in flags:
            return Mask(np.zeros((H, W), np.float32), conf, self.name, tuple(flags))
        if FLAG_FULL in flags and fg.mean() > 0.98:
            return Mask(np.ones((H, W), np.float32), conf, self.name, tuple(flags))
        alpha_full = self._to_full(fg, rgb, ctx)
        return Mask(alpha_full, conf, self.name, tuple(flags))

    # -- working-size analysis ---------------------------------------------------------
    def _segment_small(self, rgb: np.ndarray):
        cfg = self.cfg
        h, w = working_size(*rgb.shape[:2], cfg.working_size)
        small = (
            rgb
            if (h, w) == rgb.shape[:2]
            else cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        )
        lab = to_lab(small)
        model, noise, inliers = fit_backdrop(lab, cfg.border_band)
        d = lab - model
        dist = np.sqrt((d * d).sum(axis=2))
        chroma = np.sqrt(d[..., 1] ** 2 + d[..., 2] ** 2)
        thr = max(cfg.delta_min, cfg.noise_k * noise)
        thr_c = max(cfg.chroma_min, cfg.noise_k * noise)
        flags: list[str] = []

        if is_uniform(lab) and float(dist.max()) < 4 * thr:
            flags += [FLAG_UNIFORM, FLAG_EMPTY]
            return np.zeros((h, w), bool), 0.0, flags, None
        if noise > cfg.max_backdrop_noise:
            # The border is not a backdrop (texture or product all round): the frame is
            # probably all product. Say so instead of guessing an outline.
            flags += [FLAG_FULL, FLAG_LOW_CONFIDENCE]
            return np.ones((h, w), bool), 0.0, flags, None

        edges, mag = _edges(lab[..., 0], cfg, noise)
        differs = (np.abs(d[..., 0]) > thr) | (chroma > thr_c)
        shadow_like = (
            differs
            & cast_shadow(lab, model, cfg.shadow_max_darkening, cfg.shadow_chroma)
            & (mag < max(cfg.edge_min, cfg.edge_k * noise))
        )
        shows = Backdrop(lab, model, noise)
        strong = (differs & ~shadow_like) | edges
        core = cv2.morphologyEx(strong.astype(np.uint8), cv2.MORPH_CLOSE, disk(cfg.close_px)) > 0
        core = keep_components(self._holes(core, shows)[0], cfg.min_component, cfg.keep_ratio)
        seeds = strong
        if core.any() and shadow_like.any():
            # Neutral darkening inside the product's own rows, above its base, is the
            # product's shading (a white product's shaded side), not its cast shadow, which
            # lies on the floor at the base.
            rows = np.nonzero(core.any(axis=1))[0]
            top, base = rows[0], rows[-1]
            above = np.arange(h)[:, None] < base - cfg.base_zone * (base - top + 1)
            seeds = strong | (shadow_like & _row_span(core) & above)
        fg = cv2.morphologyEx(seeds.astype(np.uint8), cv2.MORPH_CLOSE, disk(cfg.close_px)) > 0
        fg = self._holes(fg, shows)[0]
        if cfg.open_px > 0:
            fg = cv2.morphologyEx(fg.astype(np.uint8), cv2.MORPH_OPEN, disk(cfg.open_px)) > 0
        fg = keep_components(fg, cfg.min_component, cfg.keep_ratio)

        if cfg.grabcut and fg.any() and not fg.all():
            fg = self._grabcut(small, fg)

        fg, fg_mean, bg_mean = self._snap(fg, lab, dist, thr, shadow_like)
        fg, kept_holes = self._holes(fg, shows)

        coverage = float(fg.mean())
        if coverage < 1e-4:
            flags.append(FLAG_EMPTY)
        elif coverage > 0.98 or inliers < 0.25:
            flags.append(FLAG_FULL)
        inside = dist[fg]
        contrast = float(np.median(inside)) / thr if inside.size else 0.0
        conf = float(np.clip((contrast - 0.5) / 2.5, 0, 1) * np.clip(inliers / 0.6, 0, 1))
        if conf < 0.3 and FLAG_EMPTY not in flags:
            flags.append(FLAG_LOW_CONFIDENCE)
        return fg, conf, flags, (thr, fg_mean, bg_mean, kept_holes)

    def _snap(self, fg, lab, dist, thr, shadow_like):
        """Re-decide the outline band (``snap_px`` each side) by the local product and
        backdrop colours; returns the mask and those colour maps (None when not snapped)."""
        cfg = self.cfg
        if not (cfg.snap_px > 0 and fg.any() and not fg.all()):
            return fg, None, None
        fg_mean, bg_mean = local_means(lab, fg, radius=3 * cfg.snap_px)
        u8 = fg.astype(np.uint8)
        band = (cv2.dilate(u8, disk(cfg.snap_px)) > 0) & ~(cv2.erode(u8, disk(cfg.snap_px)) > 0)
        by, bx = np.nonzero(band)
        cur = fg[by, bx]
        new = snap(lab[by, bx], fg_mean[by, bx], bg_mean[by, bx], cur, min_sep=2.0 * thr)
        # A pixel far from the backdrop model stays product whatever its neighbours are
        # (a white sole under a dark upper is still shoe).
        new |= cur & (dist[by, bx] > max(8.0 * thr, 20.0)) & ~shadow_like[by, bx]
        fg = fg.copy()
        fg[by, bx] = new
        return keep_components(fg, cfg.min_component, cfg.keep_ratio), fg_mean, bg_mean

    def _holes(self, fg: np.ndarray, shows: Backdrop) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.cfg
        out, kept = settle_holes(fg, shows, cfg.hole_backdrop_fraction, cfg.min_hole)
        if shows.noise > cfg.clean_noise or cfg.clean_min_hole >= cfg.min_hole:
            return out, kept
        # on a clean backdrop smaller holes too, where their inside is the backdrop to
        # the noise; the rest of them are filled, as the hole rule fills them
        wide, kept_wide = settle_holes(fg, shows, cfg.hole_backdrop_fraction, cfg.clean_min_hole)
        extra = kept_wide & ~kept
        if not extra.any():
            return out, kept
        n, labels = cv2.connectedComponents(extra.astype(np.uint8), connectivity=8)
        dist = np.linalg.norm(shows.lab - shows.model, axis=-1)
        inner = cv2.dilate(fg.astype(np.uint8), disk(2)) == 0
        follows = np.zeros(n, bool)
        for i in range(1, n):
            region = labels == i
            judged = region & inner if (region & inner).sum() >= 8 else region
            d = dist[judged]
            follows[i] = bool(
                np.median(d) <= cfg.clean_follow and (d <= 1.0).mean() >= cfg.clean_follow_share
            )
        opened = follows[labels] & extra
        return wide | (extra & ~opened), kept | opened

    def _grabcut(self, small: np.ndarray, fg: np.ndarray) -> np.ndarray:
        u8 = fg.astype(np.uint8)
        sure_fg = cv2.erode(u8, disk(3)) > 0
        sure_bg = cv2.dilate(u8, disk(6)) == 0
        gc = np.full(fg.shape, cv2.GC_PR_BGD, np.uint8)
        gc[fg] = cv2.GC_PR_FGD
        gc[sure_fg] = cv2.GC_FGD
        gc[sure_bg] = cv2.GC_BGD
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.grabCut(
            cv2.cvtColor(small, cv2.COLOR_RGB2BGR),
            gc,
            None,
            bgd,
            fgd,
            self.cfg.grabcut_iters,
            cv2.GC_INIT_WITH_MASK,
        )
        return (gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)

    # -- back to full size -------------------------------------------------------------
    def _to_full(self, small_mask: np.ndarray, rgb: np.ndarray, ctx) -> np.ndarray:
        thr, fg_mean, bg_mean, kept = ctx if ctx is not None else (0.0, None, None, None)
        return upsample_refined(
            small_mask,
            rgb,
            fg_mean,
            bg_mean,
            2.0 * thr,
            self.cfg.feather_px,
            kept,
            smooth=self.cfg.smooth_outline,
        )
