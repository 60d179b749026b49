"""`restyle rerun`: one run's shard(s) or failed images re-processed in place
(``pipelines.nightly.driver.rerun``)."""

from __future__ import annotations

import argparse

from jobs.config import require
from jobs.nightly import common_args, report_run, run_config
from pipelines.nightly.driver import preflight, rerun


def register(sub: argparse._SubParsersAction) -> None:
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
    common_args(r)
    require(r, "--run-id", "--out")
    r.set_defaults(func=run_rerun)


def run_rerun(args) -> int:
    cfg = run_config(args)
    preflight(args.out, args.run_id)
    done = rerun(cfg, args.out, args.run_id, args.shard, args.failed_only, args.address)
    if done is None:
        print(f"run {args.run_id}: nothing to re-run")
        return 0
    return report_run(done)
