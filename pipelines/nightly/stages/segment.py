"""Segment: the product matte of each decoded photo, then publish safety.

A photo that is not a studio shot, or whose mask the integrity signals doubt
(``stylecore.segmentation.integrity.screen``), is finished here as ``rejected`` with reason
``not_a_studio_shot`` or ``segmentation_doubtful``: it is not restyled around a guessed
mask, and the writer keeps the photo and its mask for review, never publishing them."""

from __future__ import annotations

import json

import numpy as np

from pipelines.models import load_segmenter
from pipelines.nightly.rows import RowStage, encode_reasons
from pipelines.nightly.runconfig import RunContext
from pipelines.nightly.stages.torch_setup import setup_torch
from stylecore.segmentation.integrity import screen


def _json_scores(scores: dict[str, float]) -> str:
    return json.dumps(
        {k: (float(v) if np.isfinite(v) else None) for k, v in scores.items()}, sort_keys=True
    )


class SegmentStage(RowStage):
    name = "segment"

    def __init__(self, ctx: RunContext):
        setup_torch(ctx)
        self.cfg = ctx.segmenter.integrity
        self.seg = load_segmenter(ctx.segmenter, ctx.segmenter_model or None, device=ctx.device)

    def process(self, row: dict) -> None:
        mask = self.seg.segment(row["pixels"])
        row["alpha"] = mask.alpha.astype(np.float32)
        row["mask_coverage"] = float(mask.coverage)
        row["mask_confidence"] = float(mask.confidence)
        row["mask_flags"] = ",".join(mask.flags)
        verdict = screen(row["pixels"], mask, self.cfg)
        row["scores_json"] = _json_scores(verdict.scores)
        if not verdict.ok:
            row["mask_flags"] = ",".join([*mask.flags, verdict.reason])
            row["passed"] = False
            row["status"] = "rejected"
            row["reasons"] = encode_reasons([f"{verdict.reason}: " + "; ".join(verdict.details)])
            row["output"] = np.ascontiguousarray(row["pixels"][..., :3])  # the photo, unstyled
