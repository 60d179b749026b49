"""A 6000x4000 photo through segmentation and restyle_image: time, peak RSS, seam score.

    .venv/bin/python bench/bench_large.py [--scales 256,512,0] [--out bench/results/large.json]

The photo is a rendered sample-catalogue shot upscaled to 6000x4000 and JPEG-encoded; a
fresh subprocess decodes and processes it, so the peak RSS (ru_maxrss) is the pipeline's
own. Scale 0 means a full-resolution generator pass, which runs tiled.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np

CHILD = r"""
import json, resource, sys, time
import numpy as np
from pipelines.models import load_style_model
from stylecore.io.codec import decode_image
from stylecore.segmentation import EdgeSegmenter
from stylecore.transfer.restyle import TransferConfig, restyle_image
from stylecore.transfer.tiling import seam_ratio
path, scales, out = sys.argv[1], tuple(int(s) for s in sys.argv[2].split(",")), sys.argv[3]
t0 = time.perf_counter()
img = decode_image(open(path, "rb").read())[..., :3]
t1 = time.perf_counter()
mask = EdgeSegmenter().segment(img)
t2 = time.perf_counter()
cfg = TransferConfig(style="wood", scales=scales)
res = restyle_image(img, mask.alpha, load_style_model(), cfg, image_id="large")
t3 = time.perf_counter()
seam = seam_ratio(res.styled, cfg.tile, cfg.tile_overlap) if 0 in scales else None
import cv2
small = cv2.resize(res.image, (1500, 1000), interpolation=cv2.INTER_AREA)
cv2.imwrite(out, cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
print(json.dumps({"decode_s": t1 - t0, "segment_s": t2 - t1, "restyle_s": t3 - t2,
                  "timings": res.timings, "seam_ratio": seam,
                  "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scales", default="256,512")
    ap.add_argument("--out", default=None, help="JSON results file")
    ap.add_argument("--preview", default="bench/results/large_preview.jpg")
    args = ap.parse_args()
    from stylecore.synth.products import ShotSpec, render_shot

    shot = render_shot(ShotSpec("handbag", 1500, 1000, "gradient"), np.random.default_rng(7))
    big = cv2.resize(shot.image, (6000, 4000), interpolation=cv2.INTER_CUBIC)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "large.jpg")
        cv2.imwrite(path, cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        t = time.perf_counter()
        res = subprocess.run(
            [sys.executable, "-c", CHILD, path, args.scales, args.preview],
            capture_output=True,
            text=True,
            check=True,
        )
        wall = time.perf_counter() - t
    result = json.loads(res.stdout.strip().splitlines()[-1])
    result.update(
        {"scales": args.scales, "size": "6000x4000", "wall_s": wall, "cpus": os.cpu_count()}
    )
    print(json.dumps(result, indent=2))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
