"""The networks on the per-photo path, as trained and as their inference copies
(``stylecore.features.fold``: BatchNorm folded into the convolutions, channels-last),
side by side in one run.

    .venv/bin/python bench/bench_inference.py [--json bench/results/inference.json]

- the style judge's EfficientNet-Lite0 features (taps 1, 3, 6, 9) on a 512 x 384 frame;
- the demo U-Net on its 256 px working size (192 x 256 input, 4 channels).

Each variant runs interleaved with the other, round by round after a warm-up, with
torch's production thread count; reported are the medians and the ratio. The outputs are
compared too: the largest difference relative to the output's largest magnitude.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import stylecore  # noqa: E402,F401  (the OpenMP wait policy, before torch)


def _pair(plain, fast, x, rounds: int) -> dict:
    import torch

    xc = x.contiguous(memory_format=torch.channels_last)
    secs: dict[str, list[float]] = {"plain": [], "inference_copy": []}
    with torch.inference_mode():
        a, b = plain(x), fast(xc)
        a = a if isinstance(a, list) else [a]
        b = b if isinstance(b, list) else [b]
        rel = max(float((p - q).abs().max() / p.abs().max()) for p, q in zip(a, b, strict=True))
        for k in range(rounds + 1):
            for name, fn, inp in (("plain", plain, x), ("inference_copy", fast, xc)):
                t0 = time.perf_counter()
                fn(inp)
                if k:  # the first round warms up
                    secs[name].append(time.perf_counter() - t0)
    ms = {k: 1000 * statistics.median(v) for k, v in secs.items()}
    return {**{f"{k}_ms": v for k, v in ms.items()}, "speedup": ms["plain"] / ms["inference_copy"],
            "max_rel_diff": rel}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "inference.json"))
    args = ap.parse_args()
    import torch

    from pipelines.models import load_segmenter
    from stylecore.features.efficientnet import pretrained_lite0
    from stylecore.features.fold import inference_copy
    from stylecore.quality.judge import JUDGE_TAPS
    from stylecore.segmentation import SegmenterConfig

    torch.manual_seed(0)
    lite0 = pretrained_lite0()
    fast = inference_copy(lite0)
    x = torch.randn(1, 3, 384, 512)
    out = {
        "command": "python bench/bench_inference.py " + " ".join(sys.argv[1:]),
        "threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "judge_lite0_512x384": _pair(
            lambda t: lite0.features(t, JUDGE_TAPS),
            lambda t: fast.features(t, JUDGE_TAPS),
            x,
            args.rounds,
        ),
    }
    unet = load_segmenter(SegmenterConfig(method="unet")).model.eval()
    out["unet_192x256"] = _pair(
        unet, inference_copy(unet), torch.randn(1, 4, 192, 256), args.rounds
    )
    for name in ("judge_lite0_512x384", "unet_192x256"):
        r = out[name]
        print(f"{name:<22} plain {r['plain_ms']:.1f} ms, inference copy "
              f"{r['inference_copy_ms']:.1f} ms ({r['speedup']:.2f}x; outputs within "
              f"{r['max_rel_diff']:.1e})")  # fmt: skip
    with open(args.json, "w") as f:
        json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
