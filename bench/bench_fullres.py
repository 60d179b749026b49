"""Full-resolution texture: does a 2048 px restyle carry the style's fine texture, or is it
an upscaled 512 px pass? Side by side, in one run, per transfer configuration:

    .venv/bin/python bench/bench_fullres.py [--photos 4] [--side 2048]
        [--configs 256,512 256,512,0] [--styles wood marble] [--out bench/results/fullres.json]

Held-out sample photos (seed 2026) are rendered at ``--side`` px on the long side and
restyled with the demo model (background region, the production default). On each output's
background, and on the style's references at their own resolution, we measure the share of
luminance power at high frequency: above 1/8 cycle per pixel, which a pass at a quarter of
the output's size cannot carry (after a 4x upscale its content ends at 1/8 cycle/px). The
figure reported is that share relative to the references' (1.0 = as much fine texture as the
references have per pixel), with the seconds per photo of each configuration.
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

PATCH = 64


def hf_share(rgb: np.ndarray, background: np.ndarray | None, cut: float = 1 / 8) -> float:
    """Share of the (mean-removed, Hann-windowed) luminance power above ``cut`` cycles/px,
    Welch-averaged over 64 px windows wholly in the background."""
    from stylecore.quality.texture import background_windows, luminance

    lum = luminance(rgb)
    window = np.outer(np.hanning(PATCH), np.hanning(PATCH))
    fy = np.fft.fftfreq(PATCH)[:, None]
    fx = np.fft.rfftfreq(PATCH)[None, :]
    high = np.hypot(fy, fx) > cut
    hi = tot = 0.0
    for y, x in background_windows(background, lum.shape, PATCH):
        p = lum[y : y + PATCH, x : x + PATCH]
        spec = np.abs(np.fft.rfft2((p - p.mean()) * window)) ** 2
        hi += float(spec[high].sum())
        tot += float(spec.sum())
    return hi / tot if tot > 0 else float("nan")


def hf_fraction(rgb: np.ndarray, background: np.ndarray | None, cut: float = 1 / 8) -> float:
    """Luminance power above ``cut`` cycles/px per pixel (Welch, Hann-windowed 64 px
    windows wholly in the background) as a fraction of the background's whole luminance
    variance. Unlike ``hf_share``, whose denominator is the power *inside* each window, the
    variance does not shrink when a texture is magnified (its histogram stays), so a
    magnified copy scores lower than its reference, as a softer image should; ``hf_share``
    can score it higher (a bokeh reference magnified 2x: 1.5x), because a 64 px window then
    holds less of the large structure."""
    from stylecore.quality.texture import background_windows, luminance

    lum = luminance(rgb)
    window = np.outer(np.hanning(PATCH), np.hanning(PATCH))
    fy = np.fft.fftfreq(PATCH)[:, None]
    fx = np.fft.rfftfreq(PATCH)[None, :]
    high = np.hypot(fy, fx) > cut
    fold = np.full(fx.shape, 2.0)  # rfft2 keeps half the spectrum: count the mirror too
    fold[:, 0] = fold[:, -1] = 1.0
    hi, seen = 0.0, []
    for y, x in background_windows(background, lum.shape, PATCH):
        p = lum[y : y + PATCH, x : x + PATCH]
        spec = np.abs(np.fft.rfft2((p - p.mean()) * window)) ** 2 * fold
        hi += float(spec[high].sum())
        seen.append(p.ravel())
    if not seen:
        return float("nan")
    per_pixel = hi / len(seen) / (PATCH * PATCH * float((window**2).sum()))
    var = float(np.concatenate(seen).var())
    return per_pixel / var if var > 0 else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=4)
    ap.add_argument("--side", type=int, default=2048)
    ap.add_argument("--configs", nargs="+", default=["256,512", "256,512,0"])
    ap.add_argument("--styles", nargs="+", default=["wood", "marble", "geometric"])
    ap.add_argument("--model", default=None, help="style model folder (default: the demo model)")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "fullres.json"))
    args = ap.parse_args()

    import torch

    from pipelines.models import load_style_model
    from stylecore.synth.catalogue import plan_item, plan_styles, render_style
    from stylecore.synth.products import ShotSpec, render_shot
    from stylecore.transfer.restyle import TransferConfig, restyle_image

    torch.set_num_threads(2)
    model = load_style_model(args.model)
    shots = []
    for i in range(args.photos):
        item = plan_item(i)
        w = args.side if i % 2 == 0 else round(args.side * 0.75)
        h = round(args.side * 0.75) if i % 2 == 0 else args.side
        spec = ShotSpec(item.category, w, h, item.background)
        shots.append(render_shot(spec, np.random.default_rng([2026, i])))
    results: dict = {}
    for style in args.styles:
        refs = [render_style(r, 2026) for r in plan_styles() if r.style_id == style]
        ref_share = float(np.mean([hf_share(r, None) for r in refs]))
        row = {"references_hf_share": ref_share}
        for conf in args.configs:
            scales = tuple(int(s) for s in conf.split(","))
            cfg = TransferConfig(style=style, scales=scales)
            shares, secs = [], []
            for k, shot in enumerate(shots):
                t0 = time.perf_counter()
                res = restyle_image(shot.image, shot.alpha, model, cfg, image_id=f"fr-{k}")
                secs.append(time.perf_counter() - t0)
                shares.append(hf_share(res.image, 1.0 - shot.alpha))
            row[conf] = {
                "hf_share": float(np.nanmean(shares)),
                "hf_vs_references": float(np.nanmean(shares) / ref_share),
                "s_per_photo": float(np.mean(secs)),
            }
            print(
                f"{style:<12} scales {conf:<12} HF share {np.nanmean(shares):.4f} "
                f"({np.nanmean(shares) / ref_share:.2f}x the references') "
                f"{np.mean(secs):5.1f} s/photo",
                flush=True,
            )
        results[style] = row
    out = {
        "command": "python bench/bench_fullres.py " + " ".join(sys.argv[1:]),
        "side": args.side,
        "photos": args.photos,
        "model": model.version,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "styles": results,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
