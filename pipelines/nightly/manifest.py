"""The run's record: one Parquet part per shard, the summary and the report.

Layout under ``--out``::

    images/<style_id>/<model_version>/<image_id>.<ext>   published (status ok) images
    runs/<run_id>/run.json                               the resolved context (styles,
                                                         pinned model versions, config)
    runs/<run_id>/plan.parquet                           every planned image, written first
    runs/<run_id>/manifest/part-NNNNN.parquet            one row per planned image, one
                                                         file per shard (schema 2; runs
                                                         before it: shard=NNNNN/part.parquet)
    runs/<run_id>/rejected/<style_id>/<image_id>.<ext>   rejected results, for review
    runs/<run_id>/summary.json                           counts, throughput, consistency
    runs/<run_id>/report.html                            before/after sheet, failures
    runs/LATEST                                          the last finished run (incremental)

Every part is written whole, in one atomic write, so a reader never sees half a shard and
a re-run replaces a shard's part in one step.

The parts are plain Parquet files in one folder, so pandas (``read_parquet(folder)``),
``pyarrow.dataset`` and DuckDB (``read_parquet('.../manifest/*.parquet')``) read them as
they are, with their types: ``shard`` is an int32 column (not a folder name, which tools
would read as a string or a category), ``reasons`` and ``mask_flags`` are
``list<string>``, a missing value is NULL, and ``held_back`` names the kind of a
rejection. The schema version is in each file's metadata (``restyle.manifest.schema``);
``read_part`` reads parts of version 1 too, converting them.
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import storage
from pipelines.nightly.rows import flag_list, reason_list

SCHEMA_VERSION = 2
SCHEMA_KEY = b"restyle.manifest.schema"

# Quality scores promoted to their own columns (all scores are also in scores_json).
SCORE_COLUMNS = (
    "product_ssim",
    "product_de_mean",
    "product_de_p95",
    "judge",
    "colour_ratio",
    "judge_spread",
    "colour_spread",
    "luma_std",
    "clipped_fraction",
)
TIMING_COLUMNS = ("t_read", "t_decode", "t_segment", "t_transfer", "t_check", "t_write")
STATUSES = ("ok", "rejected", "failed", "skipped")

_ts = pa.timestamp("ms", tz="UTC")
SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("shard", pa.int32()),
        ("image_id", pa.string()),
        ("source_uri", pa.string()),
        ("source_size", pa.int64()),
        ("source_etag", pa.string()),
        ("source_sha256", pa.string()),
        ("source_format", pa.string()),
        ("source_mode", pa.string()),
        ("category", pa.string()),
        ("style_id", pa.string()),
        ("model_version", pa.string()),
        ("config_hash", pa.string()),
        ("output_uri", pa.string()),
        ("output_sha256", pa.string()),
        ("output_size", pa.int64()),
        ("status", pa.string()),
        ("error_type", pa.string()),
        ("error_message", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("mask_coverage", pa.float32()),
        ("mask_confidence", pa.float32()),
        ("mask_flags", pa.list_(pa.string())),
        ("mask_uri", pa.string()),
        ("passed", pa.bool_()),
        # not_a_studio_shot | segmentation_doubtful | quality_gate, for rejected rows
        ("held_back", pa.string()),
        ("reasons", pa.list_(pa.string())),
        *[(c, pa.float32()) for c in SCORE_COLUMNS],
        ("scores_json", pa.string()),
        *[(c, pa.float32()) for c in TIMING_COLUMNS],
        ("node_id", pa.string()),
        ("worker_id", pa.string()),
        ("started_at", _ts),
        ("finished_at", _ts),
        ("prev_run_id", pa.string()),
    ]
)


def run_dir(out: str, run_id: str) -> str:
    return storage.join(out, "runs", run_id)


def manifest_dir(out: str, run_id: str) -> str:
    return storage.join(run_dir(out, run_id), "manifest")


def part_uri(out: str, run_id: str, shard: int) -> str:
    return storage.join(manifest_dir(out, run_id), f"part-{shard:05d}.parquet")


def legacy_part_uri(out: str, run_id: str, shard: int) -> str:
    """Where schema-1 runs kept a shard's part (a hive folder per shard)."""
    return storage.join(manifest_dir(out, run_id), f"shard={shard:05d}", "part.parquet")


def _when(t: float):
    return datetime.fromtimestamp(t, UTC) if t and t > 0 else None


