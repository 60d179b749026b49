"""``restyle_image``: one photo, its mask and a style model in; the restyled photo, the
mask used and timings out. Pure (no files, no URIs).

Two ways to make the new background (``TransferConfig.background``):

- ``synth`` (default, ``region: background`` only): quilted from the look's own
  references at the photo's full resolution (``stylecore.transfer.synthesis``), seeded by
  look and image id, then lit like the source backdrop (its sweep, vignette and contact
  shadow: ``backdrop_light``). Optionally (``harmonise``) the GAN restyles the composite
  and its output is blended into a band around the product: colour cast and light wrap.
- ``gan``: the generator at each configured scale (long side; 0 means the photo's own
  size), merged with a Laplacian pyramid. ``region: product|all`` always use this path.

Then optionally keep the original colours (luminance-only transfer), and composite by
region (the original product over the new background by default, its outline pixels
kept and the transition laid over old backdrop pixels).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np
import torch

from stylecore.models.style_model import StyleModel, stylize
from stylecore.segmentation.base import working_size
from stylecore.segmentation.edges import fit_backdrop
from stylecore.segmentation.refine import to_lab
from stylecore.transfer.composite import (
    CompositeConfig,
    backdrop_light,
    composite,
    luma,
    preserve_colour,
    shadow_multiplier,
)
from stylecore.transfer.multiscale import merge_scales
from stylecore.transfer.synthesis import SynthConfig, seed_for, synthesize_background
from stylecore.transfer.tiling import tiled_generate


@dataclass(frozen=True)
class TransferConfig:
    style: str = ""  # style id; "" = the model's first style
    background: Literal["synth", "gan"] = "synth"  # how region "background" is made
    synth: SynthConfig = field(default_factory=SynthConfig)
    harmonise: bool = False  # synth only: GAN colour cast / light wrap near the product
    harmonise_band: float = 0.04  # its reach, as a fraction of the long side
    harmonise_strength: float = 0.5  # its weight at the product's outline
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
        if not (0 < self.harmonise_band <= 0.5 and 0 <= self.harmonise_strength <= 1):
            raise ValueError(
                f"harmonise_band={self.harmonise_band}, harmonise_strength="
                f"{self.harmonise_strength}: need 0 < band <= 0.5 and 0 <= strength <= 1"
            )

    @property
    def synthesises(self) -> bool:
        """Whether the background comes from the references (not the generator)."""
        return self.background == "synth" and self.composite.region == "background"


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
    s = _style_arg(model, cfg, style)
    if cfg.synthesises and not isinstance(s, torch.Tensor):
        return _restyle_synth(image, mask, model, cfg, image_id, s)
    t = {}
    t0 = time.perf_counter()
    H, W = image.shape[:2]
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


def _restyle_synth(
    image: np.ndarray,
    mask: np.ndarray,
    model: StyleModel,
    cfg: TransferConfig,
    image_id: str,
    look: str,
) -> Result:
    """The default background path: synthesis from the look's references, the source
    backdrop's light, optional GAN harmonisation, compositing."""
    refs = model.references.get(look)
    if not refs:
        model.check_look(look)
        raise ValueError(
            f"style {look!r} in model {model.version} has no stored references to build a "
            "background from: register them (restyle add-style --no-train) or use "
            "background: gan"
        )
    H, W = image.shape[:2]
    t = {}
    t0 = time.perf_counter()
    dev = next(model.generator.parameters()).device
    bg = synthesize_background(refs, (H, W), seed_for(look, image_id), cfg.synth, dev)
    t["synthesise"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    light = None
    if cfg.composite.keep_shadow:
        c = cfg.composite
        light = backdrop_light(image, mask, c.shadow_floor, c.light_sweep, gain=c.light_gain)
    if cfg.preserve_colour:
        bg = preserve_colour(image, bg)
    final = composite(image, bg, mask, cfg.composite, light)
    t["composite"] = time.perf_counter() - t1
    if cfg.harmonise:
        t2 = time.perf_counter()
        final = harmonise(final, mask, model, look, cfg, image_id)
        t["harmonise"] = time.perf_counter() - t2
    return Result(image=final, styled=bg, mask=mask.astype(np.float32), timings=t)


def harmonise(
    composed: np.ndarray,
    mask: np.ndarray,
    model: StyleModel,
    look: str,
    cfg: TransferConfig,
    image_id: str = "",
) -> np.ndarray:
    """GAN harmonisation of a composite: the generator restyles the whole composite at its
    smallest configured scale, and its output is blended into the background side of a
    band around the product (weight ``harmonise_strength`` at the outline, falling off
    over ``harmonise_band`` x the long side): the look's colour cast and light wrap where
    product and new background meet. Pixels the segmenter calls product (alpha >= 0.5)
    are not touched."""
    H, W = composed.shape[:2]
    h, w = working_size(H, W, min(s for s in cfg.scales if s) if any(cfg.scales) else 512)
    small = cv2.resize(composed, (w, h), interpolation=cv2.INTER_AREA)
    m_small = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    gan = stylize(model, small, look, alpha=cfg.alpha, noise_key=f"{image_id}@harm", mask=m_small)
    gan = cv2.resize(gan, (W, H), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    product = (mask >= 0.5).astype(np.uint8)
    dist = cv2.distanceTransform(1 - product, cv2.DIST_L2, 3)
    reach = cfg.harmonise_band * max(H, W)
    wgt = cfg.harmonise_strength * np.exp(-dist / max(reach / 2.0, 1.0))
    wgt[product > 0] = 0.0
    wgt[dist > 2 * reach] = 0.0
    wgt = wgt[..., None].astype(np.float32)
    out = composed.astype(np.float32) * (1 - wgt) + gan * wgt
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
