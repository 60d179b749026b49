"""Write: encode each result and write it at its deterministic key.

``ok`` images go to ``<out>/images/<style>/<model_version>/<image_id>.<ext>`` (the plan's
``output_uri``); ``rejected`` ones, which must not be published, to
``<out>/runs/<run_id>/rejected/<style>/<image_id>.<ext>`` for review. Each row's product
mask goes to ``<out>/runs/<run_id>/masks/<style>/<image_id>.png`` (8-bit, long side at most
``MASK_SIDE``), written before the image, so nothing is published without its mask. Writes
are atomic per object, so a retried or re-run row overwrites, never duplicates."""

from __future__ import annotations

import hashlib
import time

import cv2
import numpy as np

from pipelines import storage
from pipelines.nightly.rows import PAYLOADS, RowStage, batch_to_rows, fail, rows_to_batch
from pipelines.nightly.runconfig import RunContext
from stylecore.io.codec import encode_image

MASK_SIDE = 512


def mask_uri(ctx: RunContext, row: dict) -> str:
    key = f"{storage.safe_key(row['image_id'])}.png"
    return storage.join(ctx.out, "runs", ctx.run_id, "masks", row["style_id"], key)


def mask_png(alpha: np.ndarray) -> bytes:
    """A small 8-bit PNG of a product matte (long side at most ``MASK_SIDE``)."""
    h, w = alpha.shape[:2]
    s = min(1.0, MASK_SIDE / max(h, w))
    if s < 1.0:
        size = (max(1, round(w * s)), max(1, round(h * s)))
        alpha = cv2.resize(alpha.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    return encode_image(np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8), "png")


def rejected_uri(ctx: RunContext, row: dict) -> str:
    ext = ctx.output.format
    key = f"{storage.safe_key(row['image_id'])}.{ext}"
    return storage.join(ctx.out, "runs", ctx.run_id, "rejected", row["style_id"], key)


class WriteStage(RowStage):
    name = "write"

    def __init__(self, ctx: RunContext):
        self.ctx = ctx

    def process(self, row: dict) -> None:
        if row["status"] not in ("ok", "rejected"):
            raise RuntimeError(f"write: row reached the writer with status {row['status']!r}")
        if row["alpha"] is not None:
            uri = mask_uri(self.ctx, row)
            storage.with_retries(
                storage.write_bytes,
                uri,
                mask_png(row["alpha"]),
                attempts=self.ctx.read_attempts,
                what=f"write mask {row['image_id']}",
            )
            row["mask_uri"] = uri
        data = encode_image(row["output"], self.ctx.output.format, self.ctx.output.quality)
        if row["status"] == "rejected":
            row["output_uri"] = rejected_uri(self.ctx, row)
        storage.with_retries(
            storage.write_bytes,
            row["output_uri"],
            data,
            attempts=self.ctx.read_attempts,
            what=f"write {row['image_id']}",
        )
        # Recorded only after the write returned: `restyle verify` re-reads the object
        # and compares.
        row["output_sha256"] = hashlib.sha256(data).hexdigest()
        row["output_size"] = len(data)

    def run_rows(self, rows: list[dict]) -> list[dict]:
        # Finished rows (ok / rejected) are written; every row leaves without payloads.
        for row in rows:
            if row["status"] in ("ok", "rejected"):
                t0 = time.perf_counter()
                try:
                    self.process(row)
                except Exception as e:
                    fail(row, self.name, e)
                row["t_write"] = time.perf_counter() - t0
            elif not row["status"]:
                row["status"] = "failed"
                row["error_type"] = "Incomplete"
                row["error_message"] = "write: the row reached the end without a verdict"
            if not row["finished_at"]:
                row["finished_at"] = time.time()
            for p in PAYLOADS:
                row[p] = None
        return rows


def write_batch(batch: dict[str, np.ndarray], ctx: RunContext) -> dict[str, np.ndarray]:
    """Task form of ``WriteStage`` for ``map_batches``."""
    return rows_to_batch(WriteStage(ctx).run_rows(batch_to_rows(batch)))
