"""The new background, side by side in one run: today's GAN-only path, a plain quilting
baseline (``bench/quilt_baseline.py``), the default synthesis, synthesis with GAN
harmonisation, and the ceiling: the drawn reference itself pasted over the backdrop
(``pasted-reference``, lit as the default path lights it). Usage:
    .venv/bin/python bench/bench_background.py [--photos 12] [--real DIR]
        [--json bench/results/background.json]

- **Judge, colour, gate** per style: the project's style judge (``stylecore.quality.judge``,
  not a training loss; 1 = where an unseen reference sits, 0 = the input), the colour
  distance ratio, out-of-palette blobs and the gate's pass rate. On held-out sample photos
  (seed 2026, ground-truth masks, long side 1024) and, with ``--real``, on real photos
  (e.g. the Vendure shop photos: `npm pack @vendure/create@3.7.3`) segmented by the
  default ``auto`` segmenter; photos the publish-safety screen holds back are left out
  and counted.
- **Fine texture at 2048 px**: the background's share of luminance power above 1/8
  cycle/px against the share in the reference it is drawn from (``bench_fullres.hf_share``).
- **Judge calibration** on the same photos (``calibration``): a pasted unseen reference,
  colour-matched noise and a flat tint, as ``restyle eval-style`` scores them.
- **Time** of the whole default path (segment, background, composite, check) per photo at
  1024 and 2048 px, against the GAN path and Johnson et al.'s network (``bench/peers.py``)
  at 1024 px.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import platform
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
STYLES = ["marble", "watercolour", "wood", "geometric", "autumn-bokeh"]


def _methods():
    from stylecore.transfer.restyle import TransferConfig

    return {
        "gan": TransferConfig(background="gan"),
        "pasted-reference": TransferConfig(),
        "quilt-baseline": None,
        "synth": TransferConfig(),
        "synth+harmonise": TransferConfig(harmonise=True),
    }


def _restyle(method, cfg, img, alpha, model, style, image_id):
    from bench.quilt_baseline import quilt_baseline
    from stylecore.transfer.composite import CompositeConfig, composite
    from stylecore.transfer.restyle import restyle_image
    from stylecore.transfer.synthesis import seed_for

    if method == "quilt-baseline":
        bg = quilt_baseline(model.references[style], img.shape[:2], seed_for(style, image_id))
        return composite(img, bg, alpha, CompositeConfig())
    if method == "pasted-reference":
        return pasted_reference(img, alpha, model, style, image_id, cfg)
    cfg = dataclasses.replace(cfg, style=style)
    return restyle_image(img, alpha, model, cfg, image_id=image_id).image


def pasted_reference(img, alpha, model, style, image_id, cfg):
    """The ceiling: the reference synthesis would draw from, resized to cover the frame
    (centred), lit and composited as the default path does. The best any background built
    from that reference can score."""
    from stylecore.quality.texture import calibration_images
    from stylecore.transfer.composite import backdrop_light, composite
    from stylecore.transfer.synthesis import drawn_reference, seed_for

    refs = model.references[style]
    ref = refs[drawn_reference(len(refs), seed_for(style, image_id))]
    bg = calibration_images(img, np.zeros(img.shape[:2], np.float32), ref)["pasted"]
    c = cfg.composite
    light = backdrop_light(img, alpha, c.shadow_floor, c.light_sweep, gain=c.light_gain)
    return composite(img, bg, alpha, c, light)


def calibration(photos, model) -> dict:
    """The judge's own calibration on these photos, as ``restyle eval-style`` measures it:
    photo k's background replaced by reference ``k mod n`` (scored against the other
    references only: an unseen image of the look), by colour-matched noise and by the
    references' mean colour. Mean judge per style."""
    from stylecore.quality.style_eval import StyleTarget
    from stylecore.quality.texture import calibration_images

    out: dict = {}
    for style in STYLES:
        refs = model.references[style]
        unseen = [StyleTarget([r for i, r in enumerate(refs) if i != j] or refs)
                  for j in range(len(refs))]  # fmt: skip
        got: dict[str, list[float]] = {"pasted": [], "noise": [], "tint": []}
        for k, (_, img, alpha) in enumerate(photos):
            j = k % len(refs)
            for kind, im in calibration_images(img, alpha, refs[j], k).items():
                got[kind].append((unseen[j].progress(img, im, alpha) or {}).get("judge", np.nan))
        out[style] = {kind: float(np.nanmean(v)) for kind, v in got.items()}
        print(f"  {style:<13} judge calibration: " +
              ", ".join(f"{k} {v:.2f}" for k, v in out[style].items()), flush=True)  # fmt: skip
    return out


