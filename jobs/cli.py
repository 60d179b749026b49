"""The `restyle` command: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from jobs import apply, nightly, sample_catalogue, segmentation, serve, style, verify
from pipelines.train_dist import TrainingStalledError
from stylecore.config import ConfigError
from stylecore.runlog import ContextFilter
from stylecore.training.style_gan import NonFiniteLossError

log = logging.getLogger("restyle")

# Each module registers one subcommand. Only working jobs are listed here.
_JOBS = (sample_catalogue, segmentation, style, apply, nightly, verify, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="restyle",
        description=(
            "Restyle learns a look from a few reference images and applies it to product "
            "photos, keeping the product recognisable. This version has the sample "
            "catalogue, product segmentation (edge-based and U-Net), style-model "
            "training and evaluation, restyling by hand, the nightly catalogue restyle on "
            "Ray Data with re-runs, and on-demand restyling over HTTP on Ray Serve. Run "
            "'restyle COMMAND --help' for each command's options."
        ),
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-v info, -vv debug)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for job in _JOBS:
        job.register(sub)
    return parser


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """Log to stderr with the run context (run_id, shard, ...) on every line."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    if verbose == 0 and not quiet:
        level = int(os.environ.get("RESTYLE_LOG_LEVEL", logging.INFO))
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s [%(ctx)s] %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    setup_logging(args.verbose, args.quiet)
    try:
        return int(args.func(args) or 0)
    except ConfigError as e:
        print(f"restyle {args.command}: config error: {e}", file=sys.stderr)
        return 2
    except (OSError, ValueError, NonFiniteLossError, TrainingStalledError) as e:
        # Bad input named by the user (a missing file, an undecodable image, a wrong model
        # folder): a clear line, not a traceback. -vv logs the traceback too.
        log.debug("traceback", exc_info=True)
        print(f"restyle {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"restyle {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
