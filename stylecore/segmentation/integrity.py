"""Is this product mask safe to publish? Is this photo a studio shot at all?

Two pure checks on a photo and its product mask, both at a working size:

**Mask integrity** (``mask_integrity``). A correct outline separates two different colours
almost everywhere; a broken mask has stretches of outline that run through one colour. A
hole or a bite runs through the product, and a strip of backdrop kept as product runs
through the backdrop. A broken mask also leaves product-coloured pixels outside it, where a
hole, a bite or a dropped strap was. The signals:

- ``outline_gap``: the longest connected stretch of outline whose two sides do not differ
  (local mean colour inside against outside, Delta-E below ``contrast_min``), divided by
  ``sqrt(product area)``. Stretches along the frame border do not count;
- ``outline_unsupported``: the fraction of the outline like that;
- ``missed_product``: pixels outside the mask but next to it that differ from the backdrop
  model, are not cast shadow (the backdrop darkened, its hue kept: neutral on white and
  grey, the paper's own hue on coloured paper) and form regions with an outline of their
  own (a region that fades into the backdrop is a badly fitted backdrop, e.g. a vignette),
  over the product area. A shadow-coloured region counts too when it reaches well away
  from the mask and a crisp edge bounds it there (a grey part of a product on white:
  a cast shadow's outer rim is soft);
- ``enclosed_product``: holes in the mask (regions it encloses) whose colour is not the
  backdrop's, over the product area (a real hole, like the inside of a mug handle, shows
  backdrop);
- ``kept_shadow``: the largest connected region the mask keeps that a second network,
  trained to call cast shadows backdrop (the U-Net, when U^2-Net leads ``auto``), calls
  backdrop, and that has the colour of the backdrop in shadow (darker by up to 80%, its
  hue kept), over the product area. U^2-Net keeps a hard cast shadow with a crisp rim as
  part of the object (an instamatic camera's shadow on white paper: 5.5% of the product);
  the other signals cannot see it, as its rim separates two colours. 0 when no second
  opinion is given;
- ``dark_outline``: on a black backdrop, the share of the outline where both sides are
  black too (a dark product's edge on black: the outline there is a guess; a laptop's
  hinge was notched and its dark sides drawn wavy);
- ``disagreement``: ``1 - IoU`` against a second segmenter's mask, when one is given
  (reported; it holds a photo back only when ``max_disagreement`` > 0).

**Studio shot** (``studio_shot``). A product photo has a backdrop along most of its frame:
a smooth surface (the edge segmenter's quadratic backdrop model) with little noise and few
edges. A scene (a model in a street, a cat on a sofa) has neither. The signals are the
border's fit noise, the fraction of the border the fit explains, and the edge density
along the border. Given the product's mask, a product may run off the frame: the border
it covers is left out, and the rest must fit more strictly.

Thresholds live in ``IntegrityConfig``; docs/segmentation.md "Publish safety" gives the measurements
that set them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stylecore.segmentation.base import as_rgb, working_size
from stylecore.segmentation.edges import fit_backdrop
from stylecore.segmentation.refine import cast_shadow, disk, local_means, to_lab

REASON_DOUBTFUL = "segmentation_doubtful"
REASON_NOT_STUDIO = "not_a_studio_shot"


@dataclass(frozen=True)
class IntegrityConfig:
    working_size: int = 384
    border_band: float = 0.015  # border band the backdrop model is fitted to (fraction)
    contrast_radius: int = 3  # window (working-size px) of the inside / outside means
    contrast_min: float = 1.2  # Delta-E below which an outline pixel separates nothing
    contrast_noise_k: float = 1.0  # ... or below this many times the backdrop noise
    differs_min: float = 3.0  # Delta-E from the backdrop model that counts as "product"
    differs_noise_k: float = 5.0  # ... or this many times the backdrop noise
    chroma_min: float = 7.0  # a chroma difference below this is not "product"
    shadow_max_darkening: float = 0.5  # darkening up to this fraction can be shadow ...
    shadow_min_chroma: float = 8.0  # ... and, on a backdrop with at least this chroma,
    shadow_hue_deg: float = 12.0  # ... within this hue angle of the backdrop
    # A shadow-coloured region is product after all (a grey laptop's palm rest on a white
    # desk) when it reaches this far from the mask (working-size px) and most of its far
    # rim is a crisp edge (L* gradient per px above ``crisp_edge``): a cast shadow's outer
    # rim is a soft penumbra, and a thin contact shadow stays close to the product.
    crisp_edge: float = 4.0
    crisp_share: float = 0.5
    crisp_min_depth_px: float = 10.0
    ring_px: int = 2  # band outside the outline that missed-product pixels skip
    missed_outline_min: float = 3.0  # a left-out region's own outline contrast (Delta-E)
    # Mask verdicts (docs/segmentation.md "Publish safety").
    max_outline_gap: float = 0.12
    max_outline_unsupported: float = 0.05
    max_missed_product: float = 0.01
    max_enclosed_product: float = 0.005
    # On the 30 real studio shots (Vendure) with U^2-Net leading: the instamatic's kept
    # shadow 0.055, every other photo 0.012 or less; the held-out catalogue 0.002 or less.
    max_kept_shadow: float = 0.03
    kept_shadow_darkening: float = 0.8
    # On a black backdrop (the model's median L* below ``dark_lightness``), the share of
    # the outline where both sides, 1-3 px in and out, are that dark too: there the outline
    # is a guess. A laptop on black: 12.5% (its hinge notched, its dark sides wavy, both
    # printed on every look); every other published Vendure shot 0, and no other backdrop
    # can score it.
    max_dark_outline: float = 0.05
    dark_lightness: float = 8.0
    # Hold back when the two segmenters disagree by more than this (1 - IoU); 0 = only
    # report it. Off by default: on the held-out sample catalogue every photo it held back
    # (4 of 96) had a correct U-Net mask (IoU >= 0.993) that the edge segmenter missed.
    max_disagreement: float = 0.0
    # The auto segmenter swaps a failing U-Net mask for a passing edge mask only when the
    # two disagree by at most this (1 - IoU). On the real shop photos, over three U-Net
    # models, every swap at 0.065 or more was wrong (0.065, 0.068, 0.080, 0.098, 0.099)
    # and those at 0.030-0.059 were right (docs/segmentation.md "The three segmenters").
    max_swap_disagreement: float = 0.05
    # A mask the U-Net-led ``auto`` doubts for its outline alone gets a second try led by U^2-Net
    # (``SegmenterConfig.retry``), kept when it passes with this margin (doubt <= this)
    # and differs from the first by at most ``max_swap_disagreement``. On the 30 real
    # studio shots the second tries that passed scored 0.30 and 0.71 (a succulent flat-lay,
    # a mouse: right) and 0.97 (a camera whose strap was cut off: wrong).
    max_retry_doubt: float = 0.9
    # Studio-shot verdict.
    backdrop_tolerance: float = 6.0  # Delta-E from the backdrop model that still fits
    max_border_noise: float = 4.0
    min_border_fit: float = 0.6
    max_border_edges: float = 0.15
    # With a mask: a product may run off the frame along up to this share of the border
    # (cropped at two edges, or filling the frame's width); the rest of the border must
    # then fit the backdrop this well (the whole border: min_border_fit)
    max_product_border: float = 0.6
    min_cropped_fit: float = 0.9

    def __post_init__(self) -> None:
        if self.working_size < 64:
            raise ValueError(f"working_size={self.working_size}: must be >= 64")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str  # "" when ok, else REASON_DOUBTFUL or REASON_NOT_STUDIO
    scores: dict[str, float]
    details: tuple[str, ...] = ()  # the signals that failed, with their values


_LIMITS = (
    ("outline_gap", "max_outline_gap"),
    ("outline_unsupported", "max_outline_unsupported"),
    ("missed_product", "max_missed_product"),
    ("enclosed_product", "max_enclosed_product"),
    ("kept_shadow", "max_kept_shadow"),
    ("dark_outline", "max_dark_outline"),
)


_MESSAGES = {
    "outline_gap": "outline runs {:.2f} x sqrt(area) through one colour (> {})",
    "outline_unsupported": "{:.0%} of the outline separates nothing (> {:.0%})",
    "missed_product": "product-coloured pixels left out: {:.1%} of the product (> {:.1%})",
    "enclosed_product": "product-coloured holes: {:.1%} of the product (> {:.1%})",
    "kept_shadow": "a cast shadow kept as product: {:.1%} of the product (> {:.1%})",
    "dark_outline": "{:.0%} of the outline is black on black (> {:.0%})",
    "disagreement": "the segmenters disagree: 1 - IoU {:.2f} (> {})",
}


def _failures(scores: dict[str, float], cfg: IntegrityConfig) -> tuple[str, ...]:
    limits = list(_LIMITS)
    if cfg.max_disagreement > 0:
        limits.append(("disagreement", "max_disagreement"))
    return tuple(
        _MESSAGES[k].format(scores[k], getattr(cfg, lim))
        for k, lim in limits
        if k in scores and scores[k] > getattr(cfg, lim)
    )


def doubt(scores: dict[str, float], cfg: IntegrityConfig) -> float:
    """The largest integrity signal over its limit (> 1: the mask fails that signal).
    Disagreement is left out: it says that one of two masks is wrong, not which."""
    return max((scores[k] / getattr(cfg, lim) for k, lim in _LIMITS if k in scores), default=0.0)


def _small(rgb: np.ndarray, long_side: int) -> np.ndarray:
    h, w = working_size(*rgb.shape[:2], long_side)
    if (h, w) == rgb.shape[:2]:
        return rgb
    return cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)


def _resize_mask(alpha: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    a = alpha.astype(np.float32)
    if a.max() > 1.0:
        a = a / 255.0
    if a.shape != shape:
        a = cv2.resize(a, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)
    return a >= 0.5


def _border_edge_density(
    L: np.ndarray, band: int, thr: float, skip: np.ndarray | None = None
) -> float:
    gx = cv2.Sobel(L, cv2.CV_32F, 1, 0, ksize=3) * 0.125
    gy = cv2.Sobel(L, cv2.CV_32F, 0, 1, ksize=3) * 0.125
    strong = cv2.magnitude(gx, gy) > thr
    m = np.zeros(L.shape, bool)
    m[:band] = m[-band:] = True
    m[:, :band] = m[:, -band:] = True
    # the outermost pixel row has one-sided gradients; skip it
    m[0] = m[-1] = False
    m[:, 0] = m[:, -1] = False
    if skip is not None:
        m &= ~skip
    return float(strong[m].mean()) if m.any() else 0.0


def studio_shot(
    image: np.ndarray, cfg: IntegrityConfig | None = None, alpha: np.ndarray | None = None
) -> Verdict:
    """Does ``image`` look like a product on a backdrop? (see the module docstring)

    With the product's mask ``alpha`` (at the image's size) a product may run off the
    frame: a camera cropped at two edges of a plain sweep is a studio shot. The border the
    mask covers (at most ``max_product_border`` of it) is then left out, and the rest must
    be backdrop more strictly (``min_cropped_fit`` instead of ``min_border_fit``): a scene
    whose clutter the mask happens to cover (the cameraman's tripod and grass) still
    fails there. Either reading passing is enough."""
    cfg = cfg or IntegrityConfig()
    rgb, _ = as_rgb(image)
    lab = to_lab(_small(rgb, cfg.working_size))
    model, noise, _ = fit_backdrop(lab, cfg.border_band)
    band = max(int(round(cfg.border_band * max(lab.shape[:2]))), 3)
    ring = np.zeros(lab.shape[:2], bool)
    ring[:band] = ring[-band:] = True
    ring[:, :band] = ring[:, -band:] = True
    fitting = np.linalg.norm(lab - model, axis=2) <= cfg.backdrop_tolerance
    L = cv2.GaussianBlur(lab[..., 0], (0, 0), 0.8)
    fits = float(fitting[ring].mean())
    edges = _border_edge_density(L, band, 4.0)
    scores = {"border_noise": noise, "border_fit": fits, "border_edges": edges}
    cropped_ok = False
    if alpha is not None:
        m = _resize_mask(alpha, lab.shape[:2])
        on_border = float((ring & m).sum()) / float(ring.sum())
        scores["border_product"] = on_border
        if 0.0 < on_border <= cfg.max_product_border:
            # the product's own outline next to the border is not clutter either
            product = cv2.dilate(m.astype(np.uint8), disk(2)) > 0
            rest = ring & ~product
            scores["border_fit_rest"] = float(fitting[rest].mean()) if rest.any() else 0.0
            scores["border_edges_rest"] = _border_edge_density(L, band, 4.0, product)
            cropped_ok = (
                scores["border_fit_rest"] >= cfg.min_cropped_fit
                and scores["border_edges_rest"] <= cfg.max_border_edges
            )
    details = []
    if noise > cfg.max_border_noise:
        details.append(f"border noise {noise:.1f} > {cfg.max_border_noise}")
    if fits < cfg.min_border_fit and not cropped_ok:
        details.append(
            f"a smooth backdrop fits {fits:.0%} of the border < {cfg.min_border_fit:.0%}"
            + _rest_note(scores, cfg)
        )
    if edges > cfg.max_border_edges and not cropped_ok:
        details.append(f"edges on {edges:.0%} of the border > {cfg.max_border_edges:.0%}")
    ok = not details
    return Verdict(ok, "" if ok else REASON_NOT_STUDIO, scores, tuple(details))


def _rest_note(scores: dict[str, float], cfg: IntegrityConfig) -> str:
    if "border_fit_rest" not in scores:
        return ""
    return (
        f" (and {scores['border_fit_rest']:.0%} of the border the product does not run off "
        f"< {cfg.min_cropped_fit:.0%})"
    )


def _outline_stats(lab: np.ndarray, m: np.ndarray, cfg: IntegrityConfig, noise: float):
    u8 = m.astype(np.uint8)
    edge = m & ~(cv2.erode(u8, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE) > 0)
    edge[[0, -1], :] = False  # the frame cuts the product there: no outline to check
    edge[:, [0, -1]] = False
    n = int(edge.sum())
    if n == 0:
        return 0.0, 0.0, edge
    fg, bg = local_means(lab, m, cfg.contrast_radius)
    ys, xs = np.nonzero(edge)
    # both sides measured one window away from the outline, where the feather is gone
    contrast = np.linalg.norm(fg[ys, xs] - bg[ys, xs], axis=1)
    tau = max(cfg.contrast_min, cfg.contrast_noise_k * noise)
    weak = np.zeros_like(m)
    weak[ys[contrast < tau], xs[contrast < tau]] = True
    k, _, stats, _ = cv2.connectedComponentsWithStats(weak.astype(np.uint8), 8)
    longest = float(stats[1:, cv2.CC_STAT_AREA].max()) if k > 1 else 0.0
    size = float(np.sqrt(max(m.sum(), 1)))
    return longest / size, float(weak.sum()) / n, weak


def _dark_outline(L: np.ndarray, m: np.ndarray, model: np.ndarray, dark: float) -> float:
    """The share of ``m``'s outline (frame border left out) whose two sides are both
    darker than ``dark`` L*: the mean over the 2 px band just inside and the 2 px band
    just outside, within 3 px. 0 unless the backdrop ``model`` is that dark (elsewhere a
    dark product's edge has a lighter side)."""
    if float(np.median(model[..., 0])) >= dark:
        return 0.0
    u8 = m.astype(np.uint8)
    g3, g7 = np.ones((3, 3), np.uint8), np.ones((7, 7), np.uint8)
    edge = m & ~(cv2.erode(u8, g3, borderType=cv2.BORDER_REPLICATE) > 0)
    edge[[0, -1], :] = False
    edge[:, [0, -1]] = False
    if not edge.any():
        return 0.0
    inner = (cv2.erode(u8, g3) > 0) & ~(cv2.erode(u8, g7) > 0)
    outer = (cv2.dilate(u8, g7) > 0) & ~(cv2.dilate(u8, g3) > 0)

    def mean_near(band: np.ndarray) -> np.ndarray:
        total = cv2.boxFilter(np.where(band, L, 0.0).astype(np.float32), -1, (7, 7))
        count = cv2.boxFilter(band.astype(np.float32), -1, (7, 7))
        return np.where(count > 0, total / np.maximum(count, 1e-6), np.inf)[edge]

    return float(((mean_near(inner) < dark) & (mean_near(outer) < dark)).mean())


def _has_outline(lab, comp: np.ndarray, m: np.ndarray, box, cfg: IntegrityConfig) -> bool:
    """Does a region left outside the mask have an outline of its own where it meets the
    backdrop (a strap, a bitten-off edge), rather than fading into it (a backdrop that
    the smooth model fits badly, such as a vignette)?"""
    r = 2 * cfg.contrast_radius + 2
    x, y, w, h = (int(v) for v in box[:4])
    y0, y1 = max(y - r, 0), min(y + h + r, lab.shape[0])
    x0, x1 = max(x - r, 0), min(x + w + r, lab.shape[1])
    c, mm, sub = comp[y0:y1, x0:x1], m[y0:y1, x0:x1], lab[y0:y1, x0:x1]
    u8 = c.astype(np.uint8)
    edge = c & ~(cv2.erode(u8, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_REPLICATE) > 0)
    edge &= ~(cv2.dilate(mm.astype(np.uint8), disk(cfg.ring_px + 1)) > 0)  # not the mask side
    if not edge.any():
        return True  # enclosed by the mask: a hole, no backdrop side to fade into
    fg, bg = local_means(sub, c | mm, cfg.contrast_radius)
    ys, xs = np.nonzero(edge)
    contrast = np.linalg.norm(fg[ys, xs] - bg[ys, xs], axis=1)
    return bool(np.median(contrast) >= cfg.missed_outline_min)


def _crisp_shadow_like(
    lab: np.ndarray,
    d: np.ndarray,
    thr: float,
    shadow: np.ndarray,
    m: np.ndarray,
    cfg: IntegrityConfig,
    known: np.ndarray | None,
) -> float:
    """Pixels outside the mask that the cast-shadow test took for backdrop but that are
    product left out: shadow-coloured regions touching the mask, reaching at least
    ``crisp_min_depth_px`` from it, whose rim away from the mask is mostly a crisp edge.
    Crisp pixels themselves split such regions from the soft shadow beside them. On a real
    desk shot the U-Net cut a grey laptop's palm rest off along the keyboard: neutral grey
    on a white desk passes as shadow, so ``missed_product`` saw nothing."""
    L = lab[..., 0]
    g = cv2.magnitude(
        cv2.Sobel(L, cv2.CV_32F, 1, 0, ksize=3) * 0.125,
        cv2.Sobel(L, cv2.CV_32F, 0, 1, ksize=3) * 0.125,
    )
    crisp = g > cfg.crisp_edge
    chroma = np.hypot(d[..., 1], d[..., 2])
    raw = (np.abs(d[..., 0]) > thr) | (chroma > max(cfg.chroma_min, thr))
    cand = raw & shadow & ~m & ~crisp
    if known is not None:
        cand &= ~known
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    cand = cv2.morphologyEx(cand.astype(np.uint8), cv2.MORPH_OPEN, cross) > 0
    if not cand.any():
        return 0.0
    u8 = m.astype(np.uint8)
    ring = (cv2.dilate(u8, disk(cfg.ring_px)) > 0) & ~m
    near = cv2.dilate(u8, disk(cfg.ring_px + 2)) > 0
    away = ~(cv2.dilate(u8, disk(cfg.ring_px + 2)) > 0)
    # crisp edges of the product's own outline do not count: those further out do
    rim_edges = crisp & ~(cv2.dilate(u8, disk(cfg.ring_px + 3)) > 0)
    crisp_near = cv2.dilate(rim_edges.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    depth = cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, 3)
    _, labels = cv2.connectedComponents(cand.astype(np.uint8), connectivity=8)
    missed = 0.0
    square = np.ones((3, 3), np.uint8)
    for i in np.unique(labels[cand & near]):
        if i == 0:
            continue
        comp = labels == i
        if depth[comp].max() < cfg.crisp_min_depth_px:
            continue
        rim = comp & ~(cv2.erode(comp.astype(np.uint8), square) > 0) & away
        if rim.sum() >= 8 and crisp_near[rim].mean() > cfg.crisp_share:
            missed += float((comp & ~ring).sum())
    return missed


def _kept_shadow(
    lab: np.ndarray,
    model: np.ndarray,
    noise: float,
    m: np.ndarray,
    opinion: np.ndarray,
    cfg: IntegrityConfig,
) -> float:
    """The largest connected region of ``m`` that ``opinion`` leaves out and that has the
    colour of the backdrop in shadow (``cast_shadow``, clearly darker than the backdrop
    model), over the area of ``m``."""
    darker = -(lab[..., 0] - model[..., 0]) > max(
        cfg.differs_min + 1.0, cfg.differs_noise_k * noise
    )
    region = m & ~opinion & darker & cast_shadow(lab, model, cfg.kept_shadow_darkening)
    region = cv2.morphologyEx(region.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(region, connectivity=8)
    if n <= 1:
        return 0.0
    return float(stats[1:, cv2.CC_STAT_AREA].max()) / max(float(m.sum()), 1.0)


def mask_integrity(
    image: np.ndarray,
    alpha: np.ndarray,
    cfg: IntegrityConfig | None = None,
    other: np.ndarray | None = None,
    backdrop: np.ndarray | None = None,
    shadow_opinion: np.ndarray | None = None,
) -> Verdict:
    """Signals that a product mask is broken (see the module docstring). ``alpha`` is the
    mask at the image's size (float in [0, 1], or uint8 0/255); ``other`` an optional second
    segmenter's mask for ``disagreement``; ``backdrop`` an optional bool map at the image's
    size of pixels already known to be backdrop (``shadows.paper_shadow``: coloured paper
    and its cast shadows), which never count as product left out; ``shadow_opinion`` an
    optional mask of a network trained to call cast shadows backdrop (``kept_shadow``)."""
    cfg = cfg or IntegrityConfig()
    rgb, _ = as_rgb(image)
    small = _small(rgb, cfg.working_size)
    lab = to_lab(small)
    m = _resize_mask(alpha, lab.shape[:2])
    area = float(m.sum())
    scores: dict[str, float] = {}
    if area < 16 or m.all():
        # empty or full: the segmenter's own flags and the coverage check handle these
        return Verdict(True, "", scores)
    model, noise, _ = fit_backdrop(lab, cfg.border_band)
    d = lab - model
    chroma = np.hypot(d[..., 1], d[..., 2])
    thr = max(cfg.differs_min, cfg.differs_noise_k * noise)
    shadow = cast_shadow(
        lab,
        model,
        cfg.shadow_max_darkening,
        min_chroma=cfg.shadow_min_chroma,
        hue_deg=cfg.shadow_hue_deg,
    )
    # like the edge segmenter: chroma needs a higher floor (JPEG bleeds it across blocks)
    differs = ((np.abs(d[..., 0]) > thr) | (chroma > max(cfg.chroma_min, thr))) & ~shadow
    backdrop_known = None
    if backdrop is not None:
        known = cv2.resize(backdrop.astype(np.uint8), lab.shape[1::-1], cv2.INTER_AREA)
        backdrop_known = known > 0
        differs &= ~backdrop_known

    gap, unsupported, _ = _outline_stats(lab, m, cfg, noise)
    scores["outline_gap"] = gap
    scores["outline_unsupported"] = unsupported
    scores["dark_outline"] = _dark_outline(lab[..., 0], m, model, cfg.dark_lightness)

    # product-coloured pixels outside the mask, in components that reach it; the first
    # ``ring_px`` outside the outline (anti-aliasing, feather, chroma bleed) do not count
    u8 = m.astype(np.uint8)
    ring = (cv2.dilate(u8, disk(cfg.ring_px)) > 0) & ~m
    outside = differs & ~m
    # JPEG bleeds chroma a few pixels past an edge in ragged one-pixel fringes: open them away
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    outside = cv2.morphologyEx(outside.astype(np.uint8), cv2.MORPH_OPEN, cross) > 0
    _, labels, stats, _ = cv2.connectedComponentsWithStats(outside.astype(np.uint8), 8)
    near = cv2.dilate(u8, disk(cfg.ring_px + 1)) > 0
    touching = np.unique(labels[outside & near])
    missed = 0.0
    for i in touching[touching > 0]:
        comp = (labels == i) & ~ring
        if comp.any() and _has_outline(lab, labels == i, m, stats[i], cfg):
            missed += float(comp.sum())
    missed += _crisp_shadow_like(lab, d, thr, shadow, m, cfg, backdrop_known)
    scores["missed_product"] = missed / area

    # regions the mask encloses that are not backdrop-coloured
    _, labels = cv2.connectedComponents((~m).astype(np.uint8), connectivity=4)
    border_ids = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    enclosed = (labels > 0) & ~np.isin(labels, border_ids)
    scores["enclosed_product"] = float((enclosed & differs & ~ring).sum()) / area

    scores["kept_shadow"] = (
        _kept_shadow(lab, model, noise, m, _resize_mask(shadow_opinion, m.shape), cfg)
        if shadow_opinion is not None
        else 0.0
    )

    if other is not None:
        o = _resize_mask(other, m.shape)
        union = float((m | o).sum())
        scores["disagreement"] = 1.0 - float((m & o).sum()) / union if union else 0.0

    details = _failures(scores, cfg)
    ok = not details
    return Verdict(ok, "" if ok else REASON_DOUBTFUL, scores, details)


def screen(image: np.ndarray, mask, cfg: IntegrityConfig | None = None) -> Verdict:
    """Publish safety of a photo and its product ``Mask``: a studio shot, then a mask
    without integrity failures. A real alpha channel (a cut-out) is trusted as it is. The
    verdict's scores hold the studio and mask signals (the mask's own ``signals`` when the
    segmenter computed them)."""
    cfg = cfg or IntegrityConfig()
    if "from_alpha" in mask.flags:
        return Verdict(True, "", {})
    studio = studio_shot(image, cfg, mask.alpha)
    if not studio.ok:
        return studio
    if mask.signals and all(k in mask.signals for k, _ in _LIMITS):
        scores = {k: float(v) for k, v in mask.signals.items()}
        details = _failures(scores, cfg)
        verdict = Verdict(not details, REASON_DOUBTFUL if details else "", scores, details)
    else:
        verdict = mask_integrity(image, mask.alpha, cfg)
    return Verdict(verdict.ok, verdict.reason, {**studio.scores, **verdict.scores}, verdict.details)
