"""The command line's shared pieces: ``--config``/``--set`` (read by
``pipelines.config.load_config``, re-exported here), old flag spellings, required flags
checked after parsing, shared help texts, and the segmenter flags of `restyle segment` and
`restyle eval-segmentation`."""

from __future__ import annotations

import argparse
import os
import sys

from pipelines.config import is_set, load_config
from pipelines.models import DEFAULT_SEGMENTER_MODEL
from stylecore.segmentation import METHODS

__all__ = [
    "SEGMENTER_HELP",
    "add_config_args",
    "check_required",
    "is_set",
    "load_config",
    "old_spelling",
    "require",
    "segmenter_args",
]


SEGMENTER_HELP = (
    "segmentation method: auto (default; the U-Net's mask, unless it fails the integrity "
    "check while the edge mask passes and mostly agrees with it; a mask still doubted gets "
    "a second try led by U^2-Net, kept when it passes clearly and mostly agrees (--set "
    "retry=false: none); --set network=u2net, in "
    "apply and nightly --set segmenter.network=u2net, leads with U^2-Net instead), edge "
    "(Sobel/Canny and morphology), unet (the U-Net trained here) or u2net (U^2-Net alone, "
    "pretrained on real photographs)"
)


def add_config_args(parser: argparse.ArgumentParser, example: str) -> None:
    """``--config`` and ``--set``; ``example`` is a ``KEY=VALUE`` this command accepts."""
    parser.add_argument(
        "--config",
        metavar="FILE.yaml",
        help="YAML file with config keys (flags given here override it)",
    )
    parser.add_argument(
        "--set",
        dest="set_",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help=f"override one config key, e.g. --set {example} (repeatable; dotted keys reach "
        "nested sections)",
    )


class _OldSpelling(argparse.Action):
    """A flag's old spelling: still accepted, with a warning naming the new one."""

    def __init__(self, option_strings, dest, new: str = "", **kwargs):
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None):
        print(
            f"restyle: warning: {option_string} is an old spelling of {self.new}; use {self.new}",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


def old_spelling(parser: argparse.ArgumentParser, old: str, new: str, **kwargs) -> None:
    """Accept ``old`` for the flag ``new`` (same dest), hidden from --help."""
    dest = new.lstrip("-").replace("-", "_")
    parser.add_argument(
        old, dest=dest, action=_OldSpelling, new=new, help=argparse.SUPPRESS, **kwargs
    )


def require(parser: argparse.ArgumentParser, *flags: str) -> None:
    """Flags the command needs, checked after parsing (``restyle`` does it for every
    command): argparse's own ``required`` would refuse a flag given by an old spelling."""
    parser.set_defaults(_required=flags, _parser=parser)


def check_required(args: argparse.Namespace) -> None:
    missing = [
        f
        for f in getattr(args, "_required", ())
        if getattr(args, f.lstrip("-").replace("-", "_"), None) in (None, [])
    ]
    if missing:
        args._parser.error(f"the following arguments are required: {', '.join(missing)}")


def segmenter_args(p: argparse.ArgumentParser) -> None:
    """``--segmenter`` (old spelling ``--method``), ``--model`` (the U-Net) and the
    config flags, whose keys are ``SegmenterConfig``'s."""
    p.add_argument("--segmenter", choices=METHODS, help=SEGMENTER_HELP)
    old_spelling(p, "--method", "--segmenter", choices=METHODS)
    p.add_argument(
        "--model",
        metavar="DIR",
        help="U-Net model folder (default: the demo model, "
        f"{os.path.relpath(DEFAULT_SEGMENTER_MODEL)})",
    )
    add_config_args(p, example="edge.working_size=768")
