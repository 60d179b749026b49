"""Check: the quality gate on each restyled photo; sets the verdict (ok or rejected)."""

from __future__ import annotations

import json
import math

from pipelines.models import load_style_model
from pipelines.nightly.rows import RowStage, encode_reasons, flag_list
from pipelines.nightly.runconfig import RunContext
from pipelines.nightly.stages.torch_setup import setup_torch
from stylecore.quality.gate import assess


class CheckStage(RowStage):
    name = "check"

    def __init__(self, ctx: RunContext):
        setup_torch(ctx.with_device("cpu", ctx.torch_threads))
        self.ctx = ctx
        self.stats = {}
        models = {}
        for name, s in ctx.styles.items():
            if s.model_uri not in models:
                models[s.model_uri] = load_style_model(s.model_uri)
            self.stats[name] = models[s.model_uri].stats.get(s.transfer.style)

    def process(self, row: dict) -> None:
        style = self.ctx.styles[row["style_id"]]
        rgb = row["pixels"][..., :3]
        rep = assess(
            rgb,
            row["output"],
            row["alpha"],
            self.stats[row["style_id"]],
            style.transfer.composite.region,
            style.quality,
        )
        reasons = list(rep.reasons)
        flags = flag_list(row["mask_flags"])
        usable = not ({"empty", "full", "uniform"} & set(flags))
        if not usable:
            reasons.insert(0, f"segmentation flags: {', '.join(flags)}")
        row["passed"] = bool(rep.passed and usable)
        row["reasons"] = encode_reasons(reasons)
        scores = {**json.loads(row["scores_json"] or "{}")}  # the segment stage's signals
        scores.update({k: (float(v) if math.isfinite(v) else None) for k, v in rep.scores.items()})
        row["scores_json"] = json.dumps(scores, sort_keys=True)
        row["status"] = "ok" if row["passed"] else "rejected"
