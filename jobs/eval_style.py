"""`restyle eval-style`: a before/after sheet and style / structure scores for a model
(``pipelines.style_eval``)."""

from __future__ import annotations

import argparse

from jobs.config import require
from jobs.train_flags import references_arg
from pipelines.style_eval import evaluate, write_eval


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval-style",
        help="before/after sheet and style / structure scores",
        description="Restyle whole catalogue photos with a model and measure, per "
        "photo and style, how far the background moved from the input toward the "
        "style references (as a fraction of the way): texture (radially averaged "
        "luminance power spectrum, level and shape), colour (Lab mean and "
        "covariance) and the ImageNet judge (sliced Wasserstein distance of "
        "EfficientNet-Lite0 feature distributions at layers training does not use); and "
        "the SSIM of edge maps inside the product (its structure). Also scores the "
        "background replaced by an unseen reference, by colour-matched noise and by a "
        "flat tint, to calibrate the measures. Writes before_after.png and scores.json.",
    )
    p.add_argument("--model", help="exported model folder")
    p.add_argument("--images", help="catalogue table or folder of photos")
    references_arg(p, "one folder of reference images per look")
    p.add_argument("-o", "--out", help="output folder for sheet and scores")
    p.add_argument("--limit", type=int, default=12, help="photos to use (default 12)")
    require(p, "--model", "--images", "--references", "--out")
    p.set_defaults(func=run_eval_style)


def run_eval_style(args) -> int:
    ev = evaluate(args.model, args.images, args.references, args.limit)
    print(
        "Fraction of the way from the input to the references, on the background "
        "(1 = as close as the references; texture = min of spectrum level and shape;\n"
        "judge = the ImageNet judge); product edge SSIM: structure kept inside the product.\n"
        "Calibration (texture/colour/judge): the background replaced by an unseen reference, "
        "by colour-matched noise, by a flat tint."
    )
    print(
        f"{'style':<14}{'texture':>8}{'colour':>8}{'judge':>8}{'edgeSSIM':>9}"
        f"   {'pasted':>14}   {'noise':>14}   {'tint':>14}"
    )
    for sid, m in ev.summary.items():
        cal = "".join(
            f"   {m[f'{k}_texture']:4.2f}/{m[f'{k}_colour']:4.2f}/{m[f'{k}_judge']:4.2f}"
            for k in ("pasted", "noise", "tint")
        )
        print(
            f"{sid:<14}{m['texture']:8.2f}{m['colour']:8.2f}{m['judge']:8.2f}"
            f"{m['edge_ssim_product']:9.3f}{cal}"
        )
    print(f"sheet: {write_eval(args.out, ev)}")
    return 0
