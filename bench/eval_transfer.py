"""Transfer quality on a sample catalogue: gate pass rate, product fidelity, style match.

    .venv/bin/restyle sample-catalogue /tmp/heldout --seed 2026
    .venv/bin/python bench/eval_transfer.py /tmp/heldout/catalogue.csv \
        [--region background] [--out bench/results/transfer_eval.json]

For every photo and every style of the demo model: segment (demo U-Net), restyle_image with
the default TransferConfig, and run the quality gate. Reports per style the pass rate, the
product SSIM with masked windows over (a) the product as segmented, outline pixels
included (``outline``), (b) the true product from the catalogue's masks, so segmentation
errors count (``gt_product``), (c) everything the matte touches including the outer,
backdrop half of the feather (``halo``, a lower bound); the gate's eroded-product SSIM and
CIEDE2000; the style judge (fraction of the way to the references) and the colour
distance ratio (after / before; lower is closer to the references).

With ``--styles-dir DIR`` (a sample catalogue's ``styles/`` folder), the gate also sees three
stand-ins per photo and style that must all be rejected: the background replaced by
colour-matched white noise and by a flat tint (both from the style's first reference in
DIR), the unchanged photo, and the restyled output with three magenta specks of 1-2% of
the long side painted on its background (``speck``: the GAN's old defect). Their pass
rates are reported as ``standin_pass_rate``.
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter

import cv2
import numpy as np

from pipelines import datasets
from pipelines.models import load_segmenter, load_style_model
from stylecore.io.codec import decode_image
from stylecore.quality.gate import assess
from stylecore.quality.style_metrics import ssim_map
from stylecore.quality.texture import calibration_images
from stylecore.segmentation import SegmenterConfig
from stylecore.transfer.composite import CompositeConfig
from stylecore.transfer.restyle import TransferConfig, restyle_image
from stylecore.viz import contact_sheet


def region_ssim(orig: np.ndarray, out: np.ndarray, region: np.ndarray) -> float:
    """Mean SSIM over ``region``, with windows that see only region pixels."""
    if not region.any():
        return float("nan")
    g0 = cv2.cvtColor(orig, cv2.COLOR_RGB2GRAY).astype(np.float32)
    g1 = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(ssim_map(g0, g1, 255.0, weight=region)[region].mean())


def with_specks(img: np.ndarray, alpha: np.ndarray, seed: int) -> np.ndarray:
    """``img`` with three magenta discs (radius 1-2% of the long side) on background
    pixels at least that far from the product."""
    rng = np.random.default_rng(seed)
    out = img.copy()
    r_max = max(2, int(0.02 * max(img.shape[:2])))
    far = cv2.distanceTransform((alpha < 0.05).astype(np.uint8), cv2.DIST_L2, 3) > 2 * r_max
    ys, xs = np.nonzero(far)
    for k in rng.choice(len(ys), size=min(3, len(ys)), replace=False) if len(ys) else []:
        r = int(rng.integers(max(1, r_max // 2), r_max + 1))
        cv2.circle(out, (int(xs[k]), int(ys[k])), r, (230, 40, 210), -1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("catalogue")
    ap.add_argument("--region", default="background", choices=["background", "product", "all"])
    ap.add_argument("--out")
    ap.add_argument("--sheet", help="write a before/after sheet (first 4 photos) here")
    ap.add_argument("--styles-dir", help="also gate noise / tint / unchanged stand-ins")
    args = ap.parse_args()
    model = load_style_model()
    seg = load_segmenter(SegmenterConfig(method="unet"))
    refs = datasets.refs_from(args.catalogue)
    first_ref = {}
    if args.styles_dir:
        for style in model.style_ids:
            path = sorted(os.listdir(os.path.join(args.styles_dir, style)))[0]
            with open(os.path.join(args.styles_dir, style, path), "rb") as f:
                first_ref[style] = decode_image(f.read())[..., :3]
    standins: dict[str, list[bool]] = {"noise": [], "tint": [], "unchanged": [], "speck": []}
    rows, tiles = [], []
    for ref, img, gt in datasets.iter_loaded(refs):
        rgb = np.ascontiguousarray(img[..., :3])
        mask = seg.segment(img)
        for style in model.style_ids:
            cfg = TransferConfig(style=style, composite=CompositeConfig(region=args.region))
            res = restyle_image(rgb, mask.alpha, model, cfg, image_id=ref.image_id)
            rep = assess(rgb, res.image, mask.alpha, model.stats.get(style), args.region)
            if style in first_ref:
                cal = calibration_images(rgb, mask.alpha, first_ref[style], seed=len(rows))
                cal["unchanged"] = rgb.copy()
                cal["speck"] = with_specks(res.image, mask.alpha, len(rows))
                for kind in standins:
                    verdict = assess(rgb, cal[kind], mask.alpha, model.stats.get(style))
                    standins[kind].append(verdict.passed)
            if len(tiles) < 4 * (1 + len(model.style_ids)):
                if style == model.style_ids[0]:
                    tiles.append((rgb, ref.image_id))
                tiles.append((res.image, f"{style} {'ok' if rep.passed else 'rejected'}"))
            rows.append(
                {
                    "image_id": ref.image_id,
                    "style": style,
                    "passed": rep.passed and mask.usable,
                    "reasons": rep.reasons,
                    # the product as segmented, its outline pixels included
                    "outline_ssim": region_ssim(rgb, res.image, mask.alpha >= 0.5),
                    # the true product (catalogue mask), segmentation errors included
                    "gt_product_ssim": region_ssim(rgb, res.image, gt >= 128)
                    if gt is not None
                    else float("nan"),
                    # everything the matte touches, the outer (backdrop) half of the
                    # feather included: a lower bound that counts restyled backdrop
                    "halo_ssim": region_ssim(rgb, res.image, mask.alpha > 0),
                    **rep.scores,
                }
            )
    summary = {}
    for style in model.style_ids:
        rs = [r for r in rows if r["style"] == style]

        def med(k, rs=rs):
            vals = [r[k] for r in rs if k in r and np.isfinite(r[k])]
            return float(np.median(vals)) if vals else float("nan")

        summary[style] = {
            "n": len(rs),
            "pass_rate": float(np.mean([r["passed"] for r in rs])),
            "outline_ssim_median": med("outline_ssim"),
            "outline_ssim_min": float(np.nanmin([r["outline_ssim"] for r in rs])),
            "gt_product_ssim_median": med("gt_product_ssim"),
            "gt_product_ssim_min": float(np.nanmin([r["gt_product_ssim"] for r in rs])),
            "halo_ssim_median": med("halo_ssim"),
            "product_ssim_median": med("product_ssim"),
            "product_de_p95_median": med("product_de_p95"),
            "judge_median": med("judge"),
            "judge_min": float(min(r.get("judge", float("nan")) for r in rs)),
            "colour_ratio_median": med("colour_ratio"),
        }
    reasons = Counter(
        r.split(" ")[0] + " " + r.split(" ")[1] for row in rows for r in row["reasons"]
    )
    out = {
        "region": args.region,
        "summary": summary,
        "reject_reasons": dict(reasons),
        "overall_pass_rate": float(np.mean([r["passed"] for r in rows])),
    }
    if first_ref:
        out["standin_pass_rate"] = {k: float(np.mean(v)) for k, v in standins.items()}
    print(json.dumps(out, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({**out, "rows": rows}, f, indent=2)
    if args.sheet:
        sheet = contact_sheet(
            tiles,
            tile=200,
            cols=1 + len(model.style_ids),
            title=f"region={args.region}: input, then each style",
        )
        cv2.imwrite(
            args.sheet, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85]
        )


if __name__ == "__main__":
    main()
