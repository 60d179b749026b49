"""Read and decode: the first stage, run as Ray tasks (no model).

Reads the source bytes with retries on transient storage errors, hashes them, decides
incremental skips, and decodes with the guards of ``stylecore.io.codec.decode_untrusted``
(sniffed format, header-checked size limits, EXIF orientation, ICC profiles to sRGB, colour
modes, first frame of animations)."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

import numpy as np

from pipelines import storage
from pipelines.nightly.rows import RowStage, batch_to_rows, rows_to_batch, worker_identity
from stylecore.io.codec import DecodeLimits, decode_untrusted


@dataclass(frozen=True)
class DecodeContext:
    """What reading and decoding need: deliberately free of torch, so that read tasks
    start fast (a worker that unpickles a ``RunContext`` imports torch, ~1 s)."""

    styles: tuple[str, ...]
    limits: DecodeLimits = field(default_factory=DecodeLimits)
    read_attempts: int = 4

    @classmethod
    def of(cls, ctx) -> DecodeContext:
        """From a ``pipelines.nightly.runconfig.RunContext``."""
        return cls(tuple(sorted(ctx.styles)), ctx.limits, ctx.read_attempts)


class UnknownStyleError(ValueError):
    pass


class DecodeStage(RowStage):
    name = "decode"

    def __init__(self, ctx: DecodeContext, incremental: bool = True):
        self.ctx = ctx
        self.incremental = incremental
        self.node_id, self.worker_id = worker_identity()

    def process(self, row: dict) -> None:
        row["started_at"] = time.time()
        row["node_id"], row["worker_id"] = self.node_id, self.worker_id
        if row["style_id"] not in self.ctx.styles:
            known = ", ".join(self.ctx.styles)
            raise UnknownStyleError(
                f"style {row['style_id']!r} is not in the styles file (known: {known})"
                if row["style_id"]
                else "no style: the row has no style_id, its category has no rule and the "
                "styles file has no default"
            )
        if not row["output_uri"]:  # the plan could not build a safe key
            storage.safe_key(row["image_id"])  # raises with the reason
        if self.incremental and row["incremental"] == "etag":
            self._skip(row)
            return
        t0 = time.perf_counter()
        data = storage.with_retries(
            storage.read_bytes,
            row["source_uri"],
            attempts=self.ctx.read_attempts,
            what=f"read {row['image_id']}",
        )
        row["t_read"] = time.perf_counter() - t0
        row["source_sha256"] = hashlib.sha256(data).hexdigest()
        if row["source_size"] < 0:
            row["source_size"] = len(data)
        if (
            self.incremental
            and row["incremental"] == "sha256"
            and row["source_sha256"] == row["prev_sha256"]
        ):
            self._skip(row)
            return
        d = decode_untrusted(data, self.ctx.limits)
        row["pixels"] = d.image
        row["height"], row["width"] = d.image.shape[:2]
        row["source_format"] = d.format
        row["source_mode"] = d.mode + (f", {d.frames} frames" if d.frames > 1 else "")
        if d.colour_profile:  # e.g. "Adobe RGB (1998) -> sRGB"
            row["source_mode"] += f", ICC {d.colour_profile}"

    @staticmethod
    def _skip(row: dict) -> None:
        row["status"] = "skipped"
        row["output_uri"] = row["prev_output_uri"]
        row["output_sha256"] = row["prev_output_sha256"]
        row["source_sha256"] = row["source_sha256"] or row["prev_sha256"]
        row["finished_at"] = time.time()


def decode_batch(
    batch: dict[str, np.ndarray], ctx: DecodeContext, incremental: bool = True
) -> dict[str, np.ndarray]:
    """Task form of ``DecodeStage`` for ``map_batches`` (reads need no actor)."""
    return rows_to_batch(DecodeStage(ctx, incremental).run_rows(batch_to_rows(batch)))
