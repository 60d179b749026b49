"""The row that travels through the nightly pipeline, and its packing into Ray Data batches.

A row is a plain dict. The plan fills the identity fields; each stage adds its own. Pixel
payloads (``pixels``, ``alpha``, ``output``) are NumPy arrays inside a stage and travel
between stages as raw bytes plus shape and dtype columns, so a batch is plain Arrow data
(binary, strings, numbers) with no pickled objects.

``status`` is empty while a row is in progress; a stage that finishes a row early (a
failure, a skip) sets it, and every later stage passes that row through untouched.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from typing import Any

import numpy as np

from pipelines.storage import redact

PAYLOADS = ("pixels", "alpha", "output")
STAGES = ("read", "decode", "segment", "transfer", "check", "write")

# Every field a row carries, with its default (and so its type).
ROW_DEFAULTS: dict[str, Any] = {
    # identity, from the plan
    "run_id": "",
    "shard": 0,
    "image_id": "",
    "source_uri": "",
    "source_size": -1,
    "source_etag": "",
    "category": "",
    "style_id": "",
    "model_uri": "",
    "model_version": "",
    "config_hash": "",
    "output_uri": "",
    "prev_output_sha256": "",  # the skipped output's sha256, from the previous run
    "incremental": "",  # "etag" (unchanged by etag and size) | "sha256" (check bytes) | ""
    "prev_sha256": "",
    "prev_output_uri": "",
    "prev_run_id": "",
    # outcome
    "status": "",  # ok | rejected | failed | skipped ("" while in progress)
    "error_type": "",
    "error_message": "",
    "source_sha256": "",
    "output_sha256": "",  # of the bytes written at output_uri (set once the write succeeded)
    "output_size": -1,
    "source_format": "",
    "source_mode": "",
    "width": 0,
    "height": 0,
    "mask_coverage": float("nan"),
    "mask_confidence": float("nan"),
    "mask_flags": "",
    "mask_uri": "",  # runs/<run_id>/masks/<style>/<image_id>.png (small PNG, for review)
    "passed": False,
    "reasons": "",  # a JSON list of strings ("" = none): see encode_reasons / reason_list
    "scores_json": "{}",
    "node_id": "",
    "worker_id": "",
    "started_at": 0.0,  # unix seconds
    "finished_at": 0.0,
    **{f"t_{s}": float("nan") for s in STAGES},
}


def encode_reasons(reasons: list[str]) -> str:
    """A row's reasons as one string column: a JSON list (a reason may itself hold "; ")."""
    return json.dumps([str(r) for r in reasons]) if reasons else ""


def reason_list(value: Any) -> list[str]:
    """The reasons of a row or manifest record as a list: from ``encode_reasons``, from a
    list column, or from the "; "-joined string of a manifest before schema 2."""
    if value is None:
        return []
    if not isinstance(value, str):
        return [str(v) for v in value]
    text = value.strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            return [str(v) for v in json.loads(text)]
        except ValueError:
            pass
    return [r for r in text.split("; ") if r]


def flag_list(value: Any) -> list[str]:
    """Mask flags as a list: the row keeps them comma-joined (flags are bare words)."""
    if value is None:
        return []
    if not isinstance(value, str):
        return [str(v) for v in value]
    return [f for f in value.split(",") if f]


def new_row(**fields: Any) -> dict[str, Any]:
    unknown = set(fields) - set(ROW_DEFAULTS)
    if unknown:
        raise KeyError(f"unknown row fields: {sorted(unknown)}")
    return {**ROW_DEFAULTS, **fields}


def fail(row: dict, stage: str, err: BaseException) -> None:
    """Finish ``row`` as failed in ``stage``: the error's type and a one-line, redacted
    message; payloads are dropped."""
    kind = getattr(err, "kind", None)
    row["status"] = "failed"
    row["error_type"] = f"{type(err).__name__}:{kind}" if kind else type(err).__name__
    msg = str(err).strip() or repr(err)
    if isinstance(err, AssertionError | KeyError | IndexError | TypeError | AttributeError):
        # programming errors: keep where they happened
        tb = traceback.extract_tb(err.__traceback__)
        if tb:
            msg += f" (at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno})"
    row["error_message"] = redact(f"{stage}: {msg}")[:1000]
    for p in PAYLOADS:
        row[p] = None


def worker_identity() -> tuple[str, str]:
    """``(node_id, worker_id)`` of the Ray worker running this (short ids), or the host."""
    try:
        import ray

        if ray.is_initialized():
            ctx = ray.get_runtime_context()
            return ctx.get_node_id()[:12], f"{ctx.get_worker_id()[:12]}/pid{os.getpid()}"
    except Exception:
        pass
    return os.uname().nodename, f"pid{os.getpid()}"


def _pack(value: np.ndarray | None) -> tuple[bytes, str, str]:
    if value is None:
        return b"", "", ""
    value = np.ascontiguousarray(value)
    return value.tobytes(), ",".join(map(str, value.shape)), value.dtype.str


def _unpack(data: bytes, shape: str, dtype: str) -> np.ndarray | None:
    if not shape:
        return None
    dims = tuple(int(x) for x in shape.split(","))
    return np.frombuffer(data, dtype=np.dtype(dtype)).reshape(dims).copy()


def rows_to_batch(rows: list[dict]) -> dict[str, np.ndarray]:
    """Rows -> a Ray Data batch (dict of equal-length arrays)."""
    batch: dict[str, np.ndarray] = {}
    for key, default in ROW_DEFAULTS.items():
        vals = [r.get(key, default) for r in rows]
        if isinstance(default, str):
            batch[key] = np.array(vals, dtype=object)
        else:
            batch[key] = np.array(vals, dtype=type(default))
    for p in PAYLOADS:
        packed = [_pack(r.get(p)) for r in rows]
        batch[p] = np.array([x[0] for x in packed], dtype=object)
        batch[f"{p}__shape"] = np.array([x[1] for x in packed], dtype=object)
        batch[f"{p}__dtype"] = np.array([x[2] for x in packed], dtype=object)
    return batch


def batch_to_rows(batch: dict[str, np.ndarray]) -> list[dict]:
    """A Ray Data batch -> rows (payload columns unpacked into arrays)."""
    n = len(next(iter(batch.values())))
    rows = []
    for i in range(n):
        row = {}
        for key, default in ROW_DEFAULTS.items():
            if key in batch:
                v = batch[key][i]
                row[key] = v.item() if isinstance(v, np.generic) else v
                if isinstance(default, str) and row[key] is None:
                    row[key] = ""
            else:
                row[key] = default
        for p in PAYLOADS:
            if p in batch:
                row[p] = _unpack(batch[p][i], batch[f"{p}__shape"][i], batch[f"{p}__dtype"][i])
            else:
                row[p] = None
        rows.append(row)
    return rows


class RowStage:
    """Base of the pipeline stages: ``__call__`` maps a batch to a batch, running
    ``process(row)`` on each row still in progress, timing it into ``t_<name>``, and
    turning any exception into a ``failed`` row (never a lost row, never a crashed job)."""

    name = "stage"

    def process(self, row: dict) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def run_rows(self, rows: list[dict]) -> list[dict]:
        for row in rows:
            if row["status"]:
                continue
            t0 = time.perf_counter()
            try:
                self.process(row)
            except Exception as e:
                fail(row, self.name, e)
            key = f"t_{self.name}"
            if key in row:
                row[key] = time.perf_counter() - t0
        return rows

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return rows_to_batch(self.run_rows(batch_to_rows(batch)))