def _shots(n: int, side: int):
    from stylecore.synth.catalogue import plan_item
    from stylecore.synth.products import ShotSpec, render_shot

    out = []
    for i in range(n):
        item = plan_item(i)
        w, h = (side, round(side * 0.75)) if i % 2 == 0 else (round(side * 0.75), side)
        shot = render_shot(
            ShotSpec(item.category, w, h, item.background), np.random.default_rng([2026, i])
        )
        out.append((f"sample-{i:02d}", shot.image, shot.alpha))
    return out


def _real(folder: str):
    from pipelines.models import load_segmenter
    from stylecore.io.codec import decode_untrusted
    from stylecore.segmentation import SegmenterConfig
    from stylecore.segmentation.integrity import screen

    seg, cfg = load_segmenter(SegmenterConfig()), SegmenterConfig()
    out, held = [], []
    for f in sorted(glob.glob(os.path.join(folder, "*.jpg"))):
        with open(f, "rb") as fh:
            img = decode_untrusted(fh.read()).image[..., :3]
        mask = seg.segment(img)
        if not screen(img, mask, cfg.integrity).ok or not mask.usable:
            held.append(os.path.basename(f))
            continue
        out.append((os.path.basename(f)[:-4], img, mask.alpha))
    return out, held


def summarise(rows) -> dict:
    """Rows of ``(judge, colour ratio, palette blobs, passed, seconds)``, one per photo,
    as the bench's per-style figures."""
    a = np.array(rows, np.float64)
    return {
        "judge": float(np.nanmean(a[:, 0])),
        "judge_min": float(np.nanmin(a[:, 0])),
        "colour_ratio": float(np.nanmean(a[:, 1])),
        "palette_blobs": int(a[:, 2].sum()),
        "pass_rate": float(a[:, 3].mean()),
        "s_per_photo": float(np.median(a[:, 4])),
    }


def score_set(photos, model, methods) -> dict:
    from stylecore.quality.gate import assess

    res: dict = {}
    for style in STYLES:
        for name, cfg in methods.items():
            rows = []
            for image_id, img, alpha in photos:
                t0 = time.perf_counter()
                out = _restyle(name, cfg, img, alpha, model, style, image_id)
                dt = time.perf_counter() - t0
                rep = assess(img, out, alpha, model.stats[style])
                sc = rep.scores
                rows.append((sc.get("judge", np.nan), sc.get("colour_ratio", np.nan),
                             sc.get("palette_blobs", 0), rep.passed, dt))  # fmt: skip
            res.setdefault(style, {})[name] = summarise(rows)
            r = res[style][name]
            print(f"  {style:<13}{name:<16} judge {r['judge']:.2f} (min {r['judge_min']:.2f}) "
                  f"colour {r['colour_ratio']:.2f} blobs {r['palette_blobs']:3d} "
                  f"pass {r['pass_rate']:.0%} {r['s_per_photo']:.2f} s", flush=True)  # fmt: skip
    return res


def hf_at_2048(model, methods) -> tuple[dict, dict]:
    """Per style and method, the background's fine texture at 2048 px against the
    reference it is drawn from: as ``hf_share`` (power above 1/8 cycle/px within 64 px
    windows) and as ``hf_fraction`` (the same power against the whole background's
    variance, which a magnification does not inflate)."""
    from bench.bench_fullres import hf_fraction, hf_share
    from stylecore.quality.texture import luminance
    from stylecore.transfer.synthesis import background_sources, seed_for

    def pooled(measure, sources):  # weighted by each source's luminance variance
        w = [float(luminance(r).var()) for r in sources]
        return sum(measure(r, None) * v for r, v in zip(sources, w, strict=True)) / sum(w)

    shots = _shots(2, 2048)
    out: dict = {}
    frac: dict = {}
    for style in STYLES:
        refs = model.references[style]
        # each photo against the references its default background is built from (the
        # same ones for every method): the drawn one, and for quilted looks up to two
        # others colour-matched to it. The looks' references differ up to 4x in fine
        # texture, so a look-wide mean would be the wrong yardstick for any one photo.
        used = [background_sources(refs, img.shape[:2], seed_for(style, i))
                for i, img, _ in shots]  # fmt: skip
        ref = [pooled(hf_share, u) for u in used]
        ref_f = [pooled(hf_fraction, u) for u in used]
        for name, cfg in methods.items():
            outs = [(_restyle(name, cfg, img, a, model, style, i), 1.0 - a) for i, img, a in shots]
            shares = [hf_share(o, b) for o, b in outs]
            fracs = [hf_fraction(o, b) for o, b in outs]
            out.setdefault(style, {})[name] = float(np.nanmean(np.divide(shares, ref)))
            frac.setdefault(style, {})[name] = float(np.nanmean(np.divide(fracs, ref_f)))
        print(f"  {style:<13} HF vs references (share / fraction of variance): " +
              ", ".join(f"{k} {v:.2f}x / {frac[style][k]:.2f}x" for k, v in out[style].items()),
              flush=True)  # fmt: skip
    return out, frac


