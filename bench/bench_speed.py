"""This machine's compute limit, and Restyle's transfer against its peers, side by side.

    .venv/bin/python bench/bench_speed.py [--sizes 512,1024,2048] [--out bench/results/speed.json]

1. **Limit.** Achieved GFLOP/s of a 2048^2 float32 matmul and of a 3x3 convolution 64->64 on
   1x64x256x256 (NCHW and channels_last), with torch's production thread count (all cores).
2. **Models** at each size, each in a fresh process (so peak RSS is its own), one warm-up
   then the median of several runs:
   - ``restyle``: ``restyle_image`` with the default TransferConfig (passes at long side 256
     and 512, Laplacian merge, compositing the product back) and the demo model;
   - ``restyle-generator``: the demo generator alone, one full-size pass (the roofline
     figure: its FLOPs over its time, against the conv peak);
   - ``johnson``, ``cyclegan``, ``adain``: the peers of ``bench/peers.py`` at full size.
   FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (2 per multiply-add)
   on the same call. Reported: ms per image, images/s, GFLOP, achieved GFLOP/s, fraction of
   the conv peak, peak RSS, and each model's images/s relative to Restyle's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

MODELS = ("restyle", "restyle-generator", "johnson", "cyclegan", "adain")


def _median_time(fn, repeats: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def limits(repeats: int = 5) -> dict:
    import torch
    import torch.nn.functional as F

    a, b = torch.rand(2048, 2048), torch.rand(2048, 2048)
    t = statistics.median(_median_time(lambda: a @ b, repeats))
    res = {"threads": torch.get_num_threads(), "matmul_2048_gflops": 2 * 2048**3 / t / 1e9}
    x = torch.rand(1, 64, 256, 256)
    w = torch.rand(64, 64, 3, 3)
    flops = 2 * 64 * 64 * 9 * 256 * 256
    with torch.inference_mode():
        t = statistics.median(_median_time(lambda: F.conv2d(x, w, padding=1), repeats))
        res["conv3x3_64_nchw_gflops"] = flops / t / 1e9
        xc = x.contiguous(memory_format=torch.channels_last)
        wc = w.contiguous(memory_format=torch.channels_last)
        t = statistics.median(_median_time(lambda: F.conv2d(xc, wc, padding=1), repeats))
        res["conv3x3_64_channels_last_gflops"] = flops / t / 1e9
    res["conv_peak_gflops"] = max(
        res["conv3x3_64_nchw_gflops"], res["conv3x3_64_channels_last_gflops"]
    )
    return res


def _one(model: str, size: int, repeats: int) -> dict:
    """Time one model at one size in this (fresh) process."""
    import numpy as np
    import torch
    from peers import AdaINNet, JohnsonNet, ResnetGenerator9, count_parameters
    from torch.utils.flop_counter import FlopCounterMode

    from pipelines.models import load_style_model
    from stylecore.models.style_model import stylize
    from stylecore.synth.products import ShotSpec, render_shot
    from stylecore.transfer.restyle import TransferConfig, restyle_image

    torch.manual_seed(0)
    if model.startswith("restyle"):
        sm = load_style_model()
        shot = render_shot(ShotSpec("mug", size, size, "white"), np.random.default_rng(0))
        params = count_parameters(sm.generator)
        if model == "restyle":
            cfg = TransferConfig(style="wood")

            def fn():
                return restyle_image(shot.image, shot.alpha, sm, cfg, image_id="bench")
        else:

            def fn():
                return stylize(sm, shot.image, "wood", noise_key="bench")
    else:
        net = {"johnson": JohnsonNet, "cyclegan": ResnetGenerator9, "adain": AdaINNet}[model]()
        net.eval()
        params = count_parameters(net)
        x = torch.rand(1, 3, size, size)

        def fn():
            with torch.inference_mode():
                return net(x)

    with FlopCounterMode(display=False) as fc, torch.inference_mode():
        fn()
    flops = fc.get_total_flops()
    times = _median_time(fn, repeats)
    with open("/proc/self/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
    t = statistics.median(times)
    return {
        "model": model,
        "size": size,
        "params": params,
        "ms": 1000 * t,
        "images_per_s": 1 / t,
        "gflop": flops / 1e9,
        "achieved_gflops": flops / t / 1e9,
        "peak_rss_mib": hwm / 1024,
        "runs_ms": [1000 * x for x in times],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="512,1024,2048")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "speed.json"))
    ap.add_argument("--one", nargs=3, metavar=("MODEL", "SIZE", "REPEATS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        print(json.dumps(_one(args.one[0], int(args.one[1]), int(args.one[2]))))
        return

    import torch

    sizes = [int(s) for s in args.sizes.split(",")]
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "torch": torch.__version__,
        "limits": limits(),
        "models": [],
    }
    print(json.dumps(result["limits"]), flush=True)
    peak = result["limits"]["conv_peak_gflops"]
    for size in sizes:
        rows = []
        for model in args.models.split(","):
            heavy = model in ("cyclegan", "adain")
            repeats = 3 if size <= 512 else (2 if size <= 1024 or not heavy else 1)
            p = subprocess.run(
                [sys.executable, __file__, "--one", model, str(size), str(repeats)],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            if p.returncode != 0:
                rows.append({"model": model, "size": size, "error": p.stderr.strip()[-500:]})
                print(model, size, "FAILED", p.stderr[-500:], flush=True)
                continue
            r = json.loads(p.stdout.strip().splitlines()[-1])
            r["fraction_of_conv_peak"] = r["achieved_gflops"] / peak
            rows.append(r)
            print(
                f"{size:>5} {model:<18} {r['ms']:9.1f} ms  {r['gflop']:8.1f} GFLOP "
                f"{r['achieved_gflops']:6.1f} GFLOP/s  RSS {r['peak_rss_mib']:6.0f} MiB",
                flush=True,
            )
        base = next((r for r in rows if r["model"] == "restyle" and "ms" in r), None)
        for r in rows:
            if base and "ms" in r:
                r["restyle_speedup"] = r["ms"] / base["ms"]  # how many times faster Restyle is
        result["models"] += rows
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
