"""Segmentation speed at 1024x1024: EdgeSegmenter on one core (the issue's 50 ms budget)
and the U-Net, side by side in one run; each also without the guided outline smoothing
(``smooth_outline=False``), and the U-Net without its outline redrawn at 384 px
(``SegmenterConfig.outline_size=0``), to price them.

    .venv/bin/python bench/bench_segmentation.py --json bench/results/segmentation.json

Threads: OpenCV and torch are pinned to one thread, so the figure is per core. Photos are
rendered from the sample-catalogue generator (four categories and backdrops); the median
over all photos and repeats, after one warm-up pass, is reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import replace

import cv2
import numpy as np
import torch

from pipelines.models import DEFAULT_SEGMENTER_MODEL, read_model_files
from stylecore.segmentation import EdgeConfig, EdgeSegmenter, SegmenterConfig
from stylecore.segmentation.unet import UNetSegmenter
from stylecore.synth.products import ShotSpec, render_shot

CASES = [("mug", "white"), ("sneaker", "gradient"), ("handbag", "paper"), ("watch", "light_grey")]


def _median_ms(fn, images, repeats):
    for im in images:
        fn(im)
    times = []
    for _ in range(repeats):
        for im in images:
            t = time.perf_counter()
            fn(im)
            times.append((time.perf_counter() - t) * 1000)
    return float(np.median(times)), float(np.percentile(times, 90))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    imgs = [
        render_shot(ShotSpec(c, args.size, args.size, bg), np.random.default_rng(k)).image
        for k, (c, bg) in enumerate(CASES)
    ]
    results = {}
    unet = UNetSegmenter.from_files(
        read_model_files(DEFAULT_SEGMENTER_MODEL, ("model.safetensors", "model.json"))
    )
    unet.outline_size = SegmenterConfig().outline_size  # as the default builds it
    unet_rough = UNetSegmenter(
        replace(unet.cfg, smooth_outline=False), unet.model, outline_size=unet.outline_size
    )
    unet_coarse = UNetSegmenter(unet.cfg, unet.model)  # its outline at 256 px only
    for name, seg in [
        ("edge-canny", EdgeSegmenter()),
        ("edge-canny-unsmoothed", EdgeSegmenter(EdgeConfig(smooth_outline=False))),
        ("edge-sobel", EdgeSegmenter(EdgeConfig(edge_operator="sobel"))),
        ("edge-canny+grabcut", EdgeSegmenter(EdgeConfig(grabcut=True))),
        ("unet", unet),
        ("unet-unsmoothed", unet_rough),
        ("unet-outline-off", unet_coarse),
    ]:
        med, p90 = _median_ms(seg.segment, imgs, args.repeats)
        results[name] = {"median_ms": round(med, 1), "p90_ms": round(p90, 1)}
        print(f"{name:<20} {args.size}x{args.size}  median {med:6.1f} ms   p90 {p90:6.1f} ms")
    base = results["edge-canny"]["median_ms"]
    for r in results.values():
        r["ratio_vs_edge_canny"] = round(r["median_ms"] / base, 2)
    out = {
        "benchmark": "segmentation",
        "size": args.size,
        "threads": 1,
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "opencv": cv2.__version__,
        "results": results,
    }
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
