"""What the product-edge steps cost, side by side in one process: the ``auto`` segmenter
with and without the soft matte for out-of-focus edges (``defocus``), and the whole
default path (segment, background, composite, check) with and without it and the
compositor's rim swap (``rim_px``).

    python bench/bench_edges.py [--real DIR] [--json bench/results/edges.json]

``--real``: a folder of real product photos (*.jpg; e.g. the Vendure photos,
``npm pack @vendure/create@3.7.3``); without it only the whole path is timed, on a
held-out sample photo (seed 2026) at 1024 and 2048 px. Each pair runs interleaved, so
both see the same machine load; medians, first run dropped for the whole path.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--real", help="a folder of real product photos (*.jpg)")
    ap.add_argument("--limit", type=int, default=30, help="real photos timed (default 30)")
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "edges.json"))
    args = ap.parse_args()

    import cv2
    import torch

    from bench.bench_background import _shots
    from pipelines.models import load_segmenter, load_style_model
    from stylecore.quality.gate import assess
    from stylecore.segmentation import SegmenterConfig
    from stylecore.segmentation.defocus import DefocusConfig
    from stylecore.transfer.composite import CompositeConfig
    from stylecore.transfer.restyle import TransferConfig, restyle_image

    torch.set_num_threads(2)
    with_ = load_segmenter(SegmenterConfig())
    without = load_segmenter(SegmenterConfig(defocus=DefocusConfig(enabled=False)))
    result: dict = {
        "command": "python bench/bench_edges.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    if args.real:
        files = sorted(glob.glob(os.path.join(args.real, "*.jpg")))[: args.limit]
        if not files:
            sys.exit(f"--real {args.real}: no *.jpg there")
        on, off = [], []
        for i, f in enumerate(files):
            rgb = cv2.cvtColor(cv2.imread(f), cv2.COLOR_BGR2RGB)
            for seg, acc in ((without, off), (with_, on)):
                t0 = time.perf_counter()
                seg.segment(rgb)
                acc.append(time.perf_counter() - t0)
            print(f"[{i + 1}/{len(files)}] {os.path.basename(f)}", flush=True)
        result["auto_segment_s"] = {
            "photos": len(files),
            "with_defocus_median": float(np.median(on)),
            "without_median": float(np.median(off)),
            "ratio": float(np.median(on) / np.median(off)),
        }
        print(f"auto segmenter, median per real photo: {np.median(on):.3f} s with the soft "
              f"matte, {np.median(off):.3f} s without", flush=True)  # fmt: skip
    model = load_style_model(None)
    pairs = {
        "default": (with_, TransferConfig(style="wood")),
        "hard_edges": (without, TransferConfig(style="wood", composite=CompositeConfig(rim_px=0))),
    }
    result["whole_path_s"] = {}
    for side in (1024, 2048):
        ((_, img, _),) = _shots(1, side)
        secs: dict[str, list[float]] = {k: [] for k in pairs}
        for k in range(5):
            for name, (seg, cfg) in pairs.items():
                t0 = time.perf_counter()
                mask = seg.segment(img)
                r = restyle_image(img, mask.alpha, model, cfg, image_id=f"t{k}")
                assess(img, r.image, mask.alpha, model.stats["wood"])
                secs[name].append(time.perf_counter() - t0)
        med = {name: float(np.median(v[1:])) for name, v in secs.items()}
        result["whole_path_s"][str(side)] = med
        print(f"whole default path at {side} px: {med['default']:.2f} s with both, "
              f"{med['hard_edges']:.2f} s without", flush=True)  # fmt: skip
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
