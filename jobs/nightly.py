"""`restyle nightly`: the catalogue restyle on Ray Data (``pipelines.nightly.driver``); also
the flags and the closing lines it shares with `restyle rerun`."""

from __future__ import annotations

import argparse
import sys

from jobs.config import add_config_args, load_config, old_spelling, require
from pipelines.nightly.driver import Finished, check_run_id, nightly_run, preflight
from pipelines.nightly.runconfig import NightlyConfig

EXIT_TOO_MANY_FAILURES = 3
EXIT_OUTPUT_NOT_WRITTEN = 5


def common_args(p: argparse.ArgumentParser) -> None:
    """The flags `restyle nightly` and `restyle rerun` share."""
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
    common_args(p)
    require(p, "--images", "--styles", "--out")
    p.set_defaults(func=run_nightly)


def run_config(args) -> NightlyConfig:
    """The config from ``--config``, ``--set`` and the flags (``--shards``: nightly only)."""
    flags = {
        "shards": getattr(args, "shards", None),
        "max_failure_ratio": args.max_failure_ratio,
    }
    return load_config(NightlyConfig, args.config, args.set_, flags)


def run_nightly(args) -> int:
    check_run_id(args.run_id, args.resume)
    cfg = run_config(args)
    preflight(args.out, args.run_id if args.resume else None, args.styles, args.images)
    with nightly_run(
        cfg, args.images, args.styles, args.out, args.run_id, args.resume, args.full, args.address
    ) as done:
        return report_run(done)


def report_run(done: Finished) -> int:
    """Print a finished run's counts, failures and files; the exit code: 0, or 5 when
    outputs could not be written, 3 when too many images failed."""
    summary, run_id = done.summary, done.run_id
    c = summary["counts"]
    print(
        f"run {run_id}: {summary['planned']} planned; ok {c['ok']}, rejected {c['rejected']}, "
        f"failed {c['failed']}, skipped {c['skipped']}; "
        f"{summary['images_per_s'] or 0:.2f} images/s over {done.wall:.1f} s"
    )
    if summary["failures_by_type"]:
        print("failures: " + ", ".join(f"{k} {v}" for k, v in summary["failures_by_type"].items()))
    print(f"summary: {done.summary_uri}")
    print(f"report:  {done.report}")
    if summary["write_failures"]:
        print(
            f"FAILED: {summary['write_failures']} image(s) could not be written to "
            f"{done.out_shown} "
            f"({summary['write_failure_example'][:300]}). Check that --out is writable and "
            f"has space, then: restyle rerun --out ... --run-id {run_id} --failed-only",
            file=sys.stderr,
        )
        return EXIT_OUTPUT_NOT_WRITTEN
    if summary["verdict"] != "ok":
        print(
            f"FAILED: {summary['failed_ratio']:.1%} of images failed "
            f"(--max-failure-ratio {done.max_failure_ratio:.1%})"
        )
        return EXIT_TOO_MANY_FAILURES
    return 0
