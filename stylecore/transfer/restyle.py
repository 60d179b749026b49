"""``restyle_image``: one photo, its mask and a style model in; the restyled photo, the
mask used and timings out. Pure (no files, no URIs).

Steps: run the generator at each configured scale (long side; 0 means the photo's own
size) and merge the passes with a Laplacian pyramid; optionally keep the original colours
(luminance-only transfer); then composite by region (the original product over the new
background by default, with the contact shadow carried over and the edge decontaminated).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np
import torch

from stylecore.models.style_model import StyleModel, stylize
from stylecore.segmentation.base import working_size
from stylecore.segmentation.edges import fit_backdrop
from stylecore.segmentation.refine import to_lab
from stylecore.transfer.composite import (
    CompositeConfig,
    composite,
    luma,
    preserve_colour,
    shadow_multiplier,
)
from stylecore.transfer.multiscale import merge_scales
from stylecore.transfer.tiling import tiled_generate


@dataclass(frozen=True)
class TransferConfig:
    style: str = ""  # style id; "" = the model's first style
    alpha: float = 1.0  # 0 = content path, 1 = fully stylised (feature-level mixing)
    scales: tuple[int, ...] = (256, 512)  # generator passes, long side in px (0 = full size)
    preserve_colour: bool = False
    tile: int = 1024  # passes larger than this run in overlapping tiles
    tile_overlap: int = 96
    composite: CompositeConfig = field(default_factory=CompositeConfig)

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha={self.alpha}: must be in [0, 1]")
        if self.tile < 64 or not 0 <= self.tile_overlap < self.tile // 2:
            raise ValueError(
                f"tile={self.tile}, tile_overlap={self.tile_overlap}: need tile "
                ">= 64 and 0 <= overlap < tile / 2"
            )
        if not self.scales or any(s < 0 or (0 < s < 16) for s in self.scales):
            raise ValueError(f"scales={self.scales}: long sides >= 16, or 0 for full size")


@dataclass
class Result:
    image: np.ndarray  # (H, W, 3) uint8, the published candidate
    styled: np.ndarray  # (H, W, 3) uint8, the generator's merged output before compositing
    mask: np.ndarray  # (H, W) float32, the product matte used
    timings: dict[str, float]


def _style_arg(model: StyleModel, cfg: TransferConfig, style: str | torch.Tensor | None):
    if style is not None:
        return style
    return cfg.style or model.style_ids[0]


def restyle_image(
    image: np.ndarray,
    mask: np.ndarray,
    model: StyleModel,
    cfg: TransferConfig = TransferConfig(),
    image_id: str = "",
    style: str | torch.Tensor | None = None,
) -> Result:
    """Restyle ``image`` ``(H, W, 3)`` uint8 with ``mask`` ``(H, W)`` float32 in [0, 1].

    ``style`` overrides ``cfg.style``; it may be a style id or an interpolated code from
    ``model.generator.interpolate_codes``. ``image_id`` seeds the generator noise.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(
            f"restyle_image: expected (H, W, 3) uint8, got {image.shape} {image.dtype}"
        )
    if mask.shape != image.shape[:2]:
        raise ValueError(f"restyle_image: mask {mask.shape} != image {image.shape[:2]}")
    t = {}
    t0 = time.perf_counter()
    H, W = image.shape[:2]
    s = _style_arg(model, cfg, style)
    passes = []
    sides = sorted(set(cfg.scales))
    # Passes are merged at the finest pass's size, then resized once to the photo's.
    fh, fw = (H, W) if 0 in sides else working_size(H, W, max(sides))
    for side in sides:
        h, w = (H, W) if side == 0 else working_size(H, W, side)
        small = (
            image if (h, w) == (H, W) else cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        )
        # Models that take the product mask (GeneratorConfig.mask_input) get it only when
        # the whole photo is published (region "all"). Otherwise the original fills the
        # product (or the backdrop) anyway, and the mask's boundary left a light halo just
        # outside the product in the published background.
        small_mask = None
        if cfg.composite.region == "all":
            small_mask = (
                mask if (h, w) == (H, W) else cv2.resize(mask, (w, h), interpolation=cv2.INTER_AREA)
            )
        key = f"{image_id}@{side}"
        if max(h, w) > cfg.tile:
            code = s if isinstance(s, torch.Tensor) else torch.tensor([model.style_index(s)])
            out = tiled_generate(
                model, small, code, cfg.alpha, key, cfg.tile, cfg.tile_overlap, mask=small_mask
            )
        else:
            out = stylize(model, small, s, alpha=cfg.alpha, noise_key=key, mask=small_mask)
        if (h, w) != (fh, fw):
            out = cv2.resize(out, (fw, fh), interpolation=cv2.INTER_CUBIC)
        passes.append((max(h, w), out))
    styled = np.clip(merge_scales(passes) + 0.5, 0, 255).astype(np.uint8)
    del passes
    if (fh, fw) != (H, W):
        styled = cv2.resize(styled, (W, H), interpolation=cv2.INTER_CUBIC)
    t["generate"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    if cfg.preserve_colour:
        styled = preserve_colour(image, styled)
    shadow = None
    if cfg.composite.keep_shadow and cfg.composite.region == "background":
        h, w = working_size(H, W, 256)
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        model_lab, _, _ = fit_backdrop(to_lab(small), 0.015)
        backdrop = luma(cv2.cvtColor(model_lab, cv2.COLOR_Lab2RGB) * 255.0)
        backdrop = cv2.resize(backdrop, (W, H), interpolation=cv2.INTER_LINEAR)
        shadow = shadow_multiplier(image, mask, backdrop, cfg.composite.shadow_floor)
    final = composite(image, styled, mask, cfg.composite, shadow)
    t["composite"] = time.perf_counter() - t1
    return Result(image=final, styled=styled, mask=mask.astype(np.float32), timings=t)
