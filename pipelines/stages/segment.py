"""Segment: the product matte of each decoded photo (the U-Net or edge segmenter)."""

from __future__ import annotations

import numpy as np

from pipelines.models import load_segmenter
from pipelines.rows import RowStage
from pipelines.runconfig import RunContext
from pipelines.stages.torch_setup import setup_torch


class SegmentStage(RowStage):
    name = "segment"

    def __init__(self, ctx: RunContext):
        setup_torch(ctx)
        self.seg = load_segmenter(ctx.segmenter, ctx.segmenter_model or None, device=ctx.device)

    def process(self, row: dict) -> None:
        mask = self.seg.segment(row["pixels"])
        row["alpha"] = mask.alpha.astype(np.float32)
        row["mask_coverage"] = float(mask.coverage)
        row["mask_confidence"] = float(mask.confidence)
        row["mask_flags"] = ",".join(mask.flags)
