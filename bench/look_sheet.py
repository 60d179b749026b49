"""A contact sheet of `restyle apply` outputs: one row per photo (the photo, then each
style), for looking at the looks by eye. Usage:
    for s in marble watercolour wood geometric autumn-bokeh; do
        .venv/bin/restyle -q apply PHOTOS/*.jpg --style $s -o OUT; done
    .venv/bin/python bench/look_sheet.py PHOTOS OUT docs/look-sheet.jpg [--height 180]
A photo the gate held back shows as it came back from apply (OUT/rejected/; unchanged when
the screen held it back before restyling).
"""

from __future__ import annotations

import argparse
import glob
import os

import cv2
import numpy as np

STYLES = ["marble", "watercolour", "wood", "geometric", "autumn-bokeh"]


def _output(folder: str, name: str):
    """An apply output: accepted ones in the folder, held-back ones under rejected/."""
    for path in (os.path.join(folder, name), os.path.join(folder, "rejected", name)):
        if os.path.exists(path):
            return cv2.imread(path)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("photos")
    ap.add_argument("outputs")
    ap.add_argument("sheet")
    ap.add_argument("--height", type=int, default=180)
    ap.add_argument("--styles", nargs="+", default=STYLES)
    args = ap.parse_args()
    names = sorted(os.path.basename(f)[:-4] for f in glob.glob(os.path.join(args.photos, "*.jpg")))
    rows = []
    for n in names:
        im = cv2.imread(os.path.join(args.photos, n + ".jpg"))
        w = int(round(im.shape[1] * args.height / im.shape[0]))
        cells = [im] + [_output(args.outputs, f"{n}.{s}.jpg") for s in args.styles]
        row = [
            cv2.resize(c if c is not None else np.zeros_like(im), (w, args.height),
                       interpolation=cv2.INTER_AREA)
            for c in cells
        ]  # fmt: skip
        rows.append(np.hstack([np.pad(c, ((0, 3), (0, 3), (0, 0)), constant_values=255)
                               for c in row]))  # fmt: skip
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    cv2.imwrite(args.sheet, np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 80])
    print(f"wrote {args.sheet}")


if __name__ == "__main__":
    main()
