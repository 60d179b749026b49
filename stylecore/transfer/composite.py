"""Region compositing of a restyled photo with its original.

Images are ``(H, W, 3)`` uint8 RGB; ``alpha`` is the product matte, ``(H, W)`` float32 in
[0, 1]. Three regions:

- ``background`` (the catalogue default): the original product over the restyled
  background. Where the (eroded) matte is 1 the output pixels are the input's, exactly.
- ``product``: the restyled product over the original background.
- ``all``: the restyled photo everywhere.

Two clean-ups for ``background``:

- **edge decontamination**: a soft-edge pixel of the original is ``a*F + (1-a)*B`` with B
  the old backdrop; B is estimated from nearby backdrop pixels and removed, so the old
  white backdrop does not leave a light fringe on the new background;
- **matte erosion** by ``erode_px`` trims the generator's edge response and the last
  fringe, at the cost of a pixel of product outline.

``shadow_multiplier`` measures how much the original backdrop is darkened (the contact
shadow) so that the new background can be darkened the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

Region = Literal["background", "product", "all"]


@dataclass(frozen=True)
class CompositeConfig:
    region: Region = "background"
    erode_px: float = 1.0  # shrink the product matte before compositing
    decontaminate: bool = True
    keep_shadow: bool = True
    shadow_floor: float = 0.35  # never darken the new background below this factor


def erode_matte(alpha: np.ndarray, px: float) -> np.ndarray:
    """Grey-level erosion of the matte by ``px`` pixels (0 leaves it unchanged)."""
    r = int(round(px))
    if r <= 0:
        return alpha.astype(np.float32)
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.erode(alpha.astype(np.float32), k, borderType=cv2.BORDER_REPLICATE)


def _local_backdrop(img: np.ndarray, alpha: np.ndarray, radius: int) -> np.ndarray:
    """Mean colour of nearby backdrop pixels (alpha == 0) around each pixel, float32."""
    w = (alpha <= 0.0).astype(np.float32)
    k = (2 * radius + 1, 2 * radius + 1)
    num = cv2.boxFilter(img.astype(np.float32) * w[..., None], -1, k)
    den = cv2.boxFilter(w, -1, k)[..., None]
    fallback = img[alpha <= 0].mean(axis=0) if (alpha <= 0).any() else np.full(3, 255.0)
    return np.where(den > 1e-3, num / np.maximum(den, 1e-3), fallback).astype(np.float32)


def decontaminate(img: np.ndarray, alpha: np.ndarray, radius: int = 6) -> np.ndarray:
    """Estimated pure product colour F in the soft edge: ``(I - (1-a) B) / a``, float32
    ``(H, W, 3)`` in [0, 255]; pixels with alpha 0 or 1 keep their values."""
    a = alpha[..., None].astype(np.float32)
    f = img.astype(np.float32)
    band = (alpha > 0.02) & (alpha < 1.0)
    if not band.any():
        return f
    b = _local_backdrop(img, alpha, radius)
    pure = np.clip((f - (1.0 - a) * b) / np.maximum(a, 0.02), 0, 255)
    return np.where(band[..., None], pure, f)


def shadow_multiplier(
    img: np.ndarray, alpha: np.ndarray, backdrop: np.ndarray, floor: float = 0.35
) -> np.ndarray:
    """Per-pixel darkening of the original backdrop relative to a shadow-free backdrop
    model (``backdrop``, float RGB): luminance ratio in [floor, 1], 1 on the product."""
    lum = lambda x: x[..., 0] * 0.299 + x[..., 1] * 0.587 + x[..., 2] * 0.114  # noqa: E731
    ratio = lum(img.astype(np.float32)) / np.maximum(lum(backdrop.astype(np.float32)), 1.0)
    ratio = np.clip(ratio, floor, 1.0)
    ratio = cv2.GaussianBlur(ratio, (0, 0), 1.0)
    return np.where(alpha >= 0.5, 1.0, ratio).astype(np.float32)


def composite(
    original: np.ndarray,
    styled: np.ndarray,
    alpha: np.ndarray,
    cfg: CompositeConfig = CompositeConfig(),
    shadow: np.ndarray | None = None,
) -> np.ndarray:
    """Combine ``original`` and ``styled`` by ``cfg.region`` (see the module docstring).
    ``shadow`` is an optional multiplier from ``shadow_multiplier``. Returns uint8 RGB."""
    if original.shape != styled.shape or original.shape[:2] != alpha.shape:
        raise ValueError(
            f"composite: shapes differ {original.shape}, {styled.shape}, {alpha.shape}"
        )
    if cfg.region == "all":
        return styled.copy()
    if cfg.region == "product":
        a = alpha.astype(np.float32)[..., None]
        out = styled.astype(np.float32) * a + original.astype(np.float32) * (1 - a)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)
    a2 = erode_matte(alpha, cfg.erode_px)
    bg = styled.astype(np.float32)
    if cfg.keep_shadow and shadow is not None:
        bg = bg * shadow[..., None]
    fg = decontaminate(original, a2) if cfg.decontaminate else original.astype(np.float32)
    a = a2[..., None]
    out = np.clip(fg * a + bg * (1 - a) + 0.5, 0, 255).astype(np.uint8)
    solid = a2 >= 1.0
    out[solid] = original[solid]  # exact product pixels, not a float round trip
    return out


def preserve_colour(original: np.ndarray, styled: np.ndarray) -> np.ndarray:
    """Luminance-only transfer: the styled image's L* with the original's a* b* (as the
    colour-preservation options of Gatys et al. and AdaIN do). uint8 RGB."""
    lo = cv2.cvtColor(original.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    ls = cv2.cvtColor(styled.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    mixed = np.dstack([ls[..., 0], lo[..., 1], lo[..., 2]])
    rgb = cv2.cvtColor(mixed, cv2.COLOR_Lab2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
