"""Product / background segmentation: one interface, three methods.

``EdgeSegmenter`` (classical, no weights) and ``UNetSegmenter`` (learned) both implement
``segment(image) -> Mask``; ``AutoSegmenter`` (the default) runs both and keeps the mask
the integrity signals doubt less. ``make_segmenter`` builds one from a ``SegmenterConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from stylecore.segmentation.base import (
    FLAG_EMPTY,
    FLAG_FROM_ALPHA,
    FLAG_FULL,
    FLAG_LOW_CONFIDENCE,
    FLAG_UNIFORM,
    Mask,
    Segmenter,
)
from stylecore.segmentation.clean import CleanConfig
from stylecore.segmentation.defocus import DefocusConfig
from stylecore.segmentation.edges import EdgeConfig, EdgeSegmenter
from stylecore.segmentation.gaps import GapConfig
from stylecore.segmentation.integrity import IntegrityConfig
from stylecore.segmentation.metrics import boundary_f, iou
from stylecore.segmentation.spill import SpillConfig

Method = Literal["auto", "edge", "unet"]
METHODS: tuple[str, ...] = ("auto", "edge", "unet")


@dataclass(frozen=True)
class SegmenterConfig:
    method: Method = "auto"
    edge: EdgeConfig = field(default_factory=EdgeConfig)
    integrity: IntegrityConfig = field(default_factory=IntegrityConfig)
    defocus: DefocusConfig = field(default_factory=DefocusConfig)
    gaps: GapConfig = field(default_factory=GapConfig)
    spill: SpillConfig = field(default_factory=SpillConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)


def make_segmenter(
    cfg: SegmenterConfig, unet_files: dict[str, bytes] | None = None, device: str = "cpu"
) -> Segmenter:
    """Build the configured segmenter; the U-Net needs its model files (see
    ``UNetSegmenter.to_files``)."""
    if cfg.method == "edge":
        return EdgeSegmenter(cfg.edge)
    if unet_files is None:
        raise ValueError(
            f"method {cfg.method!r} needs a trained U-Net (model.safetensors + model.json)"
        )
    from stylecore.segmentation.unet import UNetSegmenter

    unet = UNetSegmenter.from_files(unet_files, device=device)
    if cfg.method == "unet":
        return unet
    from stylecore.segmentation.auto import AutoSegmenter

    return AutoSegmenter(
        unet,
        EdgeSegmenter(cfg.edge),
        cfg.integrity,
        cfg.defocus,
        cfg.gaps,
        cfg.spill,
        cfg.clean,
    )


__all__ = [
    "FLAG_EMPTY",
    "FLAG_FROM_ALPHA",
    "FLAG_FULL",
    "FLAG_LOW_CONFIDENCE",
    "FLAG_UNIFORM",
    "METHODS",
    "CleanConfig",
    "DefocusConfig",
    "EdgeConfig",
    "EdgeSegmenter",
    "GapConfig",
    "IntegrityConfig",
    "Mask",
    "Segmenter",
    "SegmenterConfig",
    "SpillConfig",
    "boundary_f",
    "iou",
    "make_segmenter",
]
