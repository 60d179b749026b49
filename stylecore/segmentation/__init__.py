"""Product / background segmentation: one interface, two methods.

``EdgeSegmenter`` (classical, no weights) and ``UNetSegmenter`` (learned) both implement
``segment(image) -> Mask``. ``make_segmenter`` picks one from a ``SegmenterConfig``.
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
from stylecore.segmentation.edges import EdgeConfig, EdgeSegmenter
from stylecore.segmentation.metrics import boundary_f, iou

Method = Literal["edge", "unet"]


@dataclass(frozen=True)
class SegmenterConfig:
    method: Method = "edge"
    edge: EdgeConfig = field(default_factory=EdgeConfig)


def make_segmenter(
    cfg: SegmenterConfig, unet_files: dict[str, bytes] | None = None, device: str = "cpu"
) -> Segmenter:
    """Build the configured segmenter; the U-Net needs its model files (see
    ``UNetSegmenter.to_files``)."""
    if cfg.method == "edge":
        return EdgeSegmenter(cfg.edge)
    if unet_files is None:
        raise ValueError("method 'unet' needs a trained model (model.safetensors + model.json)")
    from stylecore.segmentation.unet import UNetSegmenter

    return UNetSegmenter.from_files(unet_files, device=device)


__all__ = [
    "FLAG_EMPTY",
    "FLAG_FROM_ALPHA",
    "FLAG_FULL",
    "FLAG_LOW_CONFIDENCE",
    "FLAG_UNIFORM",
    "EdgeConfig",
    "EdgeSegmenter",
    "Mask",
    "Segmenter",
    "SegmenterConfig",
    "boundary_f",
    "iou",
    "make_segmenter",
]
