"""Training samples for the U-Net: (photo, mask) pairs, or RGBA cut-outs, turned into an
endless stream of augmented, net-sized examples.

Every product is also re-composited onto fresh backdrops (flat white, light grey, colour,
studio gradient, paper texture, noise) with a synthetic contact shadow, so a few hundred
photos, or a retailer's folder of cut-out PNGs, become varied training data. Pure
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
        ["white", "grey", "tint", "gradient", "paper", "noise"], p=[0.3, 0.15, 0.1, 0.2, 0.15, 0.1]
    )
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
    if kind == "paper":
        n = fractal_noise((h, w), rng, base_cells=6, octaves=5)
        v = rng.uniform(0.85, 0.96) * (1 - rng.uniform(0.02, 0.08) * n)
        return np.dstack([v, v * 0.99, v * 0.96]).astype(np.float32)
    base = rng.uniform(0.5, 0.95, 3).astype(np.float32)
    n = fractal_noise((h, w), rng, base_cells=int(rng.integers(4, 30)), octaves=3) - 0.5
    return np.clip(base + rng.uniform(0.05, 0.3) * n[..., None], 0, 1).astype(np.float32)


def recomposite(ex: SegExample, rng: np.random.Generator) -> np.ndarray:
    """The product of ``ex`` over a new backdrop with a contact shadow. Returns uint8 RGB."""
    h, w = ex.alpha.shape
    bg = random_backdrop(h, w, rng)
    if rng.random() < 0.8:
        bg = bg * (1.0 - contact_shadow(ex.alpha, strength=rng.uniform(0.2, 0.6))[..., None])
    a = ex.alpha[..., None]
    fgc = ex.rgb.astype(np.float32) / 255.0
    out = fgc * a + bg * (1 - a)
    return np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)


def augment(
    ex: SegExample, rng: np.random.Generator, cfg: UNetConfig, crop: int, recomposite_p: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """One training example: ``(x (C, crop, crop) float32, y (1, crop, crop) float32)``.

    The whole photo is scaled to a jittered long side around the net's ``input_size`` and
    the input channels are computed on it (the backdrop fit sees the real border, as at
    inference), then a ``crop`` window is cut out.
    """
    rgb = ex.rgb if ex.has_backdrop and rng.random() >= recomposite_p else recomposite(ex, rng)
    alpha = ex.alpha
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
    x, _, _ = net_input(np.ascontiguousarray(rgb), cfg)
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
        xs, ys = zip(*(augment(examples[i], rng, cfg, crop) for i in idx), strict=True)
        yield np.stack(xs), np.stack(ys)