def timings(model) -> dict:
    import torch

    from bench.peers import JohnsonNet
    from pipelines.models import load_segmenter
    from stylecore.quality.gate import assess
    from stylecore.segmentation import SegmenterConfig
    from stylecore.transfer.restyle import TransferConfig, restyle_image

    seg = load_segmenter(SegmenterConfig())
    net = JohnsonNet().eval()

    wood, marble = TransferConfig(style="wood"), TransferConfig(style="marble")
    methods = {"synth": wood, "synth-marble": marble,
               "gan": TransferConfig(style="wood", background="gan")}  # fmt: skip

    def run(name, img, alpha, k):
        if name == "johnson":
            x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
            with torch.inference_mode():
                net(x)
            return
        if name == "transfer":  # restyle_image alone, as bench/bench_speed.py times it
            restyle_image(img, alpha, model, wood, image_id=f"t{k}")
            return
        cfg = methods[name]
        mask = seg.segment(img)
        r = restyle_image(img, mask.alpha, model, cfg, image_id=f"t{k}")
        assess(img, r.image, mask.alpha, model.stats[cfg.style])

    out: dict = {}
    for side in (1024, 2048):
        ((_, img, alpha),) = _shots(1, side)
        # wood is quilted in bands along its grain; marble, watercolour and autumn-bokeh
        # are quilted from up to three of a look's references (the slower path).
        # Johnson's network runs on the same frame (1024 x 768), not a 1024 px square.
        # Rounds interleave the methods, so a slow spell on a shared machine falls on
        # all of them; the first round is a warm-up.
        names = [*methods, "transfer", "johnson"] if side == 1024 else list(methods)
        secs: dict = {name: [] for name in names}
        for k in range(6):
            for name in names:
                t0 = time.perf_counter()
                run(name, img, alpha, k)
                secs[name].append(time.perf_counter() - t0)
        for name, t in secs.items():
            out[f"{name}@{side}"] = float(np.median(t[1:]))
            print(f"  {name:<12} {side} px: {out[f'{name}@{side}']:.2f} s/photo", flush=True)
    out["synth_vs_johnson_images_per_s@1024"] = out["johnson@1024"] / out["synth@1024"]
    out["transfer_vs_johnson_images_per_s@1024"] = out["johnson@1024"] / out["transfer@1024"]
    print(f"  default path {out['synth_vs_johnson_images_per_s@1024']:.1f}x Johnson's images/s "
          "at 1024 px", flush=True)  # fmt: skip
    return out


