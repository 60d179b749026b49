"""Training samples for the U-Net: (photo, mask) pairs, or RGBA cut-outs, turned into an
endless stream of augmented, net-sized examples.

Every product is also re-composited onto fresh backdrops (flat white, light grey, tint,
studio gradient, a light-grey vignette sweep, paper texture, noise, charcoal and black,
saturated paper) with the failures seen on real photos mixed in: white-on-white and black
products, surfaces from real photographs (prints, text, fur), glossy highlights, soft
contact shadows and long, near-black cast shadows, floor reflections, thin cables, a second
product, products cut by one or two sides of the frame. So a
few hundred photos, or a retailer's folder of cut-out PNGs, become varied training data. Pure
NumPy/OpenCV; seeded by the caller's ``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from stylecore.segmentation.base import as_rgb, working_size
from stylecore.segmentation.unet import UNetConfig, net_input
from stylecore.synth.noise import fractal_noise
from stylecore.synth.products import contact_shadow


@dataclass(frozen=True)
class SegExample:
    """One product at training scale: ``rgb`` (H, W, 3) uint8 and ``alpha`` (H, W) float32
    in [0, 1] (1 = product). ``has_backdrop`` is False for cut-outs (no original backdrop
    to keep)."""

    rgb: np.ndarray
    alpha: np.ndarray
    has_backdrop: bool


def prepare_example(image: np.ndarray, mask: np.ndarray | None, long_side: int) -> SegExample:
    """Scale a photo + mask (or an RGBA cut-out, ``mask=None``) to ``long_side``.

    The stored size is 1.25x the net's long side so scale jitter has room.
    """
    rgb, alpha = as_rgb(image)
    if mask is None:
        if alpha is None:
            raise ValueError("training image has no mask and no alpha channel")
        m = alpha.astype(np.float32) / 255.0
        has_backdrop = False
    else:
        if mask.shape[:2] != rgb.shape[:2]:
            raise ValueError(f"mask shape {mask.shape[:2]} != image shape {rgb.shape[:2]}")
        m = (mask >= 128).astype(np.float32) if mask.dtype == np.uint8 else mask.astype(np.float32)
        has_backdrop = True
    h, w = working_size(*rgb.shape[:2], int(long_side * 1.25))
    if (h, w) != rgb.shape[:2]:
        rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        m = cv2.resize(m, (w, h), interpolation=cv2.INTER_AREA)
    return SegExample(rgb=rgb, alpha=m, has_backdrop=has_backdrop)


def random_backdrop(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A random studio-like backdrop, ``(H, W, 3)`` float32 in [0, ~1.03]."""
    kind = rng.choice(
        ["white", "grey", "tint", "gradient", "vignette", "paper", "noise", "dark", "colour"],
        p=[0.21, 0.1, 0.06, 0.15, 0.15, 0.1, 0.07, 0.08, 0.08],
    )
    if kind == "dark":
        # charcoal and black sweeps (a tennis ball, a camera, a tripod on dark grey)
        v = rng.uniform(0.08, 0.45)
        base = v * rng.uniform(0.93, 1.0, 3).astype(np.float32)
        t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        return (base * (1 + rng.uniform(-0.25, 0.25) * (t - 0.5))).repeat(w, axis=1)
    if kind == "colour":
        # saturated studio paper: teal, purple, terracotta, pink
        hsv = np.uint8([[[rng.integers(0, 180), rng.integers(60, 200), rng.integers(90, 235)]]])
        c = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32) / 255.0
        t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        return np.clip(c * (1 + rng.uniform(-0.2, 0.2) * (t - 0.5)), 0, 1).repeat(w, axis=1)
    if kind == "white":
        return np.full((h, w, 3), rng.choice([1.03, rng.uniform(0.95, 1.0)]), np.float32)
    if kind == "grey":
        return np.full((h, w, 3), rng.uniform(0.6, 0.93), np.float32)
    if kind == "tint":
        c = rng.uniform(0.7, 1.0, 3).astype(np.float32)
        return np.broadcast_to(c, (h, w, 3)).copy()
    if kind == "gradient":
        a, b = rng.uniform(0.85, 1.0), rng.uniform(0.6, 0.9)
        t = np.linspace(0, 1, h, dtype=np.float32)[:, None]
        if rng.random() < 0.5:
            t = np.linspace(0, 1, w, dtype=np.float32)[None, :] * np.ones((h, 1), np.float32)
        g = a + (b - a) * t
        return np.broadcast_to(g[..., None], (h, w, 3)) * rng.uniform(0.95, 1.0, 3).astype(
            np.float32
        )
    if kind == "vignette":
        # a light-grey sweep lit from the front: brightest off-centre, darker to the
        # corners (the real light-grey gradient backdrops the U-Net got wrong)
        cy, cx = rng.uniform(0.2, 0.6) * h, rng.uniform(0.3, 0.7) * w
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r = np.sqrt(((yy - cy) / h) ** 2 + ((xx - cx) / w) ** 2)
        top = rng.uniform(0.88, 1.0)
        g = top - rng.uniform(0.1, 0.35) * np.clip(r / 0.8, 0, 1) ** rng.uniform(1.2, 2.5)
        return g[..., None] * rng.uniform(0.97, 1.0, 3).astype(np.float32)
    if kind == "paper":
        n = fractal_noise((h, w), rng, base_cells=6, octaves=5)
        v = rng.uniform(0.85, 0.96) * (1 - rng.uniform(0.02, 0.08) * n)
        return np.dstack([v, v * 0.99, v * 0.96]).astype(np.float32)
    base = rng.uniform(0.5, 0.95, 3).astype(np.float32)
    n = fractal_noise((h, w), rng, base_cells=int(rng.integers(4, 30)), octaves=3) - 0.5
    return np.clip(base + rng.uniform(0.05, 0.3) * n[..., None], 0, 1).astype(np.float32)


