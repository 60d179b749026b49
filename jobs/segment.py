"""`restyle segment`: product masks and overlay previews for a few photos
(``pipelines.segment``)."""

from __future__ import annotations

import argparse

from jobs.config import load_config, require, segmenter_args
from pipelines.segment import segment_images
from stylecore.segmentation import SegmenterConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "segment",
        help="write product masks and overlay previews",
        description="Segment each IMAGE into product and background. Writes "
        "<name>.mask.png (0-255 soft alpha) and <name>.overlay.jpg (the "
        "background dimmed, the outline drawn) into OUT.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or URIs")
    p.add_argument("-o", "--out", metavar="DIR", help="output folder or URI")
    segmenter_args(p)
    require(p, "--out")
    p.set_defaults(func=run_segment)


def run_segment(args) -> int:
    cfg = load_config(SegmenterConfig, args.config, args.set_, {"method": args.segmenter})
    for r in segment_images(args.images, args.out, cfg, args.model):
        m, safety = r.mask, r.safety
        flags = ",".join(m.flags) or "-"
        verdict = "publish-safe" if safety.ok else f"{safety.reason}: " + "; ".join(safety.details)
        print(
            f"{r.image_id}: coverage {m.coverage:.3f} confidence {m.confidence:.2f} "
            f"flags {flags} method {m.method} ({r.ms:.0f} ms); {verdict}"
        )
    return 0
