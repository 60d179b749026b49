"""The background ablation as a sheet: the same photos and seeds through the GAN-only
path, the plain quilting baseline, the default synthesis and synthesis with GAN
harmonisation (the methods ``bench/bench_background.py`` scores), one row per photo and
look, each cell labelled with its method and the style judge. Usage:
    .venv/bin/python bench/ablation_sheet.py PHOTOS docs/background-ablation.jpg
        [--files a.jpg b.jpg ...] [--styles marble wood] [--height 220]
PHOTOS is a folder of real product photos (e.g. the Vendure shop photos:
`npm pack @vendure/create@3.7.3`); photos the publish-safety screen holds back are
skipped and named.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

METHODS = ("gan", "quilt-baseline", "synth", "synth+harmonise")


def _label(img: np.ndarray, text: str) -> np.ndarray:
    out = img.copy()
    h = max(14, out.shape[0] // 12)
    cv2.rectangle(out, (0, 0), (out.shape[1], h + 6), (255, 255, 255), -1)
    scale = h / 30.0
    cv2.putText(out, text, (4, h), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("photos", help="folder of real product photos (*.jpg)")
    ap.add_argument("sheet", help="output JPEG")
    ap.add_argument("--files", nargs="+", help="photo file names in PHOTOS (default: all)")
    ap.add_argument("--styles", nargs="+", default=["marble", "wood"])
    ap.add_argument("--height", type=int, default=220, help="row height in px")
    ap.add_argument("--model", help="style model folder (default: the demo model)")
    args = ap.parse_args()

    import torch

    from bench.bench_background import _methods, _real, _restyle
    from pipelines.models import load_style_model
    from stylecore.quality.gate import assess

    torch.set_num_threads(2)
    model = load_style_model(args.model)
    unknown = [s for s in args.styles if s not in model.references]
    if unknown:
        sys.exit(f"unknown style(s) {unknown}; the model has {sorted(model.references)}")
    methods = _methods()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.photos
        if args.files:  # segment only the named photos
            missing = [f for f in args.files if not os.path.isfile(os.path.join(folder, f))]
            if missing:
                sys.exit(f"not in {args.photos}: {missing}")
            for f in args.files:
                os.symlink(os.path.abspath(os.path.join(folder, f)), os.path.join(tmp, f))
            folder = tmp
        photos, held = _real(folder)
    if held:
        print(f"held back by the publish-safety screen, left out: {', '.join(held)}")
    if not photos:
        sys.exit("no publishable photo to show")
    rows = []
    for image_id, img, alpha in photos:
        for style in args.styles:
            w = int(round(img.shape[1] * args.height / img.shape[0]))
            cells = [_label(cv2.resize(img, (w, args.height), interpolation=cv2.INTER_AREA),
                            f"{image_id.split('-')[0]} / {style}")]  # fmt: skip
            for name in METHODS:
                out = _restyle(name, methods[name], img, alpha, model, style, image_id)
                judge = assess(img, out, alpha, model.stats[style]).scores.get("judge", np.nan)
                small = cv2.resize(out, (w, args.height), interpolation=cv2.INTER_AREA)
                cells.append(_label(small, f"{name} {judge:.2f}"))
                print(f"  {image_id} {style} {name}: judge {judge:.2f}", flush=True)
            rows.append(np.hstack([np.pad(c, ((0, 3), (0, 3), (0, 0)), constant_values=255)
                                   for c in cells]))  # fmt: skip
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    sheet = cv2.cvtColor(np.vstack(rows), cv2.COLOR_RGB2BGR)
    cv2.imwrite(args.sheet, sheet, [cv2.IMWRITE_JPEG_QUALITY, 80])
    print(f"wrote {args.sheet}")


if __name__ == "__main__":
    main()