def _hard_shadow(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A sharp cast shadow: the product's silhouette offset and slightly blurred (a
    strobe from the side), as a darkening factor in [0, 1)."""
    h, w = alpha.shape
    # A low strobe throws a long shadow: the silhouette squashed toward the floor and
    # sheared along it, from its base. The real tennis ball's runs to the frame's edge,
    # nearly black (darkened by 0.85).
    rows = np.nonzero(alpha.max(axis=1) > 0.5)[0]
    base = float(rows[-1]) if rows.size else h / 2
    squash = rng.uniform(0.15, 1.0)
    shear = rng.uniform(-3.0, 3.0) if rng.random() < 0.5 else rng.uniform(-0.3, 0.3)
    dx, dy = rng.uniform(-0.06, 0.06) * w, rng.uniform(0.0, 0.03) * h
    # y' = base + squash (y - base); x' = x + shear (base - y')
    m = np.float32(
        [[1, -shear * squash, dx + shear * squash * base], [0, squash, (1 - squash) * base + dy]]
    )
    s = cv2.warpAffine(alpha, m, (w, h), borderValue=0)
    s = cv2.GaussianBlur(s, (0, 0), rng.uniform(0.5, 3.0))
    return np.clip(s * rng.uniform(0.25, 0.85), 0, 0.9)


def _whiten(fg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A white (or near-white) version of the product: shading kept, colour mostly gone."""
    grey = fg.mean(axis=2, keepdims=True)
    shade = 0.78 + 0.22 * (grey - grey.min()) / max(float(np.ptp(grey)), 1e-3)
    tint = rng.uniform(0.96, 1.0, 3).astype(np.float32)
    k = rng.uniform(0.75, 0.95)
    return (k * shade * tint + (1 - k) * fg).astype(np.float32)


