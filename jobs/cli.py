"""The `restyle` command: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import logging
import sys

from jobs import (
    add_style,
    apply,
    eval_segmentation,
    eval_style,
    nightly,
    rerun,
    sample_catalogue,
    segment,
    serve,
    train,
    train_segmenter,
    verify,
)
from jobs.config import check_required
from jobs.logs import LEVEL_ENV, log_level, quiet_ray, setup_logging
from pipelines.training.watchdog import TrainingStalledError
from stylecore.config import ConfigError
from stylecore.training.style_gan import NonFiniteLossError

log = logging.getLogger("restyle")

# Each module registers one subcommand. Only working jobs are listed here.
_JOBS = (
    sample_catalogue,
    segment,
    eval_segmentation,
    train_segmenter,
    train,
    add_style,
    eval_style,
    apply,
    nightly,
    rerun,
    verify,
    serve,
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("restyle")
    except PackageNotFoundError:
        return "unknown (not installed)"


class _HelpFormatter(argparse.HelpFormatter):
    """Shows a flag's default in --help when it has a real one the help does not name."""

    def _get_help_string(self, action):
        text = action.help or ""
        d = action.default
        if (
            d not in (None, False, [], argparse.SUPPRESS)
            and "default" not in text
            and action.option_strings
            and text
        ):
            text += f" (default: {d})"
        return text


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    parser.add_argument("--version", action="version", version=f"restyle {_version()}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help=f"debug log output (the default level is INFO, or {LEVEL_ENV}: a level name)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="warnings and errors only, Ray's start-up lines included",
    )
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", title="commands", parser_class=_Parser
    )
    for job in _JOBS:
        job.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    check_required(args)
    try:
        level = log_level(args.verbose, args.quiet)
    except ConfigError as e:
        print(f"restyle: config error: {e}", file=sys.stderr)
        return 2
    setup_logging(level)
    if args.quiet:
        quiet_ray()
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
