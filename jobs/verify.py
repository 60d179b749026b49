"""`restyle verify`: re-read a run's published images and check them against its manifest."""

from __future__ import annotations

import argparse
import json
import sys

from jobs.config import require
from pipelines import storage
from pipelines.nightly.record import read_run
from stylecore.runlog import log_context

EXIT_VERIFY_FAILED = 4


def register(sub: argparse._SubParsersAction) -> None:
    v = sub.add_parser(
        "verify",
        help="re-read a run's published images and check them against its manifest",
        description="Check run RUN_ID under OUT: every planned image has exactly one "
        "manifest row (none lost, duplicated or unplanned); every published (ok) image and "
        "every skipped row's earlier output exists and hashes to the manifest's "
        "output_sha256; every published image's mask exists. Prints the counts as JSON. "
        f"Exit code 0 when all is well, {EXIT_VERIFY_FAILED} when anything is lost, "
        "duplicated, missing or corrupt.",
    )
    v.add_argument("-o", "--out", help="the run's output root (folder or URI)")
    v.add_argument("--run-id", help="the run to check (under --out/runs/)")
    require(v, "--out", "--run-id")
    v.add_argument("--threads", type=int, default=16, help="parallel reads (default 16)")
    v.add_argument("--json", metavar="FILE", help="also write the result here")
    v.set_defaults(func=run_verify)


def run_verify(args) -> int:
    from pipelines.nightly.verify import verify_run

    with log_context(run_id=args.run_id):
        read_run(args.out, args.run_id)  # a clear error for a run that does not exist
        res = verify_run(args.out, args.run_id, threads=args.threads)
    text = json.dumps(res, indent=2)
    print(text)
    if args.json:
        storage.write_bytes(args.json, text.encode())
    if not res["ok"]:
        bad = ", ".join(f"{k} {n}" for k, n in res["problems"].items() if n)
        print(f"run {args.run_id}: VERIFY FAILED: {bad}", file=sys.stderr)
        return EXIT_VERIFY_FAILED
    print(
        f"run {args.run_id}: verified {res['objects_checked']} objects of {res['rows']} rows: "
        "none lost, duplicated, missing or corrupt"
        + (f" ({res['unverifiable']} without a recorded hash)" if res["unverifiable"] else ""),
        file=sys.stderr,
    )
    return 0