def _gloss(fg: np.ndarray, alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Specular highlights: one to three bright streaks inside the product."""
    h, w = alpha.shape
    ys, xs = np.nonzero(alpha > 0.9)
    if ys.size == 0:
        return fg
    spec = np.zeros((h, w), np.float32)
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(ys.size))
        axes = (max(1, int(rng.uniform(0.01, 0.06) * w)), max(1, int(rng.uniform(0.05, 0.2) * h)))
        cv2.ellipse(spec, (int(xs[i]), int(ys[i])), axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
    spec = cv2.GaussianBlur(spec, (0, 0), rng.uniform(1.0, 4.0)) * alpha
    return (fg + (1.02 - fg) * spec[..., None] * rng.uniform(0.6, 1.0)).astype(np.float32)


_SURFACES: list[np.ndarray] = []


def _real_surfaces() -> list[np.ndarray]:
    """Photographs that ship inside scikit-image (``skimage.data``), float32 RGB in [0, 1]:
    faces, fur, coffee, a rocket, stained tissue, a retina, grass, gravel and printed
    text. Not the two the sample looks are cut from (brick, the Hubble field). Empty
    when scikit-image is missing (it is a dev dependency)."""
    if not _SURFACES:
        try:
            from skimage import data
        except ImportError:
            return _SURFACES
        for name in (
            "astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry",
            "retina", "grass", "gravel", "text", "page", "camera",
        ):  # fmt: skip
            img = getattr(data, name)()
            if img.ndim == 2:
                img = np.repeat(img[..., None], 3, axis=2)
            _SURFACES.append(np.ascontiguousarray(img[..., :3]).astype(np.float32) / 255.0)
    return _SURFACES


def _real_surface(fg: np.ndarray, alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The product's surface replaced by a crop of a real photograph (a print, fur, a knit
    of grass), keeping the product's own shading. A synthetic product is flat-shaded; real
    ones carry prints, text and backdrop-coloured yarn."""
    surfaces = _real_surfaces()
    ys, xs = np.nonzero(alpha > 0.5)
    if not surfaces or ys.size == 0:
        return fg
    src = surfaces[int(rng.integers(len(surfaces)))]
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    bh, bw = int(y1 - y0), int(x1 - x0)
    sh, sw = src.shape[:2]
    k = rng.uniform(0.3, 1.0)  # crop size as a share of the photo
    ch, cw = max(8, int(sh * k)), max(8, int(sw * k))
    cy, cx = int(rng.integers(0, sh - ch + 1)), int(rng.integers(0, sw - cw + 1))
    tex = cv2.resize(src[cy : cy + ch, cx : cx + cw], (bw, bh), interpolation=cv2.INTER_AREA)
    grey = fg[y0:y1, x0:x1].mean(axis=2, keepdims=True)
    shade = grey / max(float(np.percentile(grey[alpha[y0:y1, x0:x1] > 0.5], 90)), 1e-3)
    out = fg.copy()
    mix = rng.uniform(0.6, 1.0)
    out[y0:y1, x0:x1] = (
        mix * np.clip(tex * np.clip(shade, 0.3, 1.1), 0, 1) + (1 - mix) * fg[y0:y1, x0:x1]
    )
    return out


def _darken(fg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A black or charcoal version of the product (a tripod, a camera body), shading kept."""
    return (fg * rng.uniform(0.12, 0.4)).astype(np.float32)


def _cable(rgb: np.ndarray, alpha: np.ndarray, rng: np.random.Generator) -> None:
    """A thin cable or strap from the product's outline out into the backdrop, drawn into
    ``rgb`` and ``alpha`` (product) in place."""
    h, w = alpha.shape
    edge = (alpha > 0.5) & ~(cv2.erode((alpha > 0.5).astype(np.uint8), np.ones((3, 3))) > 0)
    ys, xs = np.nonzero(edge)
    if ys.size == 0:
        return
    i = int(rng.integers(ys.size))
    pts = [(float(xs[i]), float(ys[i]))]
    ang = rng.uniform(0, 2 * np.pi)
    step = 0.03 * max(h, w)
    for _ in range(int(rng.integers(4, 12))):
        ang += rng.normal(0, 0.5)
        pts.append((pts[-1][0] + step * np.cos(ang), pts[-1][1] + step * np.sin(ang)))
    poly = np.round(np.array(pts)).astype(np.int32)[None]
    width = int(rng.integers(1, 4))
    colour = rng.choice([0.05, 0.95, float(rng.uniform(0.2, 0.8))])
    line = np.zeros((h, w), np.uint8)
    cv2.polylines(line, poly, False, 255, width, cv2.LINE_AA)
    a = line.astype(np.float32) / 255.0
    rgb[:] = rgb * (1 - a[..., None]) + colour * a[..., None]
    alpha[:] = np.maximum(alpha, a)


def _touch_frame(
    rgb: np.ndarray, alpha: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Crop so the product runs into one side of the frame (cut by 0-30% of its size);
    half the time into a second side too (a DSLR or a monitor cropped to its edges)."""
    rgb, alpha = _cut_side(rgb, alpha, int(rng.integers(4)), rng.uniform(0.0, 0.3))
    if rng.random() < 0.5:
        rgb, alpha = _cut_side(rgb, alpha, int(rng.integers(4)), rng.uniform(0.0, 0.2))
    return rgb, alpha


def _cut_side(
    rgb: np.ndarray, alpha: np.ndarray, side: int, cut: float
) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.nonzero(alpha > 0.5)
    if ys.size == 0:
        return rgb, alpha
    if side == 0:
        x0 = int(xs.min() + cut * (xs.max() - xs.min()))
        return rgb[:, x0:], alpha[:, x0:]
    if side == 1:
        x1 = int(xs.max() - cut * (xs.max() - xs.min())) + 1
        return rgb[:, :x1], alpha[:, :x1]
    if side == 2:
        y0 = int(ys.min() + cut * (ys.max() - ys.min()))
        return rgb[y0:], alpha[y0:]
    y1 = int(ys.max() - cut * (ys.max() - ys.min())) + 1
    return rgb[:y1], alpha[:y1]


def recomposite(
    ex: SegExample, rng: np.random.Generator, partner: SegExample | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The product of ``ex`` over a new backdrop, with the catalogue's hard cases mixed in:
    white-on-white, glossy highlights, soft contact and hard cast shadows, a mirror
    reflection on the floor (background), thin cables, a second product (``partner``)
    and a product running into the frame. Returns ``(uint8 RGB, alpha)``."""
    h, w = ex.alpha.shape
    alpha = ex.alpha.astype(np.float32).copy()
    fg = ex.rgb.astype(np.float32) / 255.0
    if rng.random() < 0.2:
        fg = _real_surface(fg, alpha, rng)
    white = rng.random() < 0.2
    if white:
        fg = _whiten(fg, rng)
    elif rng.random() < 0.1:
        fg = _darken(fg, rng)
    if rng.random() < 0.25:
        fg = _gloss(fg, alpha, rng)
    if partner is not None and rng.random() < 0.15:
        # a second, smaller product beside the first
        s = rng.uniform(0.35, 0.6)
        pw, ph = max(2, int(partner.alpha.shape[1] * s)), max(2, int(partner.alpha.shape[0] * s))
        if ph < h and pw < w:
            y0, x0 = int(rng.integers(0, h - ph)), int(rng.integers(0, w - pw))
            pa = cv2.resize(partner.alpha, (pw, ph), interpolation=cv2.INTER_AREA)
            prgb = cv2.resize(partner.rgb, (pw, ph), interpolation=cv2.INTER_AREA) / 255.0
            region = (slice(y0, y0 + ph), slice(x0, x0 + pw))
            on_top = pa[..., None]
            fg[region] = prgb * on_top + fg[region] * (1 - on_top)
            alpha[region] = np.maximum(alpha[region], pa)
    bg = random_backdrop(h, w, rng)
    if white and rng.random() < 0.7:
        bg = np.full((h, w, 3), rng.choice([1.03, rng.uniform(0.95, 1.0)]), np.float32)
    if rng.random() < 0.2:
        # a mirror reflection on a glossy floor: background, faded
        ys = np.nonzero(alpha.max(axis=1) > 0.5)[0]
        if ys.size:
            base = int(ys.max())
            refl_a = alpha[::-1].copy() * rng.uniform(0.1, 0.35)
            refl_rgb = fg[::-1]
            shift = base - (h - 1 - base)
            m = np.float32([[1, 0, 0], [0, 1, shift]])
            ra = cv2.warpAffine(refl_a, m, (w, h))
            rr = cv2.warpAffine(refl_rgb, m, (w, h))
            ra[: base + 1] = 0
            bg = bg * (1 - ra[..., None]) + rr * ra[..., None]
    if rng.random() < 0.8:
        bg = bg * (1.0 - contact_shadow(alpha, strength=rng.uniform(0.2, 0.6))[..., None])
    if rng.random() < 0.3:
        bg = bg * (1.0 - _hard_shadow(alpha, rng)[..., None])
    a = alpha[..., None]
    out = fg * a + bg * (1 - a)
    if rng.random() < 0.2:
        _cable(out, alpha, rng)
    out = np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        out, alpha = _touch_frame(out, alpha, rng)
    return np.ascontiguousarray(out), np.ascontiguousarray(alpha)


def augment(
    ex: SegExample,
    rng: np.random.Generator,
    cfg: UNetConfig,
    crop: int,
    recomposite_p: float = 0.5,
    partner: SegExample | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One training example: ``(x (C, crop, crop) float32, y (1, crop, crop) float32)``.

    The whole photo is scaled to a jittered long side around the net's ``input_size`` and
    the input channels are computed on it (the backdrop fit sees the real border, as at
    inference), then a ``crop`` window is cut out.
    """
    if ex.has_backdrop and rng.random() >= recomposite_p:
        rgb, alpha = ex.rgb, ex.alpha
    else:
        rgb, alpha = recomposite(ex, rng, partner)
    if rng.random() < 0.5:
        rgb, alpha = rgb[:, ::-1], alpha[:, ::-1]
    long_side = int(cfg.input_size * rng.uniform(0.8, 1.2))
    h, w = working_size(*rgb.shape[:2], long_side)
    rgb = cv2.resize(np.ascontiguousarray(rgb), (w, h), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(np.ascontiguousarray(alpha), (w, h), interpolation=cv2.INTER_AREA)
    # Photometric jitter: exposure, contrast, white balance, noise, JPEG.
    f = rgb.astype(np.float32) / 255.0
    f = (f - 0.5) * rng.uniform(0.85, 1.15) + 0.5 + rng.uniform(-0.06, 0.06)
    f = f * rng.uniform(0.95, 1.05, 3).astype(np.float32)
    f = f + rng.normal(0, rng.uniform(0, 0.012), f.shape).astype(np.float32)
    rgb = np.clip(f * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        q = int(rng.integers(55, 95))
        _, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, q])
        rgb = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1]
    x, *_ = net_input(np.ascontiguousarray(rgb), cfg)
    y = (alpha >= 0.5).astype(np.float32)[None]
    # Crop (pad first when the photo is smaller than the crop).
    ph, pw = max(crop - h, 0), max(crop - w, 0)
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, ph), (0, pw)), mode="edge")
        y = np.pad(y, ((0, 0), (0, ph), (0, pw)), mode="edge")
    H, W = x.shape[1:]
    y0 = int(rng.integers(0, H - crop + 1))
    x0 = int(rng.integers(0, W - crop + 1))
    return (
        np.ascontiguousarray(x[:, y0 : y0 + crop, x0 : x0 + crop]),
        np.ascontiguousarray(y[:, y0 : y0 + crop, x0 : x0 + crop]),
    )


def batches(
    examples: list[SegExample],
    cfg: UNetConfig,
    batch_size: int,
    crop: int,
    rng: np.random.Generator,
):
    """Endless iterator of ``(x (B, C, crop, crop), y (B, 1, crop, crop))`` float32 arrays."""
    if not examples:
        raise ValueError("no training examples")
    while True:
        idx = rng.integers(0, len(examples), batch_size)
        partners = rng.integers(0, len(examples), batch_size)
        xs, ys = zip(
            *(
                augment(examples[i], rng, cfg, crop, partner=examples[j])
                for i, j in zip(idx, partners, strict=True)
            ),
            strict=True,
        )
        yield np.stack(xs), np.stack(ys)
