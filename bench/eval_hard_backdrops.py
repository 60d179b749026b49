"""Segmentation on backdrops that no training draws.

The held-out sample catalogue's RGBA cut-outs (true alpha) are put on four studio sweeps,
none of them in the sample catalogue or in the U-Net's augmentation (which draws flat,
gradient and radially lit backdrops, never a wall meeting a floor):
- a light-grey wall and floor with a soft horizon and a falloff to the sides;
- a near-white sweep with a radial falloff;
- a dark charcoal wall and floor (the real shop photos on black and dark grey);
- a saturated teal paper sweep, lit from one side.
Each gets the catalogue's contact shadow and is saved as JPEG q80. Reported: mean and
worst IoU per segmenter (edge, unet, u2net, auto as configured by default, and auto led by
U^2-Net) and backdrop, and optionally for a previous U-Net model folder (e.g. the one
before a retraining).

    .venv/bin/restyle sample-catalogue /tmp/heldout --seed 2026 --count 96
    .venv/bin/python bench/eval_hard_backdrops.py --heldout /tmp/heldout \\
        [--model NEW_MODEL_DIR] [--previous OLD_MODEL_DIR] \\
        [--json bench/results/hard_backdrops.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipelines.models import DEFAULT_SEGMENTER_MODEL, load_segmenter
from stylecore.io.codec import decode_untrusted, encode_image
from stylecore.segmentation import EdgeSegmenter, SegmenterConfig
from stylecore.synth.products import contact_shadow


def sweep(h: int, w: int, kind: str, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == "grey":
        horizon = rng.uniform(0.55, 0.75) * h
        wall = 0.86 - 0.06 * ((xx - w / 2) / (w / 2)) ** 2
        floor = 0.80 + 0.06 * (yy - horizon) / h
        v = cv2.GaussianBlur(np.where(yy < horizon, wall, floor), (0, 0), 0.05 * h)
        return np.dstack([v * 0.99, v, v * 1.01])
    if kind == "dark":
        horizon = rng.uniform(0.55, 0.75) * h
        wall = 0.2 - 0.05 * ((xx - w / 2) / (w / 2)) ** 2
        floor = 0.16 + 0.05 * (yy - horizon) / h
        v = cv2.GaussianBlur(np.where(yy < horizon, wall, floor), (0, 0), 0.05 * h)
        return np.dstack([v, v, v * 1.03])
    if kind == "colour":
        side = 1.0 - 0.25 * xx / w - 0.1 * yy / h  # lit from the left
        return np.dstack([0.15 * side, 0.52 * side, 0.55 * side])
    v = 0.97 - 0.2 * (((xx - w / 2) / w) ** 2 + ((yy - 0.4 * h) / h) ** 2)
    return np.dstack([v, v, v])


KINDS = {"grey": "grey sweep", "white": "near-white", "dark": "dark sweep", "colour": "teal paper"}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--heldout", default="/tmp/heldout", help="a sample catalogue folder")
    ap.add_argument("--model", default=DEFAULT_SEGMENTER_MODEL, help="U-Net model folder")
    ap.add_argument("--previous", help="an earlier U-Net model folder to compare")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    with open(os.path.join(args.heldout, "catalogue.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if "rgba" in r["format"]]
    segs = {
        "edge": EdgeSegmenter(),
        "unet": load_segmenter(SegmenterConfig(method="unet"), args.model),
        "u2net": load_segmenter(SegmenterConfig(method="u2net")),
        "auto": load_segmenter(SegmenterConfig(), args.model),
        "auto (U^2-Net led)": load_segmenter(SegmenterConfig(network="u2net"), args.model),
    }
    if args.previous:
        segs["unet (previous)"] = load_segmenter(SegmenterConfig(method="unet"), args.previous)
    ious: dict[str, dict[str, list[float]]] = {k: {kind: [] for kind in KINDS} for k in segs}
    rng = np.random.default_rng(5)
    for r in rows:
        with open(os.path.join(args.heldout, r["uri"]), "rb") as f:
            im = decode_untrusted(f.read()).image
        a = im[..., 3].astype(np.float32) / 255.0
        fg, gt = im[..., :3].astype(np.float32) / 255.0, a >= 0.5
        for kind in KINDS:
            bg = sweep(*a.shape, kind, rng).astype(np.float32)
            bg = bg * (1 - contact_shadow(a, strength=0.45)[..., None])
            photo = fg * a[..., None] + bg * (1 - a[..., None])
            photo = np.clip(photo * 255 + 0.5, 0, 255).astype(np.uint8)
            photo = decode_untrusted(encode_image(photo, "jpg", 80)).image
            for name, seg in segs.items():
                m = seg.segment(photo).alpha >= 0.5
                ious[name][kind].append(float((m & gt).sum() / max((m | gt).sum(), 1)))
    res = {
        name: {
            kind: {"mean": float(np.mean(v)), "worst": float(np.min(v)), "n": len(v)}
            for kind, v in by.items()
        }
        for name, by in ious.items()
    }
    for name, by in res.items():
        cells = "   ".join(
            f"{label} {by[k]['mean']:.3f} (worst {by[k]['worst']:.2f})"
            for k, label in KINDS.items()
        )
        print(f"{name:16s} {cells}   n={by['grey']['n']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "hard_backdrops", "heldout": args.heldout, **res}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
