"""The GPU path of the nightly stages, without Ray: segment and transfer actors' code on
CUDA with bf16 autocast, checked against the CPU path, and timed at 1024 px.

    bash bench/gpu.sh            # on a GPU machine; writes $OUT/gpu.json (or bench/results)
    python bench/gpu_stages.py --device cpu --count 2   # the same script, on CPU

Ray itself is not needed (the stage classes are what the actors run); on a GPU machine
without Ray this is still the actors' code path. Reports: whether outputs are finite,
whether the product pixels stay exact in background mode, the GPU-vs-CPU difference of the
restyled image, and images/s of (a) the transfer stage per image (multi-scale passes,
compositing and all), (b) segmentation, (c) the bare generator at 1024 px in batches.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _ctx(device: str):
    from pipelines.nightly.runconfig import NightlyConfig, RunContext, StyleEntry, StylesFile

    ctx = RunContext.create(
        "gpu", "/tmp/gpu-out", StylesFile(styles={"wood": StyleEntry()}), NightlyConfig()
    )
    return ctx.with_device(device, os.cpu_count() or 1)


def _rows(n: int, side: int):
    from pipelines.nightly.rows import new_row
    from stylecore.synth.products import ShotSpec, render_shot

    cats = ("mug", "box", "bottle", "sneaker", "handbag")
    out = []
    for i in range(n):
        shot = render_shot(ShotSpec(cats[i % 5], side, side, "white"), np.random.default_rng(i))
        r = new_row(image_id=f"img{i}", style_id="wood", shard=0)
        r["pixels"] = shot.image
        out.append(r)
    return out


def train_steps(device: str, batches: list[int], steps: int = 12) -> dict:
    """Median time of a full GAN training step (generator and discriminator updates, bf16
    autocast on GPU) with the demo model's configuration, per batch size."""
    import dataclasses

    from pipelines.models import style_features
    from stylecore.synth.products import ShotSpec, render_shot
    from stylecore.training.data import ContentItem, ContentStream, StyleStream
    from stylecore.training.style_gan import StyleGANTrainer, StyleTrainConfig

    items = []
    for i in range(8):
        shot = render_shot(ShotSpec("mug", 256, 256, "white"), np.random.default_rng(i))
        items.append(ContentItem(shot.image, shot.alpha))
    rng = np.random.default_rng(0)
    refs = [(k, rng.integers(0, 255, (384, 384, 3), dtype=np.uint8)) for k in range(2)]
    out = {}
    for b in batches:
        cfg = dataclasses.replace(StyleTrainConfig(), batch_size=b)
        tr = StyleGANTrainer(
            cfg,
            style_features(cfg),
            ContentStream(items, cfg.crop, 1),
            StyleStream(refs, cfg.crop, 2),
            device=device,
        )
        times = []
        for k in range(steps):
            _sync(device)
            t0 = time.perf_counter()
            tr.train_step()
            _sync(device)
            if k >= 2:  # warm-up
                times.append(time.perf_counter() - t0)
        step_s = float(np.median(times))
        out[f"batch_{b}"] = {
            "step_s": step_s,
            "steps_per_s": 1 / step_s,
            "samples_per_s": b / step_s,
        }
    return out


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--count", type=int, default=32)
    ap.add_argument("--side", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=16, help="bare generator batch")
    ap.add_argument(
        "--train-batches", default="4,16", help="per-step batch sizes for the training timing"
    )
    ap.add_argument("--out", default=os.path.join(os.environ.get("OUT", ""), "gpu.json"))
    args = ap.parse_args()
    args.train_batches = [int(b) for b in args.train_batches.split(",")]

    import torch

    from pipelines.nightly.stages.segment import SegmentStage
    from pipelines.nightly.stages.torch_setup import autocast
    from pipelines.nightly.stages.transfer import TransferStage
    from stylecore.models.generator import noise_for

    dev = args.device
    res: dict = {
        "date": time.strftime("%Y-%m-%d"),
        "device": torch.cuda.get_device_name(0) if dev.startswith("cuda") else platform.processor(),
        "torch": torch.__version__,
        "side": args.side,
        "count": args.count,
    }
    ctx = _ctx(dev)
    seg, tr = SegmentStage(ctx), TransferStage(ctx)
    rows = _rows(args.count, args.side)
    # Warm-up (cuDNN autotuning, allocator).
    warm = _rows(2, args.side)
    tr.run_rows(seg.run_rows(warm))
    _sync(dev)

    t0 = time.perf_counter()
    seg.run_rows(rows)
    _sync(dev)
    t1 = time.perf_counter()
    tr.run_rows(rows)
    _sync(dev)
    t2 = time.perf_counter()
    failed = [r["error_message"] for r in rows if r["status"] == "failed"]
    res["failed"] = failed
    res["segment_img_per_s"] = args.count / (t1 - t0)
    res["transfer_img_per_s"] = args.count / (t2 - t1)
    res["transfer_ms_per_img"] = 1000 * (t2 - t1) / args.count
    res["outputs_finite_uint8"] = all(
        r["output"] is not None and r["output"].dtype == np.uint8 for r in rows if not failed
    )
    exact = []
    for r in rows:
        if r["output"] is None:
            continue
        solid = np.clip(r["alpha"] * 2.0, 0, 1) >= 1.0  # composite_matte, default config
        exact.append(bool(np.array_equal(r["output"][solid], r["pixels"][solid])))
    res["product_pixels_exact"] = all(exact) and bool(exact)

    # Where a transfer's time goes: generator passes vs compositing (CPU-side numpy).
    from stylecore.transfer.restyle import restyle_image

    style = ctx.styles["wood"]
    model0 = next(iter(tr.models.values()))
    split = {"generate": [], "composite": []}
    for r in rows[:8]:
        with torch.inference_mode(), autocast(ctx):
            out = restyle_image(r["pixels"], r["alpha"], model0, style.transfer, image_id="t")
        for k in split:
            split[k].append(out.timings.get(k, float("nan")))
    res["transfer_split_ms"] = {k: 1000 * float(np.median(v)) for k, v in split.items()}

    # GPU (bf16) against the CPU fp32 path on one image.
    if dev != "cpu":
        cpu_ctx = _ctx("cpu")
        ref_rows = _rows(1, min(args.side, 512))
        cpu_tr = TransferStage(cpu_ctx)
        ref_rows[0]["alpha"] = seg.run_rows([dict(ref_rows[0], alpha=None)])[0]["alpha"]
        gpu_out = tr.run_rows([dict(ref_rows[0])])[0]["output"].astype(np.float32)
        cpu_out = cpu_tr.run_rows([dict(ref_rows[0])])[0]["output"].astype(np.float32)
        res["gpu_vs_cpu_mean_abs_diff"] = float(np.abs(gpu_out - cpu_out).mean())
        res["gpu_vs_cpu_p99_abs_diff"] = float(np.percentile(np.abs(gpu_out - cpu_out), 99))

    # The bare generator at full size, batched: the ceiling for the transfer stage.
    model = next(iter(tr.models.values()))
    g = model.generator
    x = torch.rand(args.batch, 3, args.side, args.side, device=dev) * 2 - 1
    noise = noise_for("bench", (args.batch, g.cfg.noise_channels, args.side, args.side), dev)
    s = torch.zeros(args.batch, dtype=torch.long, device=dev)
    if dev != "cpu":
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), autocast(ctx):
        g(x, noise, s)
        _sync(dev)
        reps = 5 if dev != "cpu" else 1
        t0 = time.perf_counter()
        for _ in range(reps):
            g(x, noise, s)
        _sync(dev)
        dt = time.perf_counter() - t0
    res["generator_batch"] = args.batch
    res["generator_img_per_s"] = args.batch * reps / dt
    res["train"] = train_steps(dev, args.train_batches)
    if dev.startswith("cuda"):
        res["max_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    print(json.dumps(res, indent=2))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
