"""Few-shot training streams: catalogue crops (with product masks) and style crops.

A handful of style references becomes an endless stream of random crops at several scales
with flips and a small, colour-safe exposure jitter (no hue changes: the palette is part of
the look). Each stream owns its ``numpy.random.Generator`` so its position can be saved in
a checkpoint and restored exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ContentItem:
    rgb: np.ndarray  # (H, W, 3) uint8
    mask: np.ndarray  # (H, W) float32 in [0, 1], 1 = product

    def __post_init__(self) -> None:
        # Masks from files or segmenters can be off by an ulp; weights made from them
        # (1 - mask) must never go negative.
        object.__setattr__(self, "mask", np.clip(np.asarray(self.mask, dtype=np.float32), 0.0, 1.0))


def _to_net(rgb: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> float32 (3, H, W) in [-1, 1]."""
    return (rgb.astype(np.float32).transpose(2, 0, 1) / 127.5) - 1.0


def _crop_at_scale(
    img: np.ndarray,
    crop: int,
    scale: float,
    rng: np.random.Generator,
    extra: np.ndarray | None = None,
):
    """Resize ``img`` (and ``extra``) by ``scale`` (at least to cover ``crop``), then cut a
    random ``crop`` x ``crop`` window."""
    h, w = img.shape[:2]
    s = max(scale, crop / min(h, w))
    nh, nw = max(int(round(h * s)), crop), max(int(round(w * s)), crop)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    img = cv2.resize(img, (nw, nh), interpolation=interp)
    if extra is not None:
        extra = cv2.resize(extra, (nw, nh), interpolation=cv2.INTER_LINEAR)
    y0 = int(rng.integers(0, nh - crop + 1))
    x0 = int(rng.integers(0, nw - crop + 1))
    img = img[y0 : y0 + crop, x0 : x0 + crop]
    if extra is not None:
        extra = extra[y0 : y0 + crop, x0 : x0 + crop]
    if rng.random() < 0.5:
        img = img[:, ::-1]
        extra = extra[:, ::-1] if extra is not None else None
    return np.ascontiguousarray(img), (np.ascontiguousarray(extra) if extra is not None else None)


class ContentStream:
    """Batches of catalogue crops: ``(x (B,3,c,c) in [-1,1], mask (B,1,c,c))``. Photos are
    shown whole-ish (scale so the crop covers 40-100% of the short side), so crops hold
    product, edge and backdrop in catalogue proportions."""

    def __init__(self, items: list[ContentItem], crop: int, seed: int) -> None:
        if not items:
            raise ValueError("ContentStream: no content images")
        self.items, self.crop = items, crop
        self.rng = np.random.default_rng(seed)

    def next(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        xs, ms = [], []
        for _ in range(batch):
            it = self.items[int(self.rng.integers(0, len(self.items)))]
            short = min(it.rgb.shape[:2])
            scale = self.crop / (short * self.rng.uniform(0.4, 1.0))
            img, m = _crop_at_scale(it.rgb, self.crop, scale, self.rng, it.mask)
            xs.append(_to_net(img))
            ms.append(np.clip(m[None], 0.0, 1.0).astype(np.float32))
        return np.stack(xs), np.stack(ms)

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state


class StyleStream:
    """Batches of style crops with their style index: ``(y (B,3,c,c), ids (B,))``. Crops
    are taken at 0.35-1.0 of the reference's scale (scale jitter), flipped, and given a
    +-5% exposure jitter."""

    def __init__(self, refs: list[tuple[int, np.ndarray]], crop: int, seed: int) -> None:
        if not refs:
            raise ValueError("StyleStream: no style references")
        self.refs, self.crop = refs, crop
        self.rng = np.random.default_rng(seed)
        self.n_styles = 1 + max(i for i, _ in refs)

    def next(self, batch: int, style_ids: np.ndarray | None = None):
        ys, ids = [], []
        for k in range(batch):
            if style_ids is not None:
                pool = [r for r in self.refs if r[0] == int(style_ids[k])]
            else:
                pool = self.refs
            sid, img = pool[int(self.rng.integers(0, len(pool)))]
            crop, _ = _crop_at_scale(img, self.crop, self.rng.uniform(0.35, 1.0), self.rng)
            y = _to_net(crop) * self.rng.uniform(0.95, 1.05)
            ys.append(np.clip(y, -1, 1))
            ids.append(sid)
        return np.stack(ys).astype(np.float32), np.asarray(ids, np.int64)

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state
