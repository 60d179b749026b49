"""The nightly restyle on Ray Data: plan -> stages -> one manifest part per shard.

The driver writes the plan first, then streams the plan's rows through

    decode (tasks) -> segment -> transfer -> check (actors) -> write (tasks)

or, in the ``fused`` layout (the default without GPUs), decode tasks then one actor pool
that runs segment, transfer, check and write in one process. Result rows (no pixels) come
back to the driver, which buffers them per shard and writes a shard's part as soon as all
of its planned rows are in. A row the pipeline never returned (the job stopped) still gets
a ``failed`` row, so every planned image ends as exactly one manifest row.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from collections import defaultdict

import pyarrow as pa

from pipelines import storage
from pipelines.nightly import manifest
from pipelines.nightly.rows import ROW_DEFAULTS, batch_to_rows, new_row
from pipelines.nightly.runconfig import NightlyConfig, RunContext
from pipelines.nightly.stages.check import CheckStage
from pipelines.nightly.stages.decode import DecodeContext, decode_batch
from pipelines.nightly.stages.fused import FusedStage
from pipelines.nightly.stages.segment import SegmentStage
from pipelines.nightly.stages.transfer import TransferStage
from pipelines.nightly.stages.write import write_batch
from pipelines.placement.reserve import Reservation, reserve
from pipelines.placement.sizing import Placement, plan_for_cluster

log = logging.getLogger(__name__)


def actor_pool_args(pl: Placement, stage: str, reservation: Reservation) -> dict:
    """The ``map_batches`` arguments that place one stage's actor pool: its size, what each
    actor takes, and its placement group when one was reserved."""
    import ray

    s = pl.stage(stage)
    args = {
        "compute": ray.data.ActorPoolStrategy(size=s.actors),
        "num_cpus": s.cpus,
        "num_gpus": s.gpus,
    }
    strategy = reservation.strategy(stage)
    if strategy is not None:
        args["scheduling_strategy"] = strategy
    return args


def build_dataset(
    plan: pa.Table,
    ctx: RunContext,
    cfg: NightlyConfig,
    incremental: bool,
    pl: Placement,
    reservation: Reservation | None = None,
):
    """The Ray Data pipeline over ``plan``'s rows (lazy; nothing runs until consumed).
    Actors of a stage ``reservation`` holds start inside its placement group."""
    import ray

    res = cfg.resources
    reservation = reservation or Reservation()
    dctx = ray.data.DataContext.get_current()
    dctx.execution_no_progress_timeout_s = res.no_progress_timeout_s
    dctx.enable_progress_bars = sys.stderr.isatty()
    log.info(
        "layout %s: %d actor(s) x %.2f CPU, %.2f GPU, %d torch thread(s); reads %.2f CPU",
        pl.layout,
        pl.actors,
        pl.actor_cpus,
        pl.actor_gpus,
        pl.threads,
        pl.read_cpus,
    )
    gpu_ctx = ctx.with_device("cuda" if pl.actor_gpus > 0 else "cpu", pl.threads)
    cpu_ctx = ctx.with_device("cpu", pl.threads)
    bs = res.batch_size
    # Small blocks so that work spreads and streams (a single block would be one task).
    rows = plan.num_rows
    blocks = [plan.slice(i, bs) for i in range(0, rows, bs)]
    ds = ray.data.from_arrow(blocks)
    ds = ds.map_batches(
        decode_batch,
        fn_kwargs={"ctx": DecodeContext.of(ctx), "incremental": incremental},
        batch_size=bs,
        num_cpus=pl.read_cpus,
        batch_format="numpy",
    )
    if pl.layout == "fused":
        return ds.map_batches(
            FusedStage,
            fn_constructor_kwargs={"ctx": gpu_ctx},
            batch_size=bs,
            batch_format="numpy",
            **actor_pool_args(pl, "restyle", reservation),
        )
    seg_ctx = ctx.with_device("cuda" if pl.segment_gpus > 0 else "cpu", pl.threads)
    for cls, c, name in (
        (SegmentStage, seg_ctx, "segment"),
        (TransferStage, gpu_ctx, "transfer"),
        (CheckStage, cpu_ctx, "check"),
    ):
        ds = ds.map_batches(
            cls,
            fn_constructor_kwargs={"ctx": c},
            batch_size=bs,
            batch_format="numpy",
            **actor_pool_args(pl, name, reservation),
        )
    return ds.map_batches(
        write_batch,
        fn_kwargs={"ctx": cpu_ctx},
        batch_size=bs,
        num_cpus=pl.read_cpus,
        batch_format="numpy",
    )


class ShardWriter:
    """Buffers result rows per shard and writes a shard's part once all its planned rows
    are in; ``close`` fills in any row the pipeline never returned."""

    def __init__(
        self,
        ctx: RunContext,
        plan: pa.Table,
        progress_every_s: float = 10.0,
        existing: dict[int, list[dict]] | None = None,
    ):
        self.ctx = ctx
        # Records kept from an earlier part of the same shard (re-runs of failed rows).
        self.existing = existing or {}
        self.expected: dict[int, set[str]] = defaultdict(set)
        self.plan_rows: dict[tuple[int, str], dict] = {}
        for r in plan.to_pylist():
            self.expected[r["shard"]].add(r["image_id"])
            self.plan_rows[(r["shard"], r["image_id"])] = r
        self.buffers: dict[int, dict[str, dict]] = defaultdict(dict)
        self.written: list[int] = []
        self.counts: dict[str, int] = defaultdict(int)
        self.done = 0
        self.total = plan.num_rows
        self.t0 = time.time()
        self.every = progress_every_s
        self.last_log = self.t0

    def add(self, row: dict) -> None:
        shard, image_id = row["shard"], row["image_id"]
        if image_id not in self.expected.get(shard, ()):
            log.error("a row nobody planned came back: shard %s image %r", shard, image_id)
            return
        buf = self.buffers[shard]
        if image_id in buf:
            log.warning("image %r came back twice (a retried batch); keeping the last", image_id)
        else:
            self.done += 1
            self.counts[row["status"]] += 1
        buf[image_id] = manifest.to_record(row)
        if len(buf) == len(self.expected[shard]):
            self._write(shard)
        self._progress()

    def _write(self, shard: int) -> None:
        records = self.existing.get(shard, []) + list(self.buffers[shard].values())
        manifest.write_part(self.ctx.out, self.ctx.run_id, shard, records)
        self.written.append(shard)
        del self.buffers[shard]

    def _progress(self, force: bool = False) -> None:
        now = time.time()
        if not force and now - self.last_log < self.every:
            return
        self.last_log = now
        rate = self.done / max(now - self.t0, 1e-6)
        eta = (self.total - self.done) / rate if rate > 0 else math.inf
        log.info(
            "%d/%d images (%s), %.2f img/s, %d shard(s) written, ETA %s",
            self.done,
            self.total,
            ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())),
            rate,
            len(self.written),
            f"{eta:.0f} s" if math.isfinite(eta) else "-",
        )

    def close(self, error: BaseException | None = None) -> int:
        """Write every shard still open, with a ``failed`` row for each planned image that
        never came back. Returns how many such rows were filled in."""
        missing = 0
        for shard, ids in self.expected.items():
            if shard in self.written:
                continue
            buf = self.buffers[shard]
            for image_id in ids - set(buf):
                plan_row = self.plan_rows[(shard, image_id)]
                row = new_row(**{k: v for k, v in plan_row.items() if k in ROW_DEFAULTS})
                row["status"] = "failed"
                row["error_type"] = "NotProcessed"
                why = f"{type(error).__name__}: {error}" if error else "no result came back"
                row["error_message"] = storage.redact(f"pipeline: {why}")[:1000]
                buf[image_id] = manifest.to_record(row)
                self.counts["failed"] += 1
                missing += 1
            self._write(shard)
        self._progress(force=True)
        return missing


def execute(
    plan: pa.Table,
    ctx: RunContext,
    cfg: NightlyConfig,
    incremental: bool,
    existing: dict[int, list[dict]] | None = None,
    placement: Placement | None = None,
) -> dict:
    """Run ``plan`` through the pipeline and write its shards' parts (with ``existing``
    records of those shards kept). Returns counters. ``placement`` defaults to one planned
    on the connected cluster."""
    writer = ShardWriter(ctx, plan, cfg.progress_every_s, existing)
    error: BaseException | None = None
    if plan.num_rows:
        pl = placement or plan_for_cluster(cfg.resources)
        reservation = None
        try:
            reservation = reserve(pl, cfg.resources.scale_up_timeout_s, f"restyle-{ctx.run_id}")
            ds = build_dataset(plan, ctx, cfg, incremental, pl, reservation)
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
                for row in batch_to_rows(batch):
                    writer.add(row)
        except Exception as e:  # the job stopped: record what never came back
            error = e
            log.error("the pipeline stopped: %s", storage.redact(str(e))[:2000])
        finally:
            if reservation is not None:
                reservation.release()
    missing = writer.close(error)
    if missing:
        log.error("%d planned image(s) got no result; they are recorded as failed", missing)
    return {
        "missing": missing,
        "error": storage.redact(repr(error)) if error else None,
        "counts": dict(writer.counts),
    }


def write_json(uri: str, obj: dict) -> None:
    storage.write_bytes(uri, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def finalize_run(
    out: str,
    run_id: str,
    record: dict,
    cfg: NightlyConfig,
    wall: float,
    result: dict,
    processed: int,
    kind: str,
) -> tuple[dict, str]:
    """After ``execute``: write ``summary.json`` (with the verdict against
    ``max_failure_ratio``) and ``report.html``; a complete nightly run becomes
    ``runs/LATEST``, the baseline of the next incremental run (re-runs of an older run
    leave the pointer alone). Returns ``(summary, report URI)``."""
    from pipelines.nightly.report import write_report

    summary = manifest.summarise(
        out,
        run_id,
        record["planned"],
        wall,
        {
            "kind": kind,
            "processed_now": processed,
            "not_returned": result["missing"],
            "pipeline_error": result["error"],
            "max_failure_ratio": cfg.max_failure_ratio,
            "styles": {
                k: {"model_version": v["model_version"], "config_hash": v["config_hash"]}
                for k, v in record["context"]["styles"].items()
            },
            "reruns": record.get("reruns", []),
        },
        processed_now=sum(v for k, v in result["counts"].items() if k != "skipped"),
    )
    ok = summary["failed_ratio"] <= cfg.max_failure_ratio
    summary["verdict"] = "ok" if ok else "too many failures"
    if summary["write_failures"]:  # whatever the ratio: the output store is the problem
        summary["verdict"] = "output not written"
    rundir = manifest.run_dir(out, run_id)
    write_json(storage.join(rundir, "summary.json"), summary)
    report = write_report(out, run_id, summary, cfg.report_samples)
    if kind == "nightly" and summary["rows"] == record["planned"]:
        storage.write_bytes(storage.join(out, "runs", "LATEST"), run_id.encode())
    return summary, report