def table(result: dict) -> str:
    """The README's markdown table: judge / colour ratio / blobs / pass rate per style and
    method, on each photo set; then fine texture at 2048 px and time."""
    sets = [k for k in ("sample", "real") if k in result]
    methods = list(next(iter(result["sample"].values())))
    head = (
        "| style | method | "
        + " | ".join(
            f"{'Sample' if k == 'sample' else 'Shop'} judge / colour / blobs / pass" for k in sets
        )
        + " | HF at 2048 px, share / of variance |"
    )
    lines = [head, "|" + "---|" * (3 + len(sets))]
    for style in STYLES:
        for m in methods:
            cells = []
            for k in sets:
                r = result[k][style][m]
                cells.append(f"{r['judge']:.2f} / {r['colour_ratio']:.2f} / "
                             f"{r['palette_blobs']} / {r['pass_rate']:.0%}")  # fmt: skip
            hf = result.get("hf_2048", {}).get(style, {}).get(m, float("nan"))
            hv = result.get("hf_2048_fraction", {}).get(style, {}).get(m, float("nan"))
            lines.append(f"| {style} | {m} | " + " | ".join(cells) + f" | {hf:.2f}x / {hv:.2f}x |")
    for k, cal in result.get("calibration", {}).items():
        lines.append("")
        lines.append(
            f"Judge calibration, {'sample' if k == 'sample' else 'shop'} photos (pasted unseen "
            "reference / colour-matched noise / flat tint): "
            + "; ".join(
                f"{st} {c['pasted']:.2f} / {c['noise']:.2f} / {c['tint']:.2f}"
                for st, c in cal.items()
            )
            + "."
        )
    t = result.get("time", {})
    if t:
        lines.append("")
        lines.append(
            f"Whole default path (segment, synthesise, composite, check), s per photo: "
            f"{t['synth@1024']:.2f} at 1024 px, {t['synth@2048']:.2f} at 2048 px on wood"
            + (
                f" ({t['synth-marble@1024']:.2f} / {t['synth-marble@2048']:.2f} on marble, "
                "quilted from three of its references)"
                if "synth-marble@1024" in t
                else ""
            )
            + f" (GAN path "
            f"{t['gan@1024']:.2f} / {t['gan@2048']:.2f}); Johnson et al.'s network alone "
            f"{t['johnson@1024']:.2f} s on the same 1024 x 768 frame, so the default path runs "
            f"{t['synth_vs_johnson_images_per_s@1024']:.1f}x its images/s"
            + (
                f"; the transfer alone (`restyle_image` on wood, as `bench/bench_speed.py` "
                f"times it) takes {t['transfer@1024']:.2f} s, "
                f"{t['transfer_vs_johnson_images_per_s@1024']:.1f}x its images/s."
                if "transfer@1024" in t
                else "."
            )
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=12, help="held-out sample photos (seed 2026)")
    ap.add_argument("--real", help="a folder of real product photos (*.jpg)")
    ap.add_argument("--model", help="style model folder (default: the demo model)")
    ap.add_argument("--json", default=os.path.join(ROOT, "bench", "results", "background.json"))
    ap.add_argument("--table", action="store_true", help="print the table of --json and stop")
    ap.add_argument(
        "--only-hf",
        action="store_true",
        help="re-measure only the fine texture at 2048 px, into the existing --json",
    )
    ap.add_argument(
        "--only-time",
        action="store_true",
        help="re-measure only the whole path's time (side by side with the GAN path and "
        "Johnson's network), into the existing --json",
    )
    args = ap.parse_args()
    if args.table:
        with open(args.json) as f:
            print(table(json.load(f)))
        return
    import torch

    from pipelines.models import load_style_model

    torch.set_num_threads(2)
    model = load_style_model(args.model)
    methods = _methods()
    if args.only_hf or args.only_time:
        with open(args.json) as f:
            result = json.load(f)
        if args.only_hf:
            result["hf_2048"], result["hf_2048_fraction"] = hf_at_2048(model, methods)
        else:
            result["time"] = timings(model)
            result["time_command"] = "python bench/bench_background.py --only-time"
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
        print(table(result))
        return
    result: dict = {"command": "python bench/bench_background.py " + " ".join(sys.argv[1:]),
                    "machine": f"{platform.machine()}, {os.cpu_count()} cores"}  # fmt: skip
    print(f"sample catalogue, {args.photos} photos at 1024 px", flush=True)
    shots = _shots(args.photos, 1024)
    result["sample"] = score_set(shots, model, methods)
    result["calibration"] = {"sample": calibration(shots, model)}
    if args.real:
        photos, held = _real(args.real)
        print(
            f"real photos: {len(photos)} restyled, {len(held)} held back by the screen", flush=True
        )
        result["real"] = score_set(photos, model, methods)
        result["calibration"]["real"] = calibration(photos, model)
        result["real_held_back"] = held
    print("fine texture at 2048 px", flush=True)
    result["hf_2048"], result["hf_2048_fraction"] = hf_at_2048(model, methods)
    print("time", flush=True)
    result["time"] = timings(model)
    with open(args.json, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {args.json}")
    print(table(result))


if __name__ == "__main__":
    main()
