"""How far a restyled background has moved toward the style references, on three
independent measures, each as the fraction of the way from the input to the references
(0 = unchanged, 1 = as close as the references are to themselves, < 0 = moved away):

- **colour**: Lab mean and covariance (``style_metrics.lab_stats_distance``);
- **texture**: the radially averaged luminance power spectrum. It is split into *level*
  (the mean log power: how much contrast there is) and *shape* (the log spectrum with its
  mean removed: at which scales the contrast sits, e.g. strokes vs grain vs noise). The
  texture score is the smaller of the two fractions, so a texture must get both right:
  colour-matched white noise has the right level but a flat shape and scores near 0;
- the ImageNet **judge** (``stylecore.quality.judge``), combined with these two in
  ``stylecore.quality.style_eval.StyleTarget``.

Everything is measured at one scale, ``MEASURE_SIDE`` pixels on the long side, for the
photo and the references alike: frequencies are in cycles per pixel, so a reference
measured at another size would shift its whole spectrum. The spectrum is a Welch average
of Hann-windowed ``PATCH`` x ``PATCH`` patches that lie wholly in the background (the mask
is dilated first, so the product's outline adds no power).

``calibration_images`` builds the two sanity checks of the measure itself: the background
replaced by the reference (should score near 1) and by colour-matched white noise (must
not score like the reference).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

MEASURE_SIDE = 256
PATCH = 64
N_BINS = 10
POWER_FLOOR = 1e-6  # about the power of 8-bit quantisation noise in L/100 units


def resize_long(img: np.ndarray, side: int = MEASURE_SIDE) -> np.ndarray:
    h, w = img.shape[:2]
    s = side / max(h, w)
    if abs(s - 1) < 1e-6:
        return img
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """Lab L / 100 in [0, 1], float32."""
    lab = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return lab[..., 0] / 100.0


def background_windows(
    background: np.ndarray | None, shape: tuple[int, int], patch: int = PATCH, margin: int = 3
) -> list[tuple[int, int]]:
    """Top-left corners of ``patch``-sized windows (stride ``patch // 4``) that lie wholly
    in the background, ``background`` (H, W) in [0, 1] (None: the whole image), after the
    product has been dilated by ``margin`` px."""
    h, w = shape
    if h < patch or w < patch:
        return []
    if background is None:
        ok = np.ones((h, w), np.uint8)
    else:
        prod = (background < 0.5).astype(np.uint8)
        if margin:
            prod = cv2.dilate(prod, np.ones((2 * margin + 1,) * 2, np.uint8))
        ok = 1 - prod
    integral = cv2.integral(ok)
    stride = max(1, patch // 4)
    out = []
    for y in range(0, h - patch + 1, stride):
        for x in range(0, w - patch + 1, stride):
            s = (
                integral[y + patch, x + patch]
                - integral[y, x + patch]
                - integral[y + patch, x]
                + integral[y, x]
            )
            if s == patch * patch:
                out.append((y, x))
    return out


def _bins(patch: int, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    fy = np.fft.fftfreq(patch)[:, None]
    fx = np.fft.rfftfreq(patch)[None, :]
    r = np.sqrt(fy**2 + fx**2)
    edges = np.geomspace(1.0 / patch, 0.5, n_bins + 1)
    return np.digitize(r, edges) - 1, edges


@dataclass(frozen=True)
class Spectrum:
    """Log10 power per log-spaced radial frequency bin; ``n`` patches averaged."""

    log_power: np.ndarray
    n: int

    @property
    def level(self) -> float:
        return float(self.log_power.mean())

    @property
    def shape(self) -> np.ndarray:
        return self.log_power - self.log_power.mean()


def power_spectrum(
    images: Sequence[np.ndarray],
    backgrounds: Sequence[np.ndarray | None] | None = None,
    patch: int = PATCH,
    n_bins: int = N_BINS,
) -> Spectrum | None:
    """Welch-averaged radial luminance spectrum over the background windows of ``images``
    (uint8 RGB, already at the measuring scale). None if no window fits."""
    backgrounds = backgrounds if backgrounds is not None else [None] * len(images)
    window = np.outer(np.hanning(patch), np.hanning(patch)).astype(np.float32)
    norm = float((window**2).sum())
    acc = np.zeros((patch, patch // 2 + 1), np.float64)
    n = 0
    for img, bg in zip(images, backgrounds, strict=True):
        lum = luminance(img)
        for y, x in background_windows(bg, lum.shape, patch):
            p = lum[y : y + patch, x : x + patch]
            p = (p - p.mean()) * window
            acc += np.abs(np.fft.rfft2(p)) ** 2 / norm
            n += 1
    if n == 0:
        return None
    acc /= n
    idx, _ = _bins(patch, n_bins)
    power = np.array([acc[idx == k].mean() for k in range(n_bins)])
    return Spectrum(np.log10(power + POWER_FLOOR), n)


def spectrum_distances(a: Spectrum, b: Spectrum) -> tuple[float, float]:
    """``(level, shape)`` distances in decades: the absolute difference of mean log power,
    and the RMS difference of the mean-removed log spectra."""
    return abs(a.level - b.level), float(np.sqrt(np.mean((a.shape - b.shape) ** 2)))


def fraction(d_in: float, d_out: float) -> float:
    """The fraction of the way from the input to the target: 1 - d_out / d_in."""
    return float(1.0 - d_out / d_in) if d_in > 1e-9 else float("nan")


def calibration_images(
    rgb: np.ndarray, mask: np.ndarray, ref: np.ndarray, seed: int = 0
) -> dict[str, np.ndarray]:
    """The photo with its background replaced by (a) the reference, resized to cover the
    photo (``pasted``), (b) white noise drawn from the reference's Lab mean and covariance
    (``noise``): same colours, no structure, and (c) the reference's mean colour
    (``tint``): the palette's average, no texture at all. The product is kept."""
    h, w = rgb.shape[:2]
    rh, rw = ref.shape[:2]
    s = max(h / rh, w / rw)
    big = cv2.resize(
        ref, (max(w, round(rw * s)), max(h, round(rh * s))), interpolation=cv2.INTER_AREA
    )
    y0, x0 = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    pasted_bg = big[y0 : y0 + h, x0 : x0 + w]
    lab = cv2.cvtColor(ref.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    rng = np.random.default_rng(seed)
    noise_lab = rng.multivariate_normal(lab.mean(0), np.cov(lab.T), size=h * w)
    noise_lab[:, 0] = np.clip(noise_lab[:, 0], 0, 100)
    noise_rgb = cv2.cvtColor(noise_lab.reshape(h, w, 3).astype(np.float32), cv2.COLOR_Lab2RGB)
    noise_bg = np.clip(noise_rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
    tint = np.clip(ref.reshape(-1, 3).mean(0) + 0.5, 0, 255).astype(np.uint8)
    m = (mask.astype(np.float32) >= 0.5)[..., None]
    return {
        "pasted": np.where(m, rgb, pasted_bg).astype(np.uint8),
        "noise": np.where(m, rgb, noise_bg).astype(np.uint8),
        "tint": np.where(m, rgb, tint).astype(np.uint8),
    }
