"""Product cut-outs flattened onto white and onto a light-grey gradient, as a shop's
retouched catalogue images are: segmentation IoU, publish rate and altered products.

Two sets of cut-outs, each flattened with its alpha onto pure white and onto a light-grey
gradient (L* about 92 at the top to 83 at the bottom, darker to the sides), no shadow,
saved as JPEG q90 and decoded as the nightly decodes:
- the held-out sample catalogue (`restyle sample-catalogue --seed 2026`): renders with
  their exact masks;
- real shop photos (e.g. the Vendure shots: `npm pack @vendure/create@3.7.3`) that the
  publish-safety screen publishes, with the default segmenter's mask of the original
  photo as the truth. That truth is a good mask looked at by eye, not an exact matte, and
  it is the default segmenter's own: read the figures as agreement with it.

Reported per set and backdrop: mean and worst IoU of the U-Net, the edge segmenter and
`auto` (the default), `auto` without the clean-backdrop steps (`segmenter.clean`), the
photos the screen publishes, and among them those with more than 0.5% of the true
product altered by `restyle` with the `wood` look (pixels more than 3 px inside the true
outline changed by more than 12 levels in any channel).

    .venv/bin/python bench/eval_cutouts.py --heldout /tmp/heldout \\
        --real package/assets/images [--json bench/results/cutouts.json]

``--set KEY=VALUE`` changes the segmenter's config as `restyle eval-segmentation` does
(e.g. ``--set clean.grow_delta=0`` for `auto` without the faint-edge join), and
``--model DIR`` swaps the U-Net (as for `restyle eval-segmentation`); on the real set the
truth is then that model's own `auto` mask, so compare real-set figures across models
with care.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import glob
import json
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipelines.config import load_config
from pipelines.models import load_segmenter, load_style_model
from stylecore.config import ConfigError
from stylecore.io.codec import decode_untrusted, encode_image
from stylecore.segmentation import SegmenterConfig
from stylecore.segmentation.clean import CleanConfig
from stylecore.segmentation.integrity import screen
from stylecore.transfer.restyle import TransferConfig, restyle_image

BACKDROPS = ("white", "grey")


def backdrop(kind: str, h: int, w: int) -> np.ndarray:
    if kind == "white":
        return np.ones((h, w, 3), np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    v = 0.90 - 0.10 * yy / h - 0.04 * ((xx - w / 2) / (w / 2)) ** 2
    return np.dstack([v, v, v])


def flatten(rgb: np.ndarray, alpha: np.ndarray, kind: str) -> np.ndarray:
    fg = rgb.astype(np.float32) / 255.0
    a = alpha.astype(np.float32)[..., None]
    photo = fg * a + backdrop(kind, *alpha.shape) * (1.0 - a)
    photo = np.clip(photo * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return decode_untrusted(encode_image(photo, "jpg", 90)).image[..., :3]


def heldout_cutouts(folder: str):
    with open(os.path.join(folder, "catalogue.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        with open(os.path.join(folder, r["uri"]), "rb") as fh:
            im = decode_untrusted(fh.read()).image
        if im.shape[-1] == 4:
            alpha = im[..., 3].astype(np.float32) / 255.0
        else:
            alpha = cv2.imread(os.path.join(folder, r["mask_uri"]), 0).astype(np.float32) / 255.0
        yield r["image_id"], im[..., :3], alpha


def real_cutouts(folder: str, seg, cfg: SegmenterConfig):
    for f in sorted(glob.glob(os.path.join(folder, "*.jpg"))):
        with open(f, "rb") as fh:
            img = decode_untrusted(fh.read()).image[..., :3]
        mask = seg.segment(img)
        if mask.usable and screen(img, mask, cfg.integrity).ok:
            yield os.path.basename(f)[:-4], img, mask.alpha


def altered_share(original: np.ndarray, output: np.ndarray, truth: np.ndarray) -> float:
    inner = cv2.erode(truth.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    if not inner.any():
        return 0.0
    diff = np.abs(original.astype(np.int16) - output.astype(np.int16)).max(axis=-1)
    return float((inner & (diff > 12)).sum()) / float(truth.sum())


def evaluate(cutouts, segs, cfg: SegmenterConfig, model) -> dict:
    names = list(segs)
    out: dict = {k: {"iou": {n: [] for n in names}, "published": 0, "altered": [], "n": 0}
                 for k in BACKDROPS}  # fmt: skip
    for image_id, rgb, alpha in cutouts:
        truth = alpha >= 0.5
        for kind in BACKDROPS:
            photo = flatten(rgb, alpha, kind)
            res = out[kind]
            res["n"] += 1
            masks = {n: s.segment(photo) for n, s in segs.items()}
            for n, m in masks.items():
                got = m.alpha >= 0.5
                res["iou"][n].append(float((got & truth).sum() / max((got | truth).sum(), 1)))
            chosen = masks["auto"]
            if chosen.usable and screen(photo, chosen, cfg.integrity).ok:
                res["published"] += 1
                styled = restyle_image(
                    photo, chosen.alpha, model, TransferConfig(style="wood"), image_id=image_id
                ).image
                share = altered_share(photo, styled, truth)
                res["altered"].append((image_id, share))
        print(f"  {image_id}: " + "  ".join(
            f"{k} " + " ".join(f"{n} {out[k]['iou'][n][-1]:.3f}" for n in names)
            for k in BACKDROPS), flush=True)  # fmt: skip
    summary = {}
    for kind, res in out.items():
        over = [(i, s) for i, s in res["altered"] if s > 0.005]
        summary[kind] = {
            "n": res["n"],
            "iou_mean": {n: float(np.mean(v)) for n, v in res["iou"].items()},
            "iou_worst": {n: float(np.min(v)) for n, v in res["iou"].items()},
            "published": res["published"],
            "altered_over_0.5pct": len(over),
            "altered_worst": max((s for _, s in res["altered"]), default=0.0),
            "altered_photos": [i for i, _ in over],
        }
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--heldout", help="a sample catalogue folder (seed 2026)")
    ap.add_argument("--real", help="a folder of real product photos (*.jpg)")
    ap.add_argument("--limit", type=int, default=0, help="at most this many cut-outs per set")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument(
        "--model", metavar="DIR",
        help="U-Net model folder (default: the committed demo model); on the real set it "
        "also draws the truth",
    )  # fmt: skip
    ap.add_argument(
        "--set", dest="set_", metavar="KEY=VALUE", action="append", default=[],
        help="override one segmenter config key, e.g. --set clean.grow_delta=0",
    )  # fmt: skip
    args = ap.parse_args()
    if not (args.heldout or args.real):
        ap.error("give --heldout, --real or both")
    try:
        cfg = load_config(SegmenterConfig, None, args.set_)
    except ConfigError as e:
        ap.error(str(e))
    auto = load_segmenter(cfg, args.model)
    no_union = load_segmenter(
        dataclasses.replace(cfg, clean=CleanConfig(enabled=False)), args.model
    )
    segs = {"unet": auto.unet, "edge": auto.edge, "auto": auto, "auto without union": no_union}
    if getattr(auto, "salient", None) is not None:  # --set network=u2net
        segs = {"u2net": auto.salient, **segs}
    model = load_style_model()
    result: dict = {
        "benchmark": "cutouts",
        "command": " ".join(["bench/eval_cutouts.py", *sys.argv[1:]]),
    }

    def limited(gen):
        for i, item in enumerate(gen):
            if args.limit and i >= args.limit:
                return
            yield item

    if args.heldout:
        print(f"held-out renders from {args.heldout}", flush=True)
        result["heldout"] = evaluate(limited(heldout_cutouts(args.heldout)), segs, cfg, model)
    if args.real:
        print(f"real photos from {args.real} (truth: the default segmenter's mask)", flush=True)
        result["real"] = evaluate(limited(real_cutouts(args.real, auto, cfg)), segs, cfg, model)
    for name in ("heldout", "real"):
        for kind, s in result.get(name, {}).items():
            ious = ", ".join(f"{n} {v:.4f} (worst {s['iou_worst'][n]:.3f})"
                             for n, v in s["iou_mean"].items())  # fmt: skip
            print(f"{name} {kind}: n={s['n']} IoU {ious}; published {s['published']}, "
                  f"{s['altered_over_0.5pct']} with > 0.5% of the product altered "
                  f"(worst {s['altered_worst']:.2%})")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
