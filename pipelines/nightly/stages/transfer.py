"""Transfer: restyle each photo with its style's model (multi-scale, tiled when large,
composited by region). Takes a GPU per actor where the cluster has GPUs (bf16 autocast)."""

from __future__ import annotations

import torch

from pipelines.models import load_style_model
from pipelines.nightly.rows import RowStage, worker_identity
from pipelines.nightly.runconfig import RunContext
from pipelines.nightly.stages.torch_setup import autocast, setup_torch
from stylecore.transfer.restyle import restyle_image


class TransferStage(RowStage):
    name = "transfer"

    def __init__(self, ctx: RunContext):
        setup_torch(ctx)
        self.ctx = ctx
        self.node_id, self.worker_id = worker_identity()
        self.models = {}
        for s in ctx.styles.values():  # each model folder loads once per actor
            if s.model_uri not in self.models:
                self.models[s.model_uri] = load_style_model(s.model_uri, device=ctx.device)

    def process(self, row: dict) -> None:
        style = self.ctx.styles[row["style_id"]]
        model = self.models[style.model_uri]
        rgb = row["pixels"][..., :3]
        with torch.inference_mode(), autocast(self.ctx):
            res = restyle_image(rgb, row["alpha"], model, style.transfer, image_id=row["image_id"])
        row["output"] = res.image
        # Where the expensive work ran (the decode task may have run elsewhere).
        row["node_id"], row["worker_id"] = self.node_id, self.worker_id
