"""`restyle add-style` against full training, same seed, same data.

1. A base model is trained like the demo model (`make style-model`: the seed-200 training
   catalogue, 800 steps, the default config) but on three of its five styles (marble,
   watercolour, autumn-bokeh). It is cached under --work.
2. Each held-out style (wood, geometric) is added to that base by `restyle add-style`,
   separately: the minutes it takes, and the model size before and after.
3. The added style and the same style in the demo model (a full training of all five
   styles, `models/style/multi`) are scored side by side by `restyle eval-style`'s measures
   (texture, colour, the ImageNet judge, product edge SSIM) on the same held-out photos
   (the first 12 of the seed-2026 sample catalogue) against that catalogue's references.

    .venv/bin/restyle sample-catalogue /tmp/heldout --seed 2026 --count 96
    .venv/bin/python bench/bench_add_style.py --heldout /tmp/heldout \\
        --json bench/results/add_style.json

About 45 minutes on 2 cores with no cached base (the base training is 25-30 of them).

``--looks DIR... --base MODEL`` is the quick form: each look folder is added to an existing
model (e.g. the demo model and looks it never saw, such as the real-photograph looks of
`restyle sample-catalogue --real-styles`), and only the time, the size growth and the added
style's own scores are reported, with no full-training comparison:

    .venv/bin/python bench/bench_add_style.py --heldout /tmp/heldout \
        --base models/style/multi --looks /tmp/looks/brick /tmp/looks/hubble
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jobs.cli import main as restyle
from pipelines import datasets
from pipelines.models import load_style_model, resolve_model_version
from pipelines.style_data import load_content, load_style_sets
from stylecore.quality.style_eval import evaluate_style

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE_STYLES = ("marble", "watercolour", "autumn-bokeh")
ADDED = ("wood", "geometric")
MEASURES = ("texture", "colour", "judge", "edge_ssim_product")


def run(*argv: str) -> None:
    code = restyle(list(argv))
    if code:
        raise SystemExit(f"restyle {argv[0]} exited {code}")


def scores(model_uri: str, style: str, refs_dir: str, heldout: str, limit: int) -> dict:
    """eval-style's measures of ``style`` against the references in ``refs_dir``, on the
    first ``limit`` photos of the held-out catalogue (with its calibration scores)."""
    model = load_style_model(model_uri)
    _, refs, _ = load_style_sets([refs_dir], 384)
    table = os.path.join(heldout, "catalogue.csv")
    content = load_content(table, 256, limit=limit)
    names = [r.image_id for r in datasets.refs_from(table)][:limit]
    _, summary, _ = evaluate_style(model, content, names, [style], refs)
    keys = (*MEASURES, "pasted_judge", "noise_judge", "tint_judge")
    return {k: float(summary[style][k]) for k in keys}


def added_row(style: str, base_uri: str, added_uri: str, wall: float, **extra) -> dict:
    card = load_style_model(added_uri).card["added_styles"][-1]
    size = lambda uri: os.path.getsize(os.path.join(uri, "generator.safetensors"))  # noqa: E731
    return {
        "style": style,
        "add_train_minutes": card["train_minutes"],
        "add_wall_minutes": wall,
        "steps": card["steps"],
        "size_growth": size(added_uri) / size(base_uri) - 1.0,
        **extra,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--heldout", required=True, help="a seed-2026 sample catalogue folder")
    ap.add_argument("--work", default="build/add-style-bench", help="cache of the base model")
    ap.add_argument("--steps", type=int, default=150, help="add-style steps (default 150)")
    ap.add_argument("--limit", type=int, default=12, help="held-out photos scored")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--base", help="quick form: add --looks to this model, no comparison")
    ap.add_argument("--looks", nargs="*", default=[], help="quick form: look folders to add")
    args = ap.parse_args()
    if args.base:
        return quick(args)
    train_dir = os.path.join(ROOT, "build", "style-train")
    if not os.path.exists(os.path.join(train_dir, "catalogue.csv")):
        run("-q", "sample-catalogue", train_dir, "--count", "42", "--seed", "200",
            "--no-contact-sheet")  # fmt: skip
    base_root = os.path.join(args.work, "base")
    t0 = time.perf_counter()
    if not os.path.exists(os.path.join(base_root, "LATEST")):
        run(
            "train", "--local", "--images", os.path.join(train_dir, "catalogue.csv"),
            "--references", *[os.path.join(train_dir, "styles", s) for s in BASE_STYLES],
            "--out", args.work, "--name", "base", "--steps", "800", "--checkpoint-every", "100",
            *(["--resume"] if os.path.exists(os.path.join(base_root, "checkpoints")) else []),
        )  # fmt: skip
    base_minutes = (time.perf_counter() - t0) / 60
    base_uri, base_version = resolve_model_version(base_root)
    full_uri, full_version = resolve_model_version(os.path.join(ROOT, "models", "style", "multi"))
    rows = []
    for style in ADDED:
        out = os.path.join(args.work, f"plus-{style}")
        t = time.perf_counter()
        run(
            "add-style", "--model", base_uri,
            "--references", os.path.join(train_dir, "styles", style),
            "--images", os.path.join(train_dir, "catalogue.csv"), "--out", out,
            "--steps", str(args.steps),
        )  # fmt: skip
        wall = (time.perf_counter() - t) / 60
        added_uri, _ = resolve_model_version(out)
        refs_dir = os.path.join(args.heldout, "styles", style)
        added = scores(added_uri, style, refs_dir, args.heldout, args.limit)
        full = scores(full_uri, style, refs_dir, args.heldout, args.limit)
        diff = {k: added[k] - full[k] for k in MEASURES}
        rows.append(
            added_row(
                style, base_uri, added_uri, wall, added=added, full_training=full, difference=diff
            )
        )
        print(json.dumps(rows[-1], indent=1), flush=True)
    res = {
        "benchmark": "add_style",
        "base_version": base_version,
        "base_styles": list(BASE_STYLES),
        "base_train_minutes_this_run": base_minutes,
        "full_version": full_version,
        "heldout": args.heldout,
        "photos": args.limit,
        "rows": rows,
    }
    print(f"{'style':<10}{'minutes':>8}{'size':>8}  " + "  ".join(f"{m:>22}" for m in MEASURES))
    for r in rows:
        cells = "  ".join(
            f"{r['added'][m]:6.2f} vs {r['full_training'][m]:5.2f} ({r['difference'][m]:+.2f})"
            for m in MEASURES
        )
        print(f"{r['style']:<10}{r['add_wall_minutes']:8.1f}{r['size_growth']:+8.1%}  {cells}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
    return 0


def quick(args) -> int:
    train_dir = os.path.join(ROOT, "build", "style-train")
    if not os.path.exists(os.path.join(train_dir, "catalogue.csv")):
        run("-q", "sample-catalogue", train_dir, "--count", "42", "--seed", "200",
            "--no-contact-sheet")  # fmt: skip
    base_uri, base_version = resolve_model_version(args.base)
    rows = []
    for look in args.looks:
        style = os.path.basename(look.rstrip("/"))
        out = os.path.join(args.work, f"quick-plus-{style}")
        t = time.perf_counter()
        content = os.path.join(train_dir, "catalogue.csv")
        run("add-style", "--model", base_uri, "--references", look, "--images", content,
            "--out", out, "--steps", str(args.steps))  # fmt: skip
        wall = (time.perf_counter() - t) / 60
        added_uri, _ = resolve_model_version(out)
        own = scores(added_uri, style, look, args.heldout, args.limit)
        rows.append(added_row(style, base_uri, added_uri, wall, scores=own))
        print(json.dumps(rows[-1], indent=1), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"benchmark": "add_style_quick", "base_version": base_version, "rows": rows},
                f,
                indent=2,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