def to_record(row: dict) -> dict:
    """A pipeline row -> a manifest record (SCHEMA's columns)."""
    scores = json.loads(row.get("scores_json") or "{}")
    rec = {name: row.get(name) for name in SCHEMA.names if name in row}
    for c in SCORE_COLUMNS:
        v = scores.get(c)
        rec[c] = float(v) if v is not None else None
    for c in TIMING_COLUMNS:
        v = row.get(c)
        rec[c] = float(v) if v is not None and math.isfinite(v) else None
    for c in ("mask_coverage", "mask_confidence"):
        v = row.get(c)
        rec[c] = float(v) if v is not None and math.isfinite(v) else None
    rec["started_at"] = _when(row.get("started_at", 0.0))
    rec["finished_at"] = _when(row.get("finished_at", 0.0))
    rec["source_uri"] = row["source_uri"]
    rec["prev_run_id"] = row.get("prev_run_id", "") if row["status"] == "skipped" else ""
    rec["reasons"] = reason_list(row.get("reasons"))
    rec["mask_flags"] = flag_list(row.get("mask_flags"))
    rec["held_back"] = held_back_reason(rec["reasons"]) if row["status"] == "rejected" else None
    for name in _OPTIONAL_STRINGS:  # missing is NULL, not ""
        if rec.get(name) == "":
            rec[name] = None
    return rec


# String columns that may be missing (NULL); the identity and status columns never are.
_OPTIONAL_STRINGS = tuple(
    f.name
    for f in SCHEMA
    if f.type == pa.string() and f.name not in ("run_id", "image_id", "source_uri", "status")
)


