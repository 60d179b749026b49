"""New looks from one reference each, with no training, on the default path.

Each folder given to ``--looks`` is one look (its name is the style id), usually one image:
a painting, a texture photograph. The looks are registered on the demo style model by
``restyle add-style --no-train`` (timed), and then, per look:

- **Judge, colour, gate** of the default path (synthesis from the look's references) on
  held-out sample photos (seed 2026, true masks, long side 1024) and, with ``--real``, on
  real shop photos the publish-safety screen passes (``auto`` masks), as
  ``bench_background.py`` measures them: mean and minimum judge, colour distance ratio,
  out-of-palette blobs and the gate's pass rate.
- **Calibration with one reference.** There is no second reference to paste as an unseen
  view of the look, so the reference is cut in two along its long side: the judge's target
  is built from one half and the other half is pasted as the unseen view; colour-matched
  noise and a flat tint are drawn from the first half. Mean judge of each.
- **Fine texture at 2048 px** against the reference (``hf_fraction``, as in
  ``bench_background.py``): a reference much smaller than the frame is magnified and
  its finest band is added back from the reference's own resolution.

Real references kept out of the repository, for example:

    apt-get download opencv-doc && dpkg-deb -x opencv-doc_*.deb deb
    mkdir -p /tmp/looks/starry-night
    cp deb/usr/share/doc/opencv-doc/examples/data/starry_night.jpg /tmp/looks/starry-night/
    (and scikit-image's ``data.gravel()``, ``data.brick()`` saved as PNGs in their own folders)
    .venv/bin/python bench/bench_new_looks.py --looks /tmp/looks/* \\
        --real package/assets/images --json bench/results/new_looks.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _halves(ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = ref.shape[:2]
    if w >= h:
        return ref[:, : w // 2], ref[:, w // 2 :]
    return ref[: h // 2], ref[h // 2 :]


def calibration(photos, ref: np.ndarray) -> dict:
    """Judge of a pasted unseen half, colour-matched noise and a flat tint, against a
    target built from the other half."""
    from stylecore.quality.style_eval import StyleTarget
    from stylecore.quality.texture import calibration_images

    seen, unseen = _halves(ref)
    target = StyleTarget([seen])
    got: dict[str, list[float]] = {"pasted": [], "noise": [], "tint": []}
    for k, (_, img, alpha) in enumerate(photos):
        ims = calibration_images(img, alpha, seen, k)
        ims["pasted"] = calibration_images(img, alpha, unseen, k)["pasted"]
        for kind, im in ims.items():
            got[kind].append((target.progress(img, im, alpha) or {}).get("judge", np.nan))
    return {kind: float(np.nanmean(v)) for kind, v in got.items()}


def score(photos, model, style: str) -> dict:
    from bench.bench_background import summarise
    from stylecore.quality.gate import assess
    from stylecore.transfer.restyle import TransferConfig, restyle_image

    cfg = TransferConfig(style=style)
    rows, held = [], []
    for image_id, img, alpha in photos:
        t0 = time.perf_counter()
        out = restyle_image(img, alpha, model, cfg, image_id=image_id).image
        dt = time.perf_counter() - t0
        rep = assess(img, out, alpha, model.stats[style])
        sc = rep.scores
        rows.append((sc.get("judge", np.nan), sc.get("colour_ratio", np.nan),
                     sc.get("palette_blobs", 0), rep.passed, dt))  # fmt: skip
        if not rep.passed:
            held.append(f"{image_id}: {'; '.join(rep.reasons)}")
    return {"n": len(rows), **summarise(rows), "held_back": held}


def hf(model, style: str) -> float:
    from bench.bench_background import _shots
    from bench.bench_fullres import hf_fraction
    from stylecore.transfer.restyle import TransferConfig, restyle_image

    ref = model.references[style][0]
    ratios = []
    for image_id, img, a in _shots(2, 2048):
        out = restyle_image(img, a, model, TransferConfig(style=style), image_id=image_id).image
        ratios.append(hf_fraction(out, 1.0 - a) / hf_fraction(ref, None))
    return float(np.nanmean(ratios))


def table(result: dict) -> str:
    sets = [k for k in ("sample", "shop") if any(k in r for r in result["looks"].values())]
    head = "| look | reference | " + " | ".join(
        f"{s}: judge mean (min) / colour / gate pass" for s in sets
    )
    lines = [
        head + " | calibration: pasted half / noise / tint | fine texture at 2048 px |",
        "|---" * (4 + len(sets)) + "|",
    ]
    for look, r in result["looks"].items():
        cells = [
            f"{r[s]['judge']:.2f} ({r[s]['judge_min']:.2f}) / {r[s]['colour_ratio']:.2f} / "
            f"{r[s]['pass_rate']:.0%} of {r[s]['n']}"
            for s in sets
        ]
        c = r["calibration"]
        lines.append(
            f"| {look} | {r['reference']} | " + " | ".join(cells) + f" | {c['pasted']:.2f} / "
            f"{c['noise']:.2f} / {c['tint']:.2f} | {r['hf_fraction']:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--looks", nargs="+", required=True, help="one folder per look")
    ap.add_argument("--photos", type=int, default=8, help="held-out sample photos (seed 2026)")
    ap.add_argument("--real", help="a folder of real product photos (*.jpg)")
    ap.add_argument("--base", default=os.path.join(ROOT, "models", "style", "multi"))
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--table", action="store_true", help="print the table of --json and stop")
    args = ap.parse_args()
    if args.table:
        with open(args.json) as f:
            print(table(json.load(f)))
        return

    from bench.bench_background import _real, _shots
    from jobs.cli import main as restyle
    from pipelines.models import load_style_model, resolve_model_version

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rc = restyle(["-q", "add-style", "--model", args.base, "--references", *args.looks,
                      "--no-train", "-o", tmp])  # fmt: skip
        register_s = time.perf_counter() - t0
        if rc:
            raise SystemExit(f"add-style --no-train exited {rc}")
        model = load_style_model(resolve_model_version(tmp)[0])
    print(f"registered {len(args.looks)} looks in {register_s:.1f} s (no training)", flush=True)
    sets = {"sample": _shots(args.photos, 1024)}
    held_real: list[str] = []
    if args.real:
        sets["shop"], held_real = _real(args.real)
    result: dict = {
        "benchmark": "new_looks",
        "command": "python bench/bench_new_looks.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "base_version": model.version,
        "register_s": register_s,
        "shop_photos_held_by_screen": len(held_real),
        "looks": {},
    }
    for d in args.looks:
        look = os.path.basename(os.path.normpath(d))
        refs = model.references[look]
        files = sorted(f for f in os.listdir(d) if not f.startswith("."))
        r: dict = {"reference": ", ".join(files), "n_references": len(refs)}
        for name, photos in sets.items():
            r[name] = score(photos, model, look)
            print(f"  {look:<14}{name:<7} judge {r[name]['judge']:.2f} (min "
                  f"{r[name]['judge_min']:.2f}) colour {r[name]['colour_ratio']:.2f} blobs "
                  f"{r[name]['palette_blobs']} pass {r[name]['pass_rate']:.0%} "
                  f"{r[name]['s_per_photo']:.2f} s", flush=True)  # fmt: skip
        r["calibration"] = calibration(sets["sample"] + sets.get("shop", []), refs[0])
        r["hf_fraction"] = hf(model, look)
        cal = ", ".join(f"{k} {v:.2f}" for k, v in r["calibration"].items())
        print(f"  {look:<14}calibration {cal}; fine texture at 2048 px "
              f"{r['hf_fraction']:.2f}x the reference's", flush=True)  # fmt: skip
        result["looks"][look] = r
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    print(table(result))


if __name__ == "__main__":
    main()
