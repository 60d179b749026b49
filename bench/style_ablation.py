"""Style fidelity, side by side: what each of the style model's choices buys.

    .venv/bin/python bench/style_ablation.py [--steps 300] [--styles wood geometric]
        [--variants full,previous,...] [--out bench/results/style_ablation.json]
        [--sheet docs/style_ablation.jpg]

Every variant trains from the same seed on the same training catalogue (sample-catalogue
seed 200, 42 photos, with the real-photograph looks ``brick`` and ``hubble`` beside the
five procedural ones) for the same number of steps, then ``eval-style``'s measures are
taken on held-out photos (seed 2026, 8 photos) against the training references:

- ``full``: the defaults of ``StyleTrainConfig`` (EfficientNet-Lite0 features);
- ``random-features``: the seeded random-filter feature network instead (the default
  before issue 14);
- ``lite0-shallow``, ``lite0-mid``, ``lite0-deep``: other EfficientNet-Lite0 taps;
- ``lite0-plain``: the generator of before issue 14 (direct output, full-resolution skip,
  noise on the product too), on Lite0 features;
- ``single-scale``: Gram losses at full size only, no oriented-edge Grams, white noise only
  (no pyramid, no low-frequency noise);
- ``no-diffaug``: the discriminators see un-augmented images;
- ``uniform-weights``: the style and content terms weigh product and backdrop alike (no
  mask weighting);
- ``previous``: the configuration before the style-fidelity work: single-scale Grams, no
  colour-statistics term, the plain generator (no mask input, no residual output, white
  noise), one content layer at weight 1 (0.15 on the backdrop), L1 1, no DiffAugment.

Per variant: texture / colour / judge fractions of the way to the references, product
edge SSIM, the final discriminator and adversarial losses, and minutes. Training is on 2
torch threads; a variant takes about 7-9 minutes at 250-300 steps on 2 cores. Writes the JSON, and a
sheet with a row per variant (reference, then restyles) for the first style.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

VARIANTS = {
    "full": {},
    # The feature network (issue 14): the seeded random filters of before, and other taps of
    # EfficientNet-Lite0 (block indices; -1 = the stem).
    "random-features": {"features.kind": "random"},
    "lite0-shallow": {"features.taps": (-1, 0, 2, 4)},
    "lite0-mid": {"features.taps": (-1, 2, 4, 7, 10), "content_layers": (0, 1)},
    "lite0-deep": {"features.taps": (-1, 0, 2, 4, 7, 10, 13), "style_pyramid": 2},
    # "full" uses the product-first generator (residual output from the identity, no noise
    # on the product, L1 3), the default since issue 14; this is the generator of before
    # (direct output with a full-resolution skip, noise everywhere, L1 2), on Lite0.
    "lite0-plain": {
        "generator.residual": False,
        "generator.mask_noise": False,
        "generator.skip": True,
        "weights.l1_constraint": 2.0,
    },
    "single-scale": {
        "style_pyramid": 1,
        "oriented_grams": False,
        "generator.noise_scales": (1,),
    },
    "no-diffaug": {"diffaug": False},
    "uniform-weights": {"weights.style_product": 1.0, "weights.content_background": 1.0},
    "previous": {
        "features.kind": "random",
        "style_pyramid": 1,
        "oriented_grams": False,
        "diffaug": False,
        "content_layers": (2,),
        "generator.noise_scales": (1,),
        "generator.mask_input": False,
        "generator.mask_noise": False,
        "generator.residual": False,
        "weights.style_product": 1.0,
        "weights.colour": 0.0,
        "weights.content": 1.0,
        "weights.content_background": 0.15,
        "weights.l1_constraint": 1.0,
    },
}


def _replace(cfg, overrides: dict):
    """``cfg`` with dotted-path overrides (``weights.colour``, ``generator.skip``)."""
    nested: dict[str, dict] = {}
    flat = {}
    for k, v in overrides.items():
        head, _, rest = k.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = v
        else:
            flat[k] = v
    for head, sub in nested.items():
        flat[head] = dataclasses.replace(getattr(cfg, head), **sub)
    return dataclasses.replace(cfg, **flat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--styles", nargs="+", default=["wood", "geometric"])
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--photos", type=int, default=8, help="held-out photos to measure")
    ap.add_argument("--out", default=os.path.join(ROOT, "bench", "results", "style_ablation.json"))
    ap.add_argument("--sheet", default=None, help="write the side-by-side sheet here")
    ap.add_argument(
        "--save-models", default=None, metavar="DIR", help="also save each variant's model here"
    )
    args = ap.parse_args()

    import torch

    from pipelines.models import style_features
    from pipelines.sample_catalogue import SampleCatalogueConfig, write_sample_catalogue
    from pipelines.style_data import load_content, load_style_sets
    from stylecore.io.codec import encode_image
    from stylecore.models.style_model import StyleModel
    from stylecore.quality.style_eval import evaluate_style
    from stylecore.training.data import ContentStream, StyleStream
    from stylecore.training.loop import run_steps
    from stylecore.training.style_gan import StyleGANTrainer, StyleTrainConfig, core
    from stylecore.viz import contact_sheet

    torch.set_num_threads(2)
    tmp = tempfile.mkdtemp(prefix="bench-style-")
    train_dir, held_dir = os.path.join(tmp, "train"), os.path.join(tmp, "heldout")
    write_sample_catalogue(
        train_dir,
        SampleCatalogueConfig(count=42, seed=200, contact_sheet=False, real_styles=True),
    )
    write_sample_catalogue(held_dir, SampleCatalogueConfig(seed=2026, contact_sheet=False))
    ids, refs, _ = load_style_sets([os.path.join(train_dir, "styles", s) for s in args.styles], 384)
    content = load_content(os.path.join(train_dir, "catalogue.csv"), 256)
    held = load_content(os.path.join(held_dir, "catalogue.csv"), 256, limit=args.photos)
    names = [f"held-{i}" for i in range(len(held))]

    results, rows_for_sheet = {}, []
    for name in args.variants.split(","):
        cfg = _replace(StyleTrainConfig(steps=args.steps), VARIANTS[name])
        trainer = StyleGANTrainer(
            cfg,
            style_features(cfg),
            ContentStream(content, cfg.crop, cfg.seed + 1),
            StyleStream(refs, cfg.crop, cfg.seed + 2),
        )
        curve: list[dict] = []

        def log(step: int, losses: dict, _rate: float, curve=curve) -> None:
            curve.append({"step": step, **losses})

        t0 = time.perf_counter()
        final = run_steps(trainer, cfg.steps, 25, on_log=log)
        minutes = (time.perf_counter() - t0) / 60
        model = StyleModel(core(trainer.G).eval(), ids, name, {}, {})
        if args.save_models:
            for fname, blob in model.to_files().items():
                os.makedirs(os.path.join(args.save_models, name), exist_ok=True)
                with open(os.path.join(args.save_models, name, fname), "wb") as f:
                    f.write(blob)
        _, summary, tiles = evaluate_style(model, held, names, ids, refs)
        results[name] = {
            "overrides": {
                k: list(v) if isinstance(v, tuple) else v for k, v in VARIANTS[name].items()
            },
            "summary": summary,
            "final_losses": final,
            "d_total_curve": [(c["step"], round(c["d_total"], 4)) for c in curve],
            "train_minutes": round(minutes, 2),
        }
        per = len(tiles) // (len(ids) + 1)
        first_style = tiles[per : 2 * per]
        rows_for_sheet += [(first_style[0][0], f"{ids[0]} reference")] + [
            (img, name) for img, _ in first_style[1:]
        ]
        s0 = summary[ids[0]]
        print(
            f"{name:<16} {minutes:5.1f} min  "
            + "  ".join(
                f"{sid}: tex {m['texture']:.2f} col {m['colour']:.2f} judge {m['judge']:.2f} "
                f"edge {m['edge_ssim_product']:.2f}"
                for sid, m in summary.items()
            )
            + f"  d {final['d_total']:.3f} adv {final['adv']:.3f}",
            flush=True,
        )
        del s0
    out = {
        "command": "python bench/style_ablation.py " + " ".join(sys.argv[1:]),
        "steps": args.steps,
        "styles": ids,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "variants": results,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
    if args.sheet:
        per = len(rows_for_sheet) // len(results)
        sheet = contact_sheet(
            rows_for_sheet, tile=180, cols=per, title=f"{ids[0]}: one variant per row"
        )
        with open(args.sheet, "wb") as f:
            f.write(encode_image(sheet, "jpg", quality=88))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
