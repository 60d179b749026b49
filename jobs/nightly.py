"""`restyle nightly` and `restyle rerun`: the catalogue restyle on Ray Data."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from jobs.config import add_config_args, load_config, old_spelling, require
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

EXIT_TOO_MANY_FAILURES = 3
EXIT_OUTPUT_NOT_WRITTEN = 5


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--out", help="output root: a folder or URI (s3://, gs://)")
    p.add_argument(
        "--address",
        help="Ray cluster address (default: RAY_ADDRESS, else start a local Ray)",
    )
    p.add_argument(
        "--max-failure-ratio",
        type=float,
        help="exit with code 3 when failed rows exceed this fraction of the plan (default 0.02)",
    )
    add_config_args(p, example="resources.batch_size=4")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "nightly",
        help="restyle a whole catalogue on Ray Data (plan, manifest, report)",
        description="List the catalogue and write the plan, then stream every image "
        "through decode, segmentation, transfer and the quality gate on Ray Data, writing "
        "styled images at deterministic keys and one Parquet manifest part per shard. "
        "Images unchanged since the last finished run (same bytes, style, model version "
        "and config) are skipped. Writes OUT/runs/RUN_ID/summary.json and report.html. "
        "Actor pools are planned on the nodes the cluster has and those its autoscaler "
        "may add (resources.node_types, RESTYLE_NODE_TYPES, or the autoscaler's config), "
        "and the autoscaler is asked for them. Exit code 0; 2 for a configuration that "
        "cannot work, including a placement that cannot fit the cluster (nothing is "
        "written); 3 when failed images exceed --max-failure-ratio; 5 when outputs could "
        "not be written. On a cluster: "
        "ray job submit --address http://HEAD:8265 -- restyle nightly ...",
    )
    p.add_argument(
        "--images",
        metavar="URI_OR_TABLE",
        help="the catalogue: a folder or prefix of images, or a CSV / Parquet table: "
        "image_id, uri[, style_id, category, size, etag]",
    )
    old_spelling(p, "--catalogue", "--images")
    p.add_argument(
        "--styles",
        metavar="STYLES.yaml",
        help="styles file: each style id's model, region, alpha and gate thresholds, a "
        "default style and a style per category (format: README, 'Nightly catalogue "
        "restyle'; example: configs/styles-demo.yaml)",
    )
    p.add_argument("--run-id", help="run id (default: UTC time plus a random suffix)")
    p.add_argument("--shards", type=int, help="manifest shards (default 16)")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue --run-id after a stopped driver: finished shards are kept",
    )
    p.add_argument("--full", action="store_true", help="no incremental skips: process every image")
    _common(p)
    require(p, "--images", "--styles", "--out")
    p.set_defaults(func=run_nightly)

    r = sub.add_parser(
        "rerun",
        help="re-process one run's shard(s) or failed images, in place",
        description="Re-process images of an earlier run with the same plan, pinned models "
        "and config: every image of --shard N, or every failed image (--failed-only). "
        "Outputs are overwritten at the same keys and each affected shard's manifest part "
        "is replaced atomically; summary.json and report.html are rewritten.",
    )
    r.add_argument("--run-id", help="the run to re-run (under --out/runs/)")
    which = r.add_mutually_exclusive_group(required=True)
    which.add_argument("--shard", type=int, action="append", help="shard number (repeatable)")
    which.add_argument("--failed-only", action="store_true", help="every failed image")
    _common(r)
    require(r, "--run-id", "--out")
    r.set_defaults(func=run_rerun)


def _load_cfg(args, record: dict | None = None) -> NightlyConfig:
    flags = {
        "shards": getattr(args, "shards", None),
        "max_failure_ratio": args.max_failure_ratio,
    }
    cfg = load_config(NightlyConfig, args.config, args.set_, flags)
    return cfg if record is None else recorded_config(record, cfg)


def _preflight(args, run_id: str | None) -> None:
    """Everything that can be checked without Ray, before Ray starts (seconds): the
    config, the styles file and its models, the catalogue, the output root and, for a
    run to continue, its record."""
    _load_cfg(args)
    styles = getattr(args, "styles", None)
    if styles:
        load_styles(styles)
    images = getattr(args, "images", None)
    if images and not (storage.is_dir(images) or storage.exists(images)):
        raise FileNotFoundError(f"--images {images}: not a folder, prefix or catalogue table")
    if run_id:
        read_run(args.out, run_id)
    else:
        storage.check_writable(args.out)


def run_nightly(args) -> int:
    storage.safe_key(args.run_id or "x")  # run ids become key segments
    if args.resume and not args.run_id:
        raise ConfigError("--resume needs the --run-id of the run to continue")
    _preflight(args, args.run_id if args.resume else None)
    run_id = args.run_id or new_run_id()
    with log_context(run_id=run_id), ray_session(args.address) as local:
        return _run_nightly(args, run_id, local)


def _run_nightly(args, run_id: str, local: bool) -> int:
    if args.resume:
        record = read_run(args.out, run_id)
        cfg = _load_cfg(args, record)
        placement = plan_for_cluster(cfg.resources, local)
        ctx = context_from_json(record["context"])
        todo, done = to_resume(args.out, run_id, read_plan(args.out, run_id))
        log.info("resuming: %d shard(s) finished, %d image(s) to go", len(done), todo.num_rows)
        incremental = not record.get("full", False)
    else:
        if storage.exists(run_json_uri(args.out, run_id)):
            raise ConfigError(
                f"run {run_id!r} already exists under {args.out}; use --resume to "
                "continue it, or restyle rerun"
            )
        cfg = _load_cfg(args)
        # before anything is written: a plan that cannot fit the cluster exits 2
        placement = plan_for_cluster(cfg.resources, local)
        styles = load_styles(args.styles)
        ctx = RunContext.create(run_id, args.out, styles, cfg)
        incremental = not args.full
        t_plan = time.time()
        plan = build_plan(args.images, styles, ctx, cfg.shards, incremental)
        if plan.num_rows == 0:
            raise ValueError(f"catalogue {args.images}: no images found")
        record = new_record(ctx, cfg, args.images, args.styles, args.full, plan.num_rows)
        write_run(args.out, run_id, record)
        write_plan(args.out, run_id, plan)
        log.info("plan written in %.1f s: %d images", time.time() - t_plan, plan.num_rows)
        todo = plan
    t0 = time.time()
    result = execute(todo, ctx, cfg, incremental, placement=placement)
    wall = time.time() - t0
    return _finish(args.out, run_id, record, cfg, wall, result, todo.num_rows, "nightly")


def run_rerun(args) -> int:
    _preflight(args, args.run_id)
    with log_context(run_id=args.run_id):
        record = read_run(args.out, args.run_id)
        cfg = _load_cfg(args, record)
        ctx = context_from_json(record["context"])
        plan = read_plan(args.out, args.run_id)
        todo, existing = to_rerun(args.out, args.run_id, plan, args.shard, args.failed_only)
        log.info("re-running %d image(s) of run %s", todo.num_rows, args.run_id)
        if todo.num_rows == 0:
            print(f"run {args.run_id}: nothing to re-run")
            return 0
        with ray_session(args.address) as local:
            placement = plan_for_cluster(cfg.resources, local)
            t0 = time.time()
            result = execute(todo, ctx, cfg, False, existing=existing, placement=placement)
            wall = time.time() - t0
        note_rerun(record, todo, wall)
        write_run(args.out, args.run_id, record)
        return _finish(args.out, args.run_id, record, cfg, wall, result, todo.num_rows, "rerun")


def _finish(out, run_id, record, cfg, wall, result, processed, kind) -> int:
    summary, report = finalize_run(out, run_id, record, cfg, wall, result, processed, kind)
    rundir = manifest.run_dir(out, run_id)
    ok = summary["verdict"] == "ok"
    c = summary["counts"]
    print(
        f"run {run_id}: {summary['planned']} planned; ok {c['ok']}, rejected {c['rejected']}, "
        f"failed {c['failed']}, skipped {c['skipped']}; "
        f"{summary['images_per_s'] or 0:.2f} images/s over {wall:.1f} s"
    )
    if summary["failures_by_type"]:
        print("failures: " + ", ".join(f"{k} {v}" for k, v in summary["failures_by_type"].items()))
    print(f"summary: {storage.join(rundir, 'summary.json')}")
    print(f"report:  {report}")
    if summary["write_failures"]:
        print(
            f"FAILED: {summary['write_failures']} image(s) could not be written to "
            f"{storage.redact(out)} "
            f"({summary['write_failure_example'][:300]}). Check that --out is writable and "
            f"has space, then: restyle rerun --out ... --run-id {run_id} --failed-only",
            file=sys.stderr,
        )
        return EXIT_OUTPUT_NOT_WRITTEN
    if not ok:
        print(
            f"FAILED: {summary['failed_ratio']:.1%} of images failed "
            f"(--max-failure-ratio {cfg.max_failure_ratio:.1%})"
        )
        return EXIT_TOO_MANY_FAILURES
    return 0
