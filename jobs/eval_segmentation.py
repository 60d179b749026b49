"""`restyle eval-segmentation`: masks measured against ground truth (``pipelines.seg_eval``)."""

from __future__ import annotations

import argparse
import json

from jobs.config import load_config, require, segmenter_args
from pipelines import datasets, seg_eval, storage
from pipelines.models import load_segmenter
from stylecore.segmentation import SegmenterConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval-segmentation",
        help="measure masks against ground truth",
        description="Segment every image and compare with its ground-truth "
        "mask: mean IoU, boundary F-score (3 px tolerance) and per-category "
        "numbers. --images takes a folder (with --masks) or a catalogue table "
        "with mask_uri (e.g. the sample catalogue's catalogue.csv).",
    )
    p.add_argument("--images", help="folder/prefix of images, or catalogue table")
    p.add_argument("--masks", help="folder of masks matched to images by file name stem")
    p.add_argument("--json", metavar="FILE", help="also write per-image results as JSON")
    segmenter_args(p)
    require(p, "--images")
    p.set_defaults(func=run_eval)


def run_eval(args) -> int:
    cfg = load_config(SegmenterConfig, args.config, args.set_, {"method": args.segmenter})
    seg = load_segmenter(cfg, args.model)
    refs = [r for r in datasets.refs_from(args.images, args.masks) if r.mask_uri]
    if not refs:
        raise SystemExit(f"eval-segmentation: no images with masks under {args.images}")
    rows = seg_eval.measure(seg, refs, cfg.integrity)
    summary = seg_eval.summarise(rows, seg.name)
    print(seg_eval.report_text(rows, summary))
    if args.json:
        storage.write_bytes(
            args.json, json.dumps({"summary": summary, "images": rows}, indent=2).encode()
        )
    return 0
