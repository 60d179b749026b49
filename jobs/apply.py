"""`restyle apply`: restyle photos by hand, no cluster, with scores and a verdict each."""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass, field

from jobs.config import add_config_args, load_config
from pipelines import datasets, storage
from pipelines.models import DEFAULT_STYLE_MODEL, load_segmenter, load_style_model
from pipelines.stages.write import mask_png
from stylecore.io.codec import encode_image
from stylecore.quality.checks import QualityConfig
from stylecore.quality.gate import assess
from stylecore.segmentation import METHODS, SegmenterConfig
from stylecore.segmentation.integrity import screen
from stylecore.transfer.restyle import TransferConfig, restyle_image

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ApplyConfig:
    transfer: TransferConfig = field(default_factory=TransferConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "apply",
        help="restyle photos by hand (no cluster), with a verdict",
        description="Segment each IMAGE, restyle it with a style model (by default a new "
        "background quilted from the look's own references and lit like the photo's "
        "backdrop; the generator for --region product/all), and score it with the "
        "quality gate. Writes OUT/<name>.<style>.<ext>, its product mask "
        "(<name>.<style>.mask.png) and a JSON of scores, verdict and reasons next to it. "
        "A photo that is not a studio shot, or whose mask looks broken, is not restyled "
        "(reason not_a_studio_shot or segmentation_doubtful). Exit code 0 even when the "
        "gate rejects: the verdict is in the output.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or URIs")
    p.add_argument("--model", help=f"style model folder (default {DEFAULT_STYLE_MODEL})")
    p.add_argument("--style", help="look id (default: the model's first)")
    p.add_argument(
        "--region",
        choices=["background", "product", "all"],
        help="what to restyle (default background: the product is kept)",
    )
    p.add_argument("--alpha", type=float, help="0 = content, 1 = fully styled (default 1)")
    p.add_argument(
        "--preserve-colour",
        action="store_true",
        default=None,
        help="keep the photo's colours, take only the style's lightness",
    )
    p.add_argument(
        "--segmenter", choices=METHODS, help="default auto (U-Net and edge, the less doubtful mask)"
    )
    p.add_argument("-o", "--out", required=True, help="output folder or URI")
    add_config_args(p)
    p.set_defaults(func=run)


def run(args) -> int:
    cfg = load_config(
        ApplyConfig,
        args.config,
        args.set_,
        {
            "transfer.style": args.style,
            "transfer.alpha": args.alpha,
            "transfer.composite.region": args.region,
            "transfer.preserve_colour": args.preserve_colour,
            "segmenter.method": args.segmenter,
        },
    )
    model = load_style_model(args.model)
    style = cfg.transfer.style or model.looks[0]
    model.check_look(style)  # fails early, naming the model's looks
    if not cfg.transfer.synthesises:
        model.style_index(style)  # the generator path needs a trained style
    seg = load_segmenter(cfg.segmenter)
    stats = model.stats.get(style)
    if stats is None:
        log.warning("model has no style statistics: the style-match check is skipped")
    for uri in args.images:
        ref = datasets.ImageRef(datasets._stem(uri), uri)
        img, _ = datasets.load(ref)
        rgb = img[..., :3]
        t0 = time.perf_counter()
        mask = seg.segment(img)
        t_seg = time.perf_counter() - t0
        safety = screen(img, mask, cfg.segmenter.integrity)
        if safety.ok:
            res = restyle_image(
                rgb, mask.alpha, model, cfg.transfer, image_id=ref.image_id, style=style
            )
            out_img, timings = res.image, res.timings
            t1 = time.perf_counter()
            report = assess(
                rgb, out_img, mask.alpha, stats, cfg.transfer.composite.region, cfg.quality
            )
            reasons, scores = list(report.reasons), {**safety.scores, **report.scores}
            if not mask.usable:
                reasons.insert(0, f"segmentation flags: {', '.join(mask.flags)}")
            passed = report.passed and mask.usable
        else:
            # not restyled around a mask that cannot be trusted: the photo comes back as it is
            out_img, timings, t1 = rgb, {}, time.perf_counter()
            reasons = [f"{safety.reason}: " + "; ".join(safety.details)]
            scores, passed = safety.scores, False
        ext = "png" if uri.lower().endswith(".png") else "jpg"
        out_uri = storage.join(args.out, f"{ref.image_id}.{style}.{ext}")
        storage.write_bytes(out_uri, encode_image(out_img, ext, 92))
        storage.write_bytes(
            storage.join(args.out, f"{ref.image_id}.{style}.mask.png"), mask_png(mask.alpha)
        )
        record = {
            "image_id": ref.image_id,
            "source": uri,
            "output": out_uri,
            "style": style,
            "model_version": model.version,
            "passed": passed,
            "reasons": reasons,
            "scores": scores,
            "mask": {
                "coverage": mask.coverage,
                "confidence": mask.confidence,
                "flags": list(mask.flags),
                "method": mask.method,
            },
            "timings_s": {"segment": t_seg, **timings, "check": time.perf_counter() - t1},
        }
        storage.write_bytes(
            storage.join(args.out, f"{ref.image_id}.{style}.json"),
            json.dumps(record, indent=2).encode(),
        )
        verdict = "ok" if passed else "REJECTED: " + "; ".join(reasons)
        print(f"{ref.image_id} [{style}] -> {out_uri}: {verdict}")
    return 0
