"""`restyle apply`: restyle a few photos here, no cluster, through the nightly's own stages
(``pipelines.nightly.preview``)."""

from __future__ import annotations

import argparse
import os
import sys

from jobs.config import SEGMENTER_HELP, add_config_args, load_config
from pipelines.models import DEFAULT_STYLE_MODEL
from pipelines.nightly.preview import preview_styles, start_preview
from pipelines.nightly.runconfig import NightlyConfig
from stylecore.segmentation import METHODS

EXIT_SOME_FAILED = 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "apply",
        help="restyle photos here (no cluster): a preview of what the nightly publishes",
        description="Restyle each photo through the nightly's own stages, in this "
        "process: decode (EXIF orientation, ICC to sRGB, pixel limits), segment (a photo "
        "that is not a studio shot, or whose mask looks broken, is held back), transfer and "
        "the quality gate, with the styles file's choice of look. The same photo, style and "
        "model give the same bytes as `restyle nightly`. Writes OUT/<id>.<style>.<ext>, its "
        "mask (<id>.<style>.mask.png) and a JSON record (scores, verdict, reasons); held "
        "back or rejected photos go under OUT/rejected/ instead. <id> is the file name "
        "without its extension (with it where two inputs share a name; sub-folders of a "
        "folder are kept). Exit code 0 when every photo was processed (a rejection is a "
        "verdict, not an error), 1 when any could not be (each is named), 2 for a bad "
        "command line or config.",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="PHOTO",
        help="photo files or folders (a folder is listed as `nightly --images` lists it)",
    )
    p.add_argument("-o", "--out", required=True, help="output folder or URI (checked first)")
    p.add_argument(
        "--styles",
        metavar="STYLES.yaml",
        help="the nightly's styles file; its default and category rules pick each photo's "
        "look (default: configs/styles-demo.yaml, or every look of --model)",
    )
    p.add_argument(
        "--model",
        help="style model folder, instead of --styles: every look it has, its first by "
        f"default (default model: {os.path.relpath(DEFAULT_STYLE_MODEL)})",
    )
    p.add_argument("--style", help="look for every photo (default: as the styles file picks)")
    p.add_argument(
        "--region",
        choices=["background", "product", "all"],
        help="override what is restyled (default: the style's, usually background)",
    )
    p.add_argument(
        "--alpha",
        type=float,
        help="override: 0 = content, 1 = fully styled (default: the style's, usually 1)",
    )
    p.add_argument(
        "--preserve-colour",
        action="store_true",
        default=None,
        help="override: keep the photo's colours, take only the style's lightness",
    )
    p.add_argument("--segmenter", choices=METHODS, help=SEGMENTER_HELP)
    add_config_args(p, example="transfer.synth.scale=1.5")
    p.set_defaults(func=run)


def run(args) -> int:
    cfg = load_config(NightlyConfig, args.config, args.set_, {"segmenter.method": args.segmenter})
    styles = preview_styles(args.styles, args.model, args.region, args.alpha, args.preserve_colour)
    preview = start_preview(cfg, styles, args.out, args.inputs, args.style)
    items, problems = preview.items, preview.problems
    failed = list(problems)
    for p in problems:
        print(f"restyle apply: error: {p}", file=sys.stderr)
    for n, item in enumerate(items, 1):
        res = preview.restyle(item)
        if res.error is not None:
            failed.append(res.error)
            print(f"restyle apply: error: {res.error}", file=sys.stderr)
            continue
        rec = res.record
        if res.status == "ok":
            verdict = "ok"
        else:
            verdict = f"held back ({rec['held_back']}): " + "; ".join(rec["reasons"])
        print(f"[{n}/{len(items)}] {item.image_id} [{res.style_id}] -> {res.output}: {verdict}")
    if failed:
        print(
            f"restyle apply: {len(failed)} of {len(items) + len(problems)} inputs failed",
            file=sys.stderr,
        )
        return EXIT_SOME_FAILED
    return 0
