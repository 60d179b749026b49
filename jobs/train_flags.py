"""Flags the style-model commands share: ``--references`` (with its old spelling
``--styles``), the Ray Train group (``--workers``' resources, failures, ``--address``) and
those flags as ``dist.*`` config keys."""

from __future__ import annotations

import argparse

from jobs.config import is_set, old_spelling


def references_arg(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument("--references", nargs="+", metavar="DIR", help=text)
    old_spelling(p, "--styles", "--references", nargs="+")


def dist_args(p: argparse.ArgumentParser) -> None:
    dist = p.add_argument_group("Ray Train (--workers)")
    dist.add_argument("--gpus-per-worker", type=float, help="GPUs per worker (default 0)")
    dist.add_argument("--cpus-per-worker", type=float, help="CPUs per worker (default 1)")
    dist.add_argument(
        "--max-failures",
        type=int,
        help="worker or node failures to survive by restarting from the latest "
        "checkpoint (default 2)",
    )
    dist.add_argument("--address", help="Ray cluster (default: RAY_ADDRESS, else a local Ray)")


def dist_overrides(args: argparse.Namespace) -> dict:
    """The command line's Ray Train options as ``dist.*`` config keys."""
    return {
        "dist.workers": args.workers,
        "dist.gpus_per_worker": args.gpus_per_worker,
        "dist.cpus_per_worker": args.cpus_per_worker,
        "dist.max_failures": args.max_failures,
        "dist.checkpoint_every": args.checkpoint_every,
    }


def cpus_given(args: argparse.Namespace) -> bool:
    """Did the user set ``dist.cpus_per_worker`` (flag, ``--set`` or ``--config``)? If not,
    a local run may lower it to what fits."""
    return is_set("dist.cpus_per_worker", args.config, args.set_, args.cpus_per_worker)
