"""Publish safety measured: the broken-mask test and the studio-shot check.

1. **Broken masks.** For every photo of a sample catalogue that has a backdrop (RGBA
   cut-outs carry their own alpha and are not screened), the ground-truth mask and four
   broken copies (``stylecore.segmentation.defects``: hole, bite, dropped thin parts, a
   strip of backdrop kept) go through the gate's mask screen. Reported: the share of correct
   masks passed and of broken ones held back, per defect.
2. **The default segmenter's own masks.** The share of photos whose ``auto`` mask is held
   back, and the IoU of the masks that pass.
3. **Scenes.** scikit-image's real photographs that are not product shots (astronaut,
   cat, coffee, rocket, cameraman, coins, grass, gravel, tissue) must be held back as
   ``not_a_studio_shot``; every catalogue photo must pass that check.

    .venv/bin/restyle sample-catalogue /tmp/heldout --seed 2026 --count 96
    .venv/bin/python bench/bench_mask_gate.py --images /tmp/heldout/catalogue.csv \
        --json bench/results/mask_gate.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipelines.models import load_segmenter
from stylecore.io.codec import decode_untrusted
from stylecore.segmentation import SegmenterConfig, iou
from stylecore.segmentation.defects import DEFECTS, trial
from stylecore.segmentation.integrity import screen, studio_shot

SCENES = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "camera",
    "coins",
    "grass",
    "gravel",
    "immunohistochemistry",
)


def scene_images():
    import skimage.data

    for name in SCENES:
        yield name, getattr(skimage.data, name)()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--images", required=True, help="a sample catalogue's catalogue.csv")
    ap.add_argument("--seed", type=int, default=0, help="seed of the injected defects")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args()
    root = os.path.dirname(os.path.abspath(args.images))
    with open(args.images, newline="") as f:
        rows = list(csv.DictReader(f))
    seg = load_segmenter(SegmenterConfig())
    rng = np.random.default_rng(args.seed)
    passed: dict[str, list[bool]] = defaultdict(list)
    auto_held, auto_iou_kept, studio_fail = [], [], []
    t0 = time.perf_counter()
    for k, r in enumerate(rows, 1):
        with open(os.path.join(root, r["uri"]), "rb") as f:
            img = decode_untrusted(f.read()).image
        if not studio_shot(img[..., :3]).ok:
            studio_fail.append(r["image_id"])
        if "rgba" in r["format"]:
            continue
        with open(os.path.join(root, r["mask_uri"]), "rb") as f:
            gt = decode_untrusted(f.read()).image
        gt = (gt[..., 0] if gt.ndim == 3 else gt) >= 128
        rgb = img[..., :3]
        for kind, ok in trial(rgb, gt, rng).items():
            passed[kind].append(ok)
        m = seg.segment(rgb)
        v = screen(rgb, m)
        if v.ok:
            auto_iou_kept.append(iou(m.alpha, gt))
        else:
            auto_held.append({"image_id": r["image_id"], "reason": v.reason, "details": v.details})
        print(f"{k}/{len(rows)} {r['image_id']}", file=sys.stderr)
    broken = [not ok for kind in DEFECTS for ok in passed[kind]]
    scenes = {
        name: studio_shot(img).scores | {"held_back": not studio_shot(img).ok}
        for name, img in scene_images()
    }
    res = {
        "benchmark": "mask_gate",
        "catalogue": args.images,
        "screened_photos": len(passed["correct"]),
        "correct_passed": float(np.mean(passed["correct"])),
        "broken_held_back": float(np.mean(broken)),
        "broken_held_back_by_defect": {
            kind: float(1 - np.mean(passed[kind])) for kind in DEFECTS if passed[kind]
        },
        "broken_masks": len(broken),
        "auto_masks_held_back": len(auto_held),
        "auto_held_back": auto_held,
        "auto_iou_of_passed": float(np.mean(auto_iou_kept)) if auto_iou_kept else None,
        "catalogue_photos_not_studio": studio_fail,
        "scenes_held_back": float(np.mean([s["held_back"] for s in scenes.values()])),
        "scenes": scenes,
        "wall_s": time.perf_counter() - t0,
    }
    print(
        f"correct masks passed {res['correct_passed']:.1%} of {res['screened_photos']}; "
        f"broken held back {res['broken_held_back']:.1%} of {len(broken)} "
        + ", ".join(f"{k} {v:.0%}" for k, v in res["broken_held_back_by_defect"].items())
    )
    print(
        f"auto segmenter: {len(auto_held)} of {res['screened_photos']} held back, IoU of the "
        f"rest {res['auto_iou_of_passed']:.3f}; catalogue photos not studio: {len(studio_fail)}; "
        f"scenes held back {res['scenes_held_back']:.0%} of {len(scenes)}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
