"""The plan: every image of the catalogue, listed once, before any work starts.

``build_plan`` lists the catalogue (a prefix of images, or a CSV / Parquet table
``image_id, uri[, style_id, category, size, etag]``), assigns each image its style, its
shard (a stable hash of the image id) and its deterministic output key, and marks what an
earlier run already did (incremental runs). The plan is written to
``runs/<run_id>/plan.parquet``; everything after reads the plan.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import posixpath

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines import storage
from pipelines.datasets import IMAGE_EXTENSIONS, TABLE_EXTENSIONS, read_table
from pipelines.nightly.manifest import read_manifest, run_dir
from pipelines.nightly.rows import ROW_DEFAULTS, new_row
from pipelines.nightly.runconfig import RunContext, StylesFile

log = logging.getLogger(__name__)

# Extensions a catalogue prefix lists (anything else under it is ignored).
CATALOGUE_EXTENSIONS = (*IMAGE_EXTENSIONS, ".gif")
PLAN_FIELDS = [k for k in ROW_DEFAULTS if k in (
    "run_id", "shard", "image_id", "source_uri", "source_size", "source_etag", "category",
    "style_id", "model_uri", "model_version", "config_hash", "output_uri", "incremental",
    "prev_sha256", "prev_output_uri", "prev_output_sha256", "prev_run_id",
)]  # fmt: skip


def shard_of(image_id: str, shards: int) -> int:
    """A stable shard for ``image_id``: the same id always lands in the same shard."""
    return int.from_bytes(hashlib.sha1(image_id.encode("utf-8")).digest()[:8], "big") % shards


def list_catalogue(catalogue: str) -> list[dict]:
    """``[{image_id, uri, size, etag, style_id, category}]`` for a prefix or a table.

    For a prefix, the image id is the key below the prefix without its extension (with it,
    where two files would share an id). Duplicate ids in a table are an error."""
    if catalogue.lower().endswith(TABLE_EXTENSIONS):
        base = storage.dirname(catalogue)
        rows = read_table(catalogue)
        if rows and not {"image_id", "uri"} <= set(rows[0]):
            raise ValueError(f"{catalogue}: a catalogue table needs image_id and uri columns")
        items = [
            {
                "image_id": r["image_id"],
                "uri": storage.resolve(base, r["uri"]),
                "size": int(r["size"]) if str(r.get("size", "")).strip() else -1,
                "etag": str(r.get("etag") or ""),
                "style_id": r.get("style_id") or "",
                "category": r.get("category") or "",
            }
            for r in rows
        ]
        seen: set[str] = set()
        dups = [i["image_id"] for i in items if i["image_id"] in seen or seen.add(i["image_id"])]
        if dups:
            raise ValueError(f"{catalogue}: duplicate image_id values, e.g. {dups[:5]}")
        return items
    files = storage.list_files(catalogue, CATALOGUE_EXTENSIONS)
    root = storage.split_uri(catalogue)[1].rstrip("/")
    rel = [posixpath.relpath(storage.split_uri(f.uri)[1], root) for f in files]
    stems = [os.path.splitext(r)[0] for r in rel]
    clash = {s for s in stems if stems.count(s) > 1}
    return [
        {
            "image_id": r if s in clash else s,
            "uri": f.uri,
            "size": f.size,
            "etag": f.etag,
            "style_id": "",
            "category": posixpath.dirname(r),  # the sub-folder, if any
        }
        for f, r, s in zip(files, rel, stems, strict=True)
    ]


def output_uri(ctx: RunContext, image_id: str, style_id: str) -> str:
    """The published key of an image, or "" when its id is not a safe key."""
    style = ctx.styles.get(style_id)
    if style is None:
        return ""
    try:
        key = storage.safe_key(image_id)
    except ValueError:
        return ""
    return storage.join(
        ctx.out, "images", style_id, style.model_version, f"{key}.{ctx.output.format}"
    )


def previous_outputs(out: str, before: str) -> tuple[str, dict[str, dict]]:
    """``(run_id, {image_id: row})`` of the last finished run (``runs/LATEST``) for
    incremental runs: its ok and skipped rows. Empty when there is none."""
    latest = storage.join(out, "runs", "LATEST")
    if not storage.exists(latest):
        return "", {}
    run_id = storage.read_bytes(latest).decode().strip()
    if run_id == before:
        return "", {}
    cols = [
        "image_id",
        "status",
        "style_id",
        "model_version",
        "config_hash",
        "source_size",
        "source_etag",
        "source_sha256",
        "output_uri",
        "output_sha256",
    ]
    t = read_manifest(out, run_id, cols).to_pylist()
    t = [{k: ("" if v is None else v) for k, v in r.items()} for r in t]  # NULL -> ""
    return run_id, {r["image_id"]: r for r in t if r["status"] in ("ok", "skipped")}


def build_plan(
    catalogue: str, styles: StylesFile, ctx: RunContext, shards: int, incremental: bool = True
) -> pa.Table:
    items = list_catalogue(catalogue)
    if not items:
        raise ValueError(f"catalogue {catalogue}: no images found")
    prev_run, prev = previous_outputs(ctx.out, ctx.run_id) if incremental else ("", {})
    rows = []
    for it in items:
        style_id = styles.style_for(it["style_id"], it["category"])
        style = ctx.styles.get(style_id)
        row = new_row(
            run_id=ctx.run_id,
            shard=shard_of(it["image_id"], shards),
            image_id=it["image_id"],
            source_uri=it["uri"],
            source_size=it["size"],
            source_etag=it["etag"],
            category=it["category"],
            style_id=style_id,
            model_uri=style.model_uri if style else "",
            model_version=style.model_version if style else "",
            config_hash=style.config_hash if style else "",
            output_uri=output_uri(ctx, it["image_id"], style_id),
        )
        p = prev.get(it["image_id"])
        if (
            p is not None
            and style is not None
            and (p["style_id"], p["model_version"], p["config_hash"])
            == (style_id, style.model_version, style.config_hash)
        ):
            same_etag = bool(it["etag"]) and it["etag"] == p["source_etag"]
            same_size = it["size"] >= 0 and it["size"] == p["source_size"]
            row["incremental"] = "etag" if same_etag and same_size else "sha256"
            row["prev_sha256"] = p["source_sha256"] or ""
            row["prev_output_uri"] = p["output_uri"]
            row["prev_output_sha256"] = p["output_sha256"] or ""
            row["prev_run_id"] = prev_run
        rows.append({k: row[k] for k in PLAN_FIELDS})
    log.info(
        "plan: %d images in %d shards; %d unchanged by etag, %d to check by hash (previous run %s)",
        len(rows),
        shards,
        sum(r["incremental"] == "etag" for r in rows),
        sum(r["incremental"] == "sha256" for r in rows),
        prev_run or "none",
    )
    return pa.Table.from_pylist(rows).sort_by([("shard", "ascending"), ("image_id", "ascending")])


def plan_uri(out: str, run_id: str) -> str:
    return storage.join(run_dir(out, run_id), "plan.parquet")


def write_plan(out: str, run_id: str, plan: pa.Table) -> str:
    buf = io.BytesIO()
    pq.write_table(plan, buf, compression="zstd")
    uri = plan_uri(out, run_id)
    storage.write_bytes(uri, buf.getvalue())
    return uri


def read_plan(out: str, run_id: str) -> pa.Table:
    uri = plan_uri(out, run_id)
    if not storage.exists(uri):
        raise FileNotFoundError(f"run {run_id!r}: no plan at {uri}")
    return pq.read_table(io.BytesIO(storage.read_bytes(uri)))
