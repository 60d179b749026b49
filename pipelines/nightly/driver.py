"""A run from the driver's side, as `restyle nightly` and `restyle rerun` call it: the checks
made before Ray starts, a new or resumed run (record, plan, execute), a re-run of some of a
run's images, and the finished run (summary, report) for the command to print."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from pipelines import storage
from pipelines.nightly import manifest
from pipelines.nightly.plan import build_plan, read_plan, write_plan
from pipelines.nightly.record import (
    new_record,
    new_run_id,
    note_rerun,
    read_run,
    recorded_config,
    run_json_uri,
    to_rerun,
    to_resume,
    write_run,
)
from pipelines.nightly.run import execute, finalize_run
from pipelines.nightly.runconfig import NightlyConfig, RunContext, context_from_json, load_styles
from pipelines.placement.sizing import plan_for_cluster
from pipelines.ray_session import ray_session
from stylecore.config import ConfigError
from stylecore.runlog import log_context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finished:
    """A finished run or re-run: its summary (counts, verdict), where its summary and report
    are, the wall time, the failure ratio it was held to and the output root as it may be
    shown (credentials redacted)."""

    run_id: str
    summary: dict
    summary_uri: str
    report: str
    wall: float
    max_failure_ratio: float
    out_shown: str


def check_run_id(run_id: str | None, resume: bool) -> None:
    """A run id must be a safe key segment; ``resume`` needs one."""
    storage.safe_key(run_id or "x")  # run ids become key segments
    if resume and not run_id:
        raise ConfigError("--resume needs the --run-id of the run to continue")


def preflight(
    out: str, run_id: str | None, styles: str | None = None, images: str | None = None
) -> None:
    """Everything else that can be checked without Ray, before Ray starts (seconds), the
    config having loaded: the styles file and its models, the catalogue, the output root
    and, for a run to continue (``run_id``), its record."""
    if styles:
        load_styles(styles)
    if images and not (storage.is_dir(images) or storage.exists(images)):
        raise FileNotFoundError(f"--images {images}: not a folder, prefix or catalogue table")
    if run_id:
        read_run(out, run_id)
    else:
        storage.check_writable(out)


@contextlib.contextmanager
def nightly_run(
    cfg: NightlyConfig,
    images: str,
    styles: str,
    out: str,
    run_id: str | None,
    resume: bool,
    full: bool,
    address: str | None,
) -> Iterator[Finished]:
    """Start run ``run_id`` (default: a new id), or continue it (``resume``: its finished
    shards are kept), on Ray (``address``, or a local Ray started and stopped here); yields
    the finished run while that Ray is still up."""
    run_id = run_id or new_run_id()
    with log_context(run_id=run_id), ray_session(address) as local:
        if resume:
            record = read_run(out, run_id)
            cfg = recorded_config(record, cfg)
            placement = plan_for_cluster(cfg.resources, local)
            ctx = context_from_json(record["context"])
            todo, done = to_resume(out, run_id, read_plan(out, run_id))
            log.info("resuming: %d shard(s) finished, %d image(s) to go", len(done), todo.num_rows)
            incremental = not record.get("full", False)
        else:
            record, todo, ctx, placement = _start(cfg, images, styles, out, run_id, full, local)
            incremental = not full
        t0 = time.time()
        result = execute(todo, ctx, cfg, incremental, placement=placement)
        wall = time.time() - t0
        yield _finish(out, run_id, record, cfg, wall, result, todo.num_rows, "nightly")


def _start(cfg, images, styles_file, out, run_id, full, local):
    """A new run: refused when ``run_id`` exists; the placement checked against the cluster
    before anything is written; then the record and the plan. Returns ``(record, plan,
    context, placement)``."""
    if storage.exists(run_json_uri(out, run_id)):
        raise ConfigError(
            f"run {run_id!r} already exists under {out}; use --resume to "
            "continue it, or restyle rerun"
        )
    # before anything is written: a plan that cannot fit the cluster exits 2
    placement = plan_for_cluster(cfg.resources, local)
    styles = load_styles(styles_file)
    ctx = RunContext.create(run_id, out, styles, cfg)
    t_plan = time.time()
    plan = build_plan(images, styles, ctx, cfg.shards, not full)
    if plan.num_rows == 0:
        raise ValueError(f"catalogue {images}: no images found")
    record = new_record(ctx, cfg, images, styles_file, full, plan.num_rows)
    write_run(out, run_id, record)
    write_plan(out, run_id, plan)
    log.info("plan written in %.1f s: %d images", time.time() - t_plan, plan.num_rows)
    return record, plan, ctx, placement


def rerun(
    cfg: NightlyConfig,
    out: str,
    run_id: str,
    shards: list[int] | None,
    failed_only: bool,
    address: str | None,
) -> Finished | None:
    """Re-process every image of ``shards`` of run ``run_id``, or its failed ones, with the
    run's own plan, models and config, on Ray (``address``, or a local Ray started and
    stopped here); each touched shard's part is replaced. ``None`` when there is nothing to
    re-run."""
    with log_context(run_id=run_id):
        record = read_run(out, run_id)
        cfg = recorded_config(record, cfg)
        ctx = context_from_json(record["context"])
        plan = read_plan(out, run_id)
        todo, existing = to_rerun(out, run_id, plan, shards, failed_only)
        log.info("re-running %d image(s) of run %s", todo.num_rows, run_id)
        if todo.num_rows == 0:
            return None
        with ray_session(address) as local:
            placement = plan_for_cluster(cfg.resources, local)
            t0 = time.time()
            result = execute(todo, ctx, cfg, False, existing=existing, placement=placement)
            wall = time.time() - t0
        note_rerun(record, todo, wall)
        write_run(out, run_id, record)
        return _finish(out, run_id, record, cfg, wall, result, todo.num_rows, "rerun")


def _finish(out, run_id, record, cfg, wall, result, processed, kind) -> Finished:
    summary, report = finalize_run(out, run_id, record, cfg, wall, result, processed, kind)
    return Finished(
        run_id=run_id,
        summary=summary,
        summary_uri=storage.join(manifest.run_dir(out, run_id), "summary.json"),
        report=report,
        wall=wall,
        max_failure_ratio=cfg.max_failure_ratio,
        out_shown=storage.redact(out),
    )
