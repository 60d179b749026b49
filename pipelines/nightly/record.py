"""A run's record and the selections that continue it: ``run.json`` (what was asked, the
resolved context, the config, the re-runs), a new run id, and which planned images a
resume or a re-run processes (and which finished rows of a shard it keeps)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime

import pyarrow as pa

from pipelines import storage
from pipelines.nightly import manifest
from pipelines.nightly.runconfig import NightlyConfig, RunContext, context_to_json
from stylecore.config import build


def new_run_id() -> str:
    """UTC time plus a random suffix: sortable, and unique across drivers."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def run_json_uri(out: str, run_id: str) -> str:
    return storage.join(manifest.run_dir(out, run_id), "run.json")


def read_run(out: str, run_id: str) -> dict:
    """The run's record; ``FileNotFoundError`` naming the run when there is none."""
    uri = run_json_uri(out, run_id)
    if not storage.exists(uri):
        raise FileNotFoundError(f"run {run_id!r}: no run.json under {out}/runs/{run_id}")
    return json.loads(storage.read_bytes(uri))


def write_run(out: str, run_id: str, record: dict) -> None:
    text = json.dumps(record, indent=2, sort_keys=True) + "\n"
    storage.write_bytes(run_json_uri(out, run_id), text.encode())


def new_record(
    ctx: RunContext, cfg: NightlyConfig, images: str, styles_file: str, full: bool, planned: int
) -> dict:
    return {
        "run_id": ctx.run_id,
        "created_at": datetime.now(UTC).isoformat(),
        "catalogue": storage.redact(images),
        "styles_file": storage.redact(styles_file),
        "full": full,
        "planned": planned,
        "config": dataclasses.asdict(cfg),
        "context": context_to_json(ctx),
    }


def recorded_config(record: dict, current: NightlyConfig) -> NightlyConfig:
    """The run's own config for a resume or a re-run: only resources, retries, the
    failure ratio and progress reporting may change (``current``'s)."""
    recorded = build(NightlyConfig, record["config"])
    return dataclasses.replace(
        recorded,
        resources=current.resources,
        read_attempts=current.read_attempts,
        max_failure_ratio=current.max_failure_ratio,
        progress_every_s=current.progress_every_s,
    )


def to_resume(out: str, run_id: str, plan: pa.Table) -> tuple[pa.Table, set[int]]:
    """The planned rows of the shards not finished yet, and the finished shards."""
    done = manifest.finished_shards(out, run_id)
    return plan.filter([s not in done for s in plan.column("shard").to_pylist()]), done


def to_rerun(
    out: str, run_id: str, plan: pa.Table, shards: list[int] | None, failed_only: bool
) -> tuple[pa.Table, dict[int, list[dict]]]:
    """The planned rows a re-run processes (every image of ``shards``, or every failed
    one), and per touched shard the finished rows it keeps (failed-only re-runs)."""
    existing: dict[int, list[dict]] = {}
    if failed_only:
        m = manifest.read_manifest(out, run_id, ["image_id", "status"]).to_pydict()
        failed = {i for i, s in zip(m["image_id"], m["status"], strict=True) if s == "failed"}
        todo = plan.filter([i in failed for i in plan.column("image_id").to_pylist()])
        for shard in set(todo.column("shard").to_pylist()):
            keep = manifest.read_part(out, run_id, shard).to_pylist()
            existing[shard] = [r for r in keep if r["image_id"] not in failed]
        return todo, existing
    wanted = set(shards or ())
    unknown = wanted - set(plan.column("shard").to_pylist())
    if unknown:
        raise ValueError(f"run {run_id}: no planned images in shard(s) {sorted(unknown)}")
    return plan.filter([s in wanted for s in plan.column("shard").to_pylist()]), existing


def note_rerun(record: dict, todo: pa.Table, wall_s: float) -> None:
    record.setdefault("reruns", []).append(
        {
            "at": datetime.now(UTC).isoformat(),
            "images": todo.num_rows,
            "shards": sorted(set(todo.column("shard").to_pylist())),
            "wall_s": wall_s,
        }
    )
