"""Segment, transfer, check and write in one actor, for CPU clusters and small machines:
no serialisation of images between stages and one set of models per process. The same
stage classes run, in order, on the same rows."""

from __future__ import annotations

import numpy as np

from pipelines.nightly.rows import batch_to_rows, rows_to_batch
from pipelines.nightly.runconfig import RunContext
from pipelines.nightly.stages.check import CheckStage
from pipelines.nightly.stages.segment import SegmentStage
from pipelines.nightly.stages.transfer import TransferStage
from pipelines.nightly.stages.write import WriteStage


class FusedStage:
    def __init__(self, ctx: RunContext):
        self.stages = [SegmentStage(ctx), TransferStage(ctx), CheckStage(ctx), WriteStage(ctx)]

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows = batch_to_rows(batch)
        for stage in self.stages:
            rows = stage.run_rows(rows)
        return rows_to_batch(rows)
