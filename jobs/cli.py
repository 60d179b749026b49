"""The `restyle` command: one entry point, one subcommand per job."""

from __future__ import annotations

import argparse
import atexit
import logging
import os
import re
import sys
import threading

from jobs import apply, nightly, sample_catalogue, segmentation, serve, style, verify
from jobs.config import check_required
from pipelines.training.watchdog import TrainingStalledError
from stylecore.config import ConfigError
from stylecore.runlog import ContextFilter
from stylecore.training.style_gan import NonFiniteLossError

log = logging.getLogger("restyle")

# Each module registers one subcommand. Only working jobs are listed here.
_JOBS = (sample_catalogue, segmentation, style, apply, nightly, verify, serve)


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LEVEL_ENV = "RESTYLE_LOG_LEVEL"


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


def log_level(verbose: int = 0, quiet: bool = False) -> int:
    """-v: DEBUG; -q: WARNING; else RESTYLE_LOG_LEVEL (a name or a number), else INFO.
    Raises ``ConfigError`` for a level it does not know."""
    if verbose:
        return logging.DEBUG
    if quiet:
        return logging.WARNING
    raw = os.environ.get(LEVEL_ENV, "").strip()
    if not raw:
        return logging.INFO
    if raw.isdigit():
        return int(raw)
    if raw.upper() in LEVELS:
        return getattr(logging, raw.upper())
    raise ConfigError(f"{LEVEL_ENV}={raw!r}: use one of {', '.join(LEVELS)} (or a number)")


# Lines Ray prints on every run that say nothing about this run. Ray's C++ core writes them
# to file descriptor 2 directly, past Python's logging: ray-project/ray#57733 (Ray Data's
# actor pools always have a constructor argument in the object store).
RAY_NOISE = (
    re.compile(rb"core_worker\.cc:\d+: Actor with class name: .* has constructor arguments in "
               rb"the object store and max_restarts > 0"),
)  # fmt: skip


def _forward(src: int, dst: int, noise: tuple[re.Pattern, ...]) -> None:
    with os.fdopen(src, "rb", buffering=0) as pipe:
        pending = b""
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            out = b"".join(ln + b"\n" for ln in lines if not any(p.search(ln) for p in noise))
            if out:
                os.write(dst, out)
        if pending:
            os.write(dst, pending)


def quiet_ray() -> None:
    """For -q: Ray's Python loggers at ERROR (``init_ray`` does the rest), and the lines of
    ``RAY_NOISE``, which Ray's C++ core writes straight to stderr, filtered out of this
    process's stderr. Everything else on stderr passes through unchanged."""
    logging.getLogger("ray").setLevel(logging.ERROR)
    if os.environ.get("RESTYLE_NO_STDERR_FILTER"):
        return
    sys.stderr.flush()
    original = os.dup(2)
    r, w = os.pipe()
    os.dup2(w, 2)
    os.close(w)
    thread = threading.Thread(target=_forward, args=(r, original, RAY_NOISE), daemon=True)
    thread.start()

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(original, 2)  # the pipe's last writer in this process goes: EOF
        thread.join(timeout=2.0)

    atexit.register(restore)


def setup_logging(level: int = logging.INFO) -> None:
    """Log to stderr with the run context (run_id, shard, ...) on every line."""
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