def write_part(out: str, run_id: str, shard: int, records: list[dict]) -> str:
    """Write one shard's records (sorted by image_id) as its part, atomically."""
    records = sorted(records, key=lambda r: r["image_id"])
    schema = SCHEMA.with_metadata({SCHEMA_KEY: str(SCHEMA_VERSION).encode()})
    table = pa.Table.from_pylist(records, schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    uri = part_uri(out, run_id, shard)
    storage.write_bytes(uri, buf.getvalue())
    old = legacy_part_uri(out, run_id, shard)
    if storage.exists(old):  # a re-run of a schema-1 run: one part per shard, the new one
        storage.delete(storage.dirname(old), recursive=True)
    return uri


def finished_shards(out: str, run_id: str) -> set[int]:
    folder = manifest_dir(out, run_id)
    done = set()
    if storage.exists(folder):
        for f in storage.list_files(folder, (".parquet",)):
            name = f.uri.rsplit("/", 1)[-1]
            if name.startswith("part-") and name[5:-8].isdigit():
                done.add(int(name[5:-8]))
    for n in storage.list_dirs(folder):  # schema 1
        if n.startswith("shard=") and storage.exists(legacy_part_uri(out, run_id, int(n[6:]))):
            done.add(int(n[6:]))
    return done


def _upgrade(table: pa.Table) -> pa.Table:
    """A schema-1 part in schema 2's terms: list columns, NULLs for "", held_back."""
    rows = table.to_pylist()
    for r in rows:
        if "reasons" in r:
            r["reasons"] = reason_list(r["reasons"])
        if "mask_flags" in r:
            r["mask_flags"] = flag_list(r["mask_flags"])
        if "held_back" in r and "status" in r and "reasons" in r:
            r["held_back"] = held_back_reason(r["reasons"]) if r["status"] == "rejected" else None
        for name in _OPTIONAL_STRINGS:
            if r.get(name) == "":
                r[name] = None
    schema = pa.schema([SCHEMA.field(c) for c in table.column_names])
    return pa.Table.from_pylist(rows, schema=schema)


def read_part(out: str, run_id: str, shard: int, columns: list[str] | None = None) -> pa.Table:
    """One shard's part, of either schema version, in the current schema. Columns a part
    written by an older version lacks come back as nulls (the schema only grows)."""
    uri = part_uri(out, run_id, shard)
    if not storage.exists(uri) and storage.exists(legacy_part_uri(out, run_id, shard)):
        uri = legacy_part_uri(out, run_id, shard)
    f = pq.ParquetFile(io.BytesIO(storage.read_bytes(uri)))
    meta = f.schema_arrow.metadata or {}
    version = int(meta.get(SCHEMA_KEY, b"1"))
    have = set(f.schema_arrow.names)
    wanted = columns if columns is not None else SCHEMA.names
    need = list(wanted)
    if version < 2 and "held_back" in wanted:
        need += [c for c in ("status", "reasons") if c not in need]
    table = f.read(columns=[c for c in need if c in have])
    for c in need:
        if c not in table.column_names:
            field = SCHEMA.field(c) if c in SCHEMA.names else pa.field(c, pa.string())
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    if version < 2:
        table = _upgrade(table)
    return table.select(wanted)


def read_manifest(out: str, run_id: str, columns: list[str] | None = None) -> pa.Table:
    """All parts of a run as one table (for tests, reports and small catalogues)."""
    parts = [read_part(out, run_id, s, columns) for s in sorted(finished_shards(out, run_id))]
    if not parts:
        return SCHEMA.empty_table() if columns is None else SCHEMA.empty_table().select(columns)
    return pa.concat_tables(parts)


def _spread(vals: list[float]) -> dict[str, float]:
    a = np.array([v for v in vals if v is not None and math.isfinite(v)], np.float64)
    if a.size == 0:
        return {}
    q1, q3 = np.percentile(a, [25, 75])
    return {"median": float(np.median(a)), "std": float(a.std()), "iqr": float(q3 - q1)}


HELD_BACK = ("not_a_studio_shot", "segmentation_doubtful", "quality_gate")


def held_back_reason(reasons) -> str:
    """The kind of a rejection from its reasons (a list, or a row's encoded string): the
    segment stage's publish-safety reason comes first, as ``<reason>: <details>``;
    anything else is the quality gate's."""
    items = reason_list(reasons)
    head = items[0].split(":", 1)[0] if items else ""
    return head if head in HELD_BACK[:2] else "quality_gate"


def summarise(
    out: str, run_id: str, planned: int, wall_s: float, extra: dict, processed_now: int = -1
) -> dict:
    """Counts by status and error, throughput, stage timings and the style-consistency
    spread, read part by part (only the columns needed). ``processed_now`` is how many
    images this invocation processed (not skipped), for images/s; by default every
    processed row of the run."""
    cols = [
        "status",
        "error_type",
        "error_message",
        "held_back",
        "style_id",
        "judge",
        "colour_ratio",
        *TIMING_COLUMNS,
    ]
    counts: Counter = Counter()
    errors: Counter = Counter()
    held: Counter = Counter()
    timings: dict[str, list] = {c: [] for c in TIMING_COLUMNS}
    ratios: dict[str, dict[str, list]] = {}
    rows = 0
    write_failures: list[str] = []  # rows whose output could not be written, for good
    for shard in sorted(finished_shards(out, run_id)):
        t = read_part(out, run_id, shard, cols).to_pydict()
        n = len(t["status"])
        rows += n
        counts.update(t["status"])
        errors.update(e for e, s in zip(t["error_type"], t["status"], strict=True) if s == "failed")
        write_failures += [
            f"{e}: {m}"
            for e, m, s in zip(t["error_type"], t["error_message"], t["status"], strict=True)
            if s == "failed" and (m or "").startswith("write:")
        ]
        held.update(
            h or "quality_gate"
            for h, s in zip(t["held_back"], t["status"], strict=True)
            if s == "rejected"
        )
        for c in TIMING_COLUMNS:
            timings[c].extend(v for v in t[c] if v is not None)
        for i in range(n):
            if t["status"][i] == "ok":
                r = ratios.setdefault(t["style_id"][i], {"judge": [], "colour_ratio": []})
                r["judge"].append(t["judge"][i])
                r["colour_ratio"].append(t["colour_ratio"][i])
    processed = counts["ok"] + counts["rejected"] + counts["failed"]
    if processed_now >= 0:
        processed = processed_now
    failed_ratio = counts["failed"] / planned if planned else 0.0
    return {
        "run_id": run_id,
        "planned": planned,
        "rows": rows,
        "counts": {s: counts.get(s, 0) for s in STATUSES},
        "failures_by_type": dict(errors.most_common()),
        # rejected rows by kind: not_a_studio_shot, segmentation_doubtful, quality_gate
        "held_back": {k: held.get(k, 0) for k in HELD_BACK},
        "failed_ratio": failed_ratio,
        # failed in the write stage (after retries): the output store refused or broke
        "write_failures": len(write_failures),
        "write_failure_example": write_failures[0] if write_failures else "",
        "wall_s": wall_s,
        "images_per_s": processed / wall_s if wall_s > 0 else None,
        "stage_median_s": {c[2:]: (float(np.median(v)) if v else None) for c, v in timings.items()},
        "consistency": {
            style: {k: _spread(v) for k, v in r.items()} for style, r in sorted(ratios.items())
        },
        **extra,
    }
