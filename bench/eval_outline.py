"""The U-Net's outline at shop-photo sizes: `auto` with the outline redrawn at 384 px
(``SegmenterConfig.outline_size``, the default) against it drawn at the U-Net's 256 px
only (``outline_size=0``), side by side on the same photos.

The held-out sample catalogue is rendered at 384 px, where the outline is never redrawn
(it is redrawn only on photos at least twice ``outline_size`` on the long side), so this
bench renders its own: every product category on every backdrop of the sample-catalogue
generator, at ``--size`` px on the long side (4:3, alternately landscape and portrait),
light products on half of them, saved as JPEG q90 and decoded as the nightly decodes. The
generator's masks are exact. Each photo is also flattened onto a light-grey gradient
(``eval_cutouts.flatten``: a shop's retouched cut-out) and restyled with the ``wood``
look, and the true product pixels more than 3 px inside the true outline that changed by
more than 12 levels are counted (``eval_cutouts.altered_share``).

    .venv/bin/python bench/eval_outline.py [--size 1600] [--seeds 2] \\
        [--json bench/results/outline.json] [--against KEY=VALUE ...]

``--against`` compares the default with another segmenter config (e.g. one of its
steps turned off) instead of with the 256 px outline.

Reported per configuration: mean and worst IoU, boundary F (3 px), the photos the
publish-safety screen holds back, and on the grey cut-outs the published photos with
more than 0.5% of the product altered; and the median time of `auto` per photo.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from eval_cutouts import altered_share, flatten

from pipelines.config import ConfigError, load_config
from pipelines.models import load_segmenter, load_style_model
from stylecore.io.codec import decode_untrusted, encode_image
from stylecore.segmentation import SegmenterConfig, boundary_f, iou
from stylecore.segmentation.integrity import screen
from stylecore.synth.products import BACKGROUNDS, CATEGORIES, ShotSpec, render_shot
from stylecore.transfer.restyle import TransferConfig, restyle_image


def shots(size: int, seeds: int):
    """``(name, photo, truth)`` for every category x backdrop x seed."""
    k = 0
    for seed in range(seeds):
        for c in CATEGORIES:
            for bg in BACKGROUNDS:
                long, short = size, size * 3 // 4
                w, h = (long, short) if k % 2 == 0 else (short, long)
                spec = ShotSpec(c, w, h, bg, light_product=(k // 2) % 2 == 1)
                shot = render_shot(spec, np.random.default_rng(1000 * seed + k))
                photo = decode_untrusted(encode_image(shot.image, "jpg", 90)).image[..., :3]
                yield f"{k:03d}-{c}-{bg}", photo, shot.mask >= 128
                k += 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size", type=int, default=1600, help="long side of the renders (px)")
    ap.add_argument("--seeds", type=int, default=2, help="renders per category and backdrop")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument(
        "--against", metavar="KEY=VALUE", action="append", default=[],
        help="compare the default with this segmenter config (repeatable) instead of with "
        "the outline drawn at 256 px only, e.g. --against clean.faint_delta=0",
    )  # fmt: skip
    args = ap.parse_args()
    base = SegmenterConfig()
    if args.against:
        try:
            other = load_config(SegmenterConfig, None, args.against)
        except ConfigError as e:
            ap.error(str(e))
        configs = {"default": base, " ".join(args.against): other}
    else:
        configs = {
            f"outline {base.outline_size} px (default)": base,
            "outline 256 px only": dataclasses.replace(base, outline_size=0),
        }
    segs = {name: load_segmenter(cfg) for name, cfg in configs.items()}
    model = load_style_model()
    res = {name: {"iou": [], "bf": [], "held": [], "altered": [], "s": []} for name in segs}
    for name_i, photo, truth in shots(args.size, args.seeds):
        grey = flatten(photo, truth.astype(np.float32), "grey")
        line = [name_i]
        for name, seg in segs.items():
            t = time.perf_counter()
            m = seg.segment(photo)
            res[name]["s"].append(time.perf_counter() - t)
            res[name]["iou"].append(iou(m.alpha, truth))
            res[name]["bf"].append(boundary_f(m.alpha, truth))
            if not (m.usable and screen(photo, m, configs[name].integrity).ok):
                res[name]["held"].append(name_i)
            mg = seg.segment(grey)
            if mg.usable and screen(grey, mg, configs[name].integrity).ok:
                styled = restyle_image(
                    grey, mg.alpha, model, TransferConfig(style="wood"), image_id=name_i
                ).image
                res[name]["altered"].append((name_i, altered_share(grey, styled, truth)))
            line.append(f"{res[name]['iou'][-1]:.4f}/{res[name]['bf'][-1]:.3f}")
        print("  " + "  ".join(line), flush=True)
    summary = {}
    for name, r in res.items():
        over = [i for i, s in r["altered"] if s > 0.005]
        summary[name] = {
            "n": len(r["iou"]),
            "iou_mean": float(np.mean(r["iou"])),
            "iou_worst": float(np.min(r["iou"])),
            "boundary_f_mean": float(np.mean(r["bf"])),
            "held_back": r["held"],
            "grey_cutouts_published": len(r["altered"]),
            "grey_cutouts_altered_over_0.5pct": over,
            "altered_worst": max((s for _, s in r["altered"]), default=0.0),
            "auto_s_median": float(np.median(r["s"])),
        }
        s = summary[name]
        print(
            f"{name}: n={s['n']} IoU {s['iou_mean']:.4f} (worst {s['iou_worst']:.3f}), "
            f"boundary F {s['boundary_f_mean']:.4f}, held back {len(s['held_back'])}; grey "
            f"cut-outs published {s['grey_cutouts_published']}, {len(over)} with > 0.5% of "
            f"the product altered (worst {s['altered_worst']:.2%}); auto "
            f"{s['auto_s_median']:.2f} s median"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"benchmark": "outline", "size": args.size, "results": summary}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
