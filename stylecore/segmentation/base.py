"""The segmentation interface shared by every segmenter.

``segment(image) -> Mask``: ``image`` is ``(H, W)`` gray, ``(H, W, 3)`` RGB or
``(H, W, 4)`` RGBA uint8. The returned ``Mask.alpha`` is ``(H, W)`` float32 in [0, 1]
(1 = product), feathered at the edge; ``Mask.binary`` thresholds it at 0.5.

Segmentation never raises on a strange but valid image: a blank, uniform or all-product
photo gives an empty or full mask with a flag that the quality gate reads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import cv2
import numpy as np

# Flags a segmenter may set; the quality gate decides what to do with them.
FLAG_EMPTY = "empty"  # no product found
FLAG_FULL = "full"  # the product covers (nearly) the whole frame
FLAG_UNIFORM = "uniform"  # the image has (nearly) no contrast at all
FLAG_FROM_ALPHA = "from_alpha"  # the image's own alpha channel was used
FLAG_LOW_CONFIDENCE = "low_confidence"  # weak contrast between product and background


@dataclass(frozen=True)
class Mask:
    alpha: np.ndarray  # (H, W) float32 in [0, 1]
    confidence: float  # in [0, 1]: how clearly product and background separate
    method: str
    flags: tuple[str, ...] = field(default_factory=tuple)
    # Integrity signals (``stylecore.segmentation.integrity``) when the segmenter computed
    # them (the ``auto`` segmenter does); the gate reuses them instead of recomputing.
    signals: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Resizing, blurring and refining in float can overshoot by an ulp (1.0000001);
        # everything downstream (1 - alpha as a weight, sqrt of it) needs [0, 1] exactly.
        a = np.asarray(self.alpha, dtype=np.float32)
        if a.size and (float(a.min()) < 0.0 or float(a.max()) > 1.0):
            a = np.clip(a, 0.0, 1.0)
        object.__setattr__(self, "alpha", a)

    @property
    def coverage(self) -> float:
        """Fraction of the frame that is product (alpha >= 0.5)."""
        return float((self.alpha >= 0.5).mean()) if self.alpha.size else 0.0

    @property
    def binary(self) -> np.ndarray:
        """``(H, W)`` uint8 in {0, 255}."""
        return np.where(self.alpha >= 0.5, 255, 0).astype(np.uint8)

    @property
    def usable(self) -> bool:
        return not ({FLAG_EMPTY, FLAG_FULL, FLAG_UNIFORM} & set(self.flags))


class Segmenter(Protocol):
    name: str

    def segment(self, image: np.ndarray) -> Mask: ...


def as_rgb(image: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Split an input into ``(RGB uint8, alpha or None)``; gray becomes RGB."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise TypeError("segment: expected a uint8 numpy array (H, W[, 1|3|4])")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB), None
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"segment: unsupported image shape {image.shape}")
    if image.shape[2] == 1:
        return cv2.cvtColor(image[..., 0], cv2.COLOR_GRAY2RGB), None
    if image.shape[2] == 4:
        return np.ascontiguousarray(image[..., :3]), image[..., 3]
    return image, None


def alpha_mask(alpha: np.ndarray, method: str) -> Mask | None:
    """Use a real alpha channel as the mask; ``None`` when it carries no cut-out
    (fully opaque, as many PNGs are)."""
    if int(alpha.min()) >= 250:
        return None
    a = alpha.astype(np.float32) / 255.0
    flags = [FLAG_FROM_ALPHA]
    cov = float((a >= 0.5).mean())
    if cov < 1e-4:
        flags.append(FLAG_EMPTY)
    elif cov > 0.98:
        flags.append(FLAG_FULL)
    return Mask(alpha=a, confidence=1.0, method=method, flags=tuple(flags))


def cutout_first(image: np.ndarray, method: str) -> tuple[np.ndarray, Mask | None]:
    """``(RGB, mask)``: the image's own alpha as the mask when it is a real cut-out, else
    ``None`` (the segmenter has to find the product)."""
    rgb, alpha = as_rgb(image)
    return rgb, (alpha_mask(alpha, method) if alpha is not None else None)


def working_size(h: int, w: int, long_side: int) -> tuple[int, int]:
    """``(h, w)`` scaled so the long side is at most ``long_side`` (never upscaled)."""
    s = min(1.0, long_side / max(h, w))
    return max(int(round(h * s)), 1), max(int(round(w * s)), 1)


def feather(binary: np.ndarray, width: float) -> np.ndarray:
    """Soft alpha from a {0,1} mask: a Gaussian edge about ``width`` pixels wide, with the
    0.5 level on the original outline. Returns float32 in [0, 1]."""
    m = binary.astype(np.float32)
    if width <= 0:
        return m
    return np.clip(cv2.GaussianBlur(m, (0, 0), width / 2.0), 0.0, 1.0)
