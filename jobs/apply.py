"""`restyle apply`: restyle a few photos here, no cluster, through the nightly's own stages."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import sys

from jobs.config import SEGMENTER_HELP, add_config_args, load_config
from pipelines import storage
from pipelines.models import DEFAULT_STYLE_MODEL, REPO_ROOT, load_style_model
from pipelines.nightly.manifest import held_back_reason
from pipelines.nightly.preview import LocalStages, list_inputs, styles_for_model
from pipelines.nightly.rows import flag_list, reason_list
from pipelines.nightly.runconfig import NightlyConfig, RunContext, load_styles
from pipelines.nightly.stages.write import mask_png
from stylecore.config import ConfigError
from stylecore.segmentation import METHODS

log = logging.getLogger(__name__)

DEFAULT_STYLES = os.path.join(REPO_ROOT, "configs", "styles-demo.yaml")
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


def _styles(args):
    if args.styles and args.model:
        raise ConfigError("give --styles or --model, not both")
    if args.model or not (args.styles or storage.exists(DEFAULT_STYLES)):
        looks = load_style_model(args.model).looks
        return styles_for_model(args.model or "", looks, looks[0])
    return load_styles(args.styles or DEFAULT_STYLES)


def _override(styles, args):
    """The styles file with --region/--alpha/--preserve-colour folded into every entry."""
    changes = {
        k: v
        for k, v in (
            ("region", args.region),
            ("alpha", args.alpha),
            ("preserve_colour", args.preserve_colour),
        )
        if v is not None
    }
    if not changes:
        return styles
    entries = {n: dataclasses.replace(e, **changes) for n, e in styles.styles.items()}
    return dataclasses.replace(styles, styles=entries)


def _record(row: dict, out_uri: str, mask_uri: str) -> dict:
    scores = {
        k: v
        for k, v in json.loads(row["scores_json"] or "{}").items()
        if v is None or math.isfinite(v)
    }
    reasons = reason_list(row["reasons"])
    return {
        "image_id": row["image_id"],
        "source": row["source_uri"],
        "output": out_uri,
        "mask": mask_uri,
        "style": row["style_id"],
        "model_version": row["model_version"],
        "config_hash": row["config_hash"],
        "status": row["status"],
        "passed": bool(row["passed"]),
        "held_back": held_back_reason(reasons) if row["status"] == "rejected" else None,
        "reasons": reasons,
        "scores": scores,
        "mask_coverage": row["mask_coverage"],
        "mask_confidence": row["mask_confidence"],
        "mask_flags": flag_list(row["mask_flags"]),
        "source_format": row["source_format"],
        "width": row["width"],
        "height": row["height"],
        "timings_s": {
            s: row[f"t_{s}"]
            for s in ("decode", "segment", "transfer", "check")
            if math.isfinite(row[f"t_{s}"])
        },
    }


def run(args) -> int:
    cfg = load_config(NightlyConfig, args.config, args.set_, {"segmenter.method": args.segmenter})
    styles = _override(_styles(args), args)
    if args.style and args.style not in styles.styles:
        known = ", ".join(sorted(styles.styles))
        raise ConfigError(f"--style {args.style!r}: not in the styles file; known: {known}")
    storage.check_writable(args.out)  # before any work
    items, problems = list_inputs(args.inputs)
    ctx = RunContext.create("apply", args.out, styles, cfg)
    models = {}
    for s in ctx.styles.values():  # every look must exist in its model, now
        if s.model_uri not in models:
            models[s.model_uri] = load_style_model(s.model_uri)
        models[s.model_uri].check_look(s.transfer.style)
        if args.style == s.name and not s.transfer.synthesises:
            models[s.model_uri].style_index(s.transfer.style)  # the generator needs training
    stages = LocalStages(ctx)
    fmt = ctx.output.format
    failed = list(problems)
    for p in problems:
        print(f"restyle apply: error: {p}", file=sys.stderr)
    for n, item in enumerate(items, 1):
        style_id = args.style or styles.style_for("", item.category)
        row = stages.run(item, style_id)
        if row["status"] == "failed":
            msg = f"{item.uri}: {row['error_message']}"
            failed.append(msg)
            print(f"restyle apply: error: {msg}", file=sys.stderr)
            continue
        base = args.out if row["status"] == "ok" else storage.join(args.out, "rejected")
        stem = f"{storage.safe_key(item.image_id)}.{style_id}"
        out_uri = storage.join(base, f"{stem}.{fmt}")
        mask_uri = storage.join(base, f"{stem}.mask.png")
        storage.write_bytes(mask_uri, mask_png(row["alpha"]))
        storage.write_bytes(out_uri, stages.encode(row))
        rec = _record(row, out_uri, mask_uri)
        storage.write_bytes(storage.join(base, f"{stem}.json"), json.dumps(rec, indent=2).encode())
        if row["status"] == "ok":
            verdict = "ok"
        else:
            verdict = f"held back ({rec['held_back']}): " + "; ".join(rec["reasons"])
        print(f"[{n}/{len(items)}] {item.image_id} [{style_id}] -> {out_uri}: {verdict}")
    if failed:
        print(
            f"restyle apply: {len(failed)} of {len(items) + len(problems)} inputs failed",
            file=sys.stderr,
        )
        return EXIT_SOME_FAILED
    return 0
