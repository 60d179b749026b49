"""Segmentation commands: `restyle segment`, `restyle eval-segmentation`,
`restyle train-segmenter`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import asdict

import numpy as np

from jobs.config import SEGMENTER_HELP, add_config_args, load_config, old_spelling, require
from pipelines import datasets, seg_eval, storage
from pipelines.models import DEFAULT_SEGMENTER_MODEL, load_segmenter, write_model_files
from pipelines.training.config import TrainSegmenterConfig
from stylecore.io.codec import encode_image
from stylecore.segmentation import METHODS, SegmenterConfig
from stylecore.segmentation.integrity import screen
from stylecore.viz import outline

log = logging.getLogger(__name__)


def _method_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--segmenter", choices=METHODS, help=SEGMENTER_HELP)
    old_spelling(p, "--method", "--segmenter", choices=METHODS)
    p.add_argument(
        "--model",
        metavar="DIR",
        help="U-Net model folder (default: the demo model, "
        f"{os.path.relpath(DEFAULT_SEGMENTER_MODEL)})",
    )
    add_config_args(p, example="edge.working_size=768")


def _segmenter(args):
    cfg = load_config(SegmenterConfig, args.config, args.set_, {"method": args.segmenter})
    return load_segmenter(cfg, args.model)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "segment",
        help="write product masks and overlay previews",
        description="Segment each IMAGE into product and background. Writes "
        "<name>.mask.png (0-255 soft alpha) and <name>.overlay.jpg (the "
        "background dimmed, the outline drawn) into OUT.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or URIs")
    p.add_argument("-o", "--out", metavar="DIR", help="output folder or URI")
    _method_args(p)
    require(p, "--out")
    p.set_defaults(func=run_segment)

    p = sub.add_parser(
        "eval-segmentation",
        help="measure masks against ground truth",
        description="Segment every image and compare with its ground-truth "
        "mask: mean IoU, boundary F-score (3 px tolerance) and per-category "
        "numbers. --images takes a folder (with --masks) or a catalogue table "
        "with mask_uri (e.g. the sample catalogue's catalogue.csv).",
    )
    p.add_argument("--images", help="folder/prefix of images, or catalogue table")
    p.add_argument("--masks", help="folder of masks matched to images by file name stem")
    p.add_argument("--json", metavar="FILE", help="also write per-image results as JSON")
    _method_args(p)
    require(p, "--images")
    p.set_defaults(func=run_eval)

    p = sub.add_parser(
        "train-segmenter",
        help="train the U-Net segmenter (in this process, or on Ray Train)",
        description="Train the U-Net on (image, mask) pairs (--images with "
        "--masks, or a catalogue table with mask_uri) or on RGBA cut-outs "
        "(--images alone). Each product is also re-composited on random "
        "backdrops with synthetic shadows. Writes model.safetensors and "
        "model.json to --out. With --workers N it trains data-parallel on Ray Train "
        "(DDP), checkpointing to OUT/ray-train/ and restarting from the latest "
        "checkpoint after a failure.",
    )
    p.add_argument("--images", help="folder/prefix of images, or catalogue table")
    p.add_argument("--masks", help="folder of masks (omit for RGBA cut-outs)")
    p.add_argument("-o", "--out", metavar="DIR", help="model output folder or URI")
    p.add_argument("--steps", type=int, help="training steps (default 1200)")
    p.add_argument("--batch-size", type=int, help="batch size (default 8)")
    p.add_argument("--seed", type=int, help="random seed (default 0)")
    dist = p.add_argument_group("Ray Train")
    dist.add_argument(
        "--workers", type=int, metavar="N", help="data-parallel workers (default: train here)"
    )
    dist.add_argument("--gpus-per-worker", type=float, help="GPUs per worker (default 0)")
    dist.add_argument("--cpus-per-worker", type=float, help="CPUs per worker (default 1)")
    dist.add_argument("--max-failures", type=int, help="failures survived (default 2)")
    dist.add_argument(
        "--checkpoint-every", type=int, metavar="K", help="checkpoint every K steps (default 100)"
    )
    dist.add_argument("--resume", action="store_true", help="continue a stopped run")
    dist.add_argument("--address", help="Ray cluster (default: RAY_ADDRESS, else local)")
    add_config_args(p, example="lr=1e-3")
    require(p, "--images", "--out")
    p.set_defaults(func=run_train)


def _name(uri: str) -> str:
    return datasets._stem(uri)


def run_segment(args) -> int:
    seg = _segmenter(args)
    integrity = load_config(SegmenterConfig, args.config, args.set_, {}).integrity
    for uri in args.images:
        ref = datasets.ImageRef(_name(uri), uri)
        img, _ = datasets.load(ref)
        t = time.perf_counter()
        m = seg.segment(img)
        ms = (time.perf_counter() - t) * 1000
        alpha8 = np.clip(m.alpha * 255 + 0.5, 0, 255).astype(np.uint8)
        rgb = img[..., :3]
        dim = (rgb * (0.35 + 0.65 * m.alpha[..., None])).astype(np.uint8)
        storage.write_bytes(
            storage.join(args.out, f"{ref.image_id}.mask.png"), encode_image(alpha8, "png")
        )
        storage.write_bytes(
            storage.join(args.out, f"{ref.image_id}.overlay.jpg"),
            encode_image(outline(dim, m.binary), "jpg", 90),
        )
        flags = ",".join(m.flags) or "-"
        safety = screen(img, m, integrity)
        verdict = "publish-safe" if safety.ok else f"{safety.reason}: " + "; ".join(safety.details)
        print(
            f"{ref.image_id}: coverage {m.coverage:.3f} confidence {m.confidence:.2f} "
            f"flags {flags} method {m.method} ({ms:.0f} ms); {verdict}"
        )
    return 0


def run_eval(args) -> int:
    seg = _segmenter(args)
    integrity = load_config(SegmenterConfig, args.config, args.set_, {}).integrity
    refs = datasets.refs_from(args.images, args.masks)
    refs = [r for r in refs if r.mask_uri]
    if not refs:
        raise SystemExit(f"eval-segmentation: no images with masks under {args.images}")
    rows = seg_eval.measure(seg, refs, integrity)
    summary = seg_eval.summarise(rows, seg.name)
    print(seg_eval.report_text(rows, summary))
    if args.json:
        storage.write_bytes(
            args.json, json.dumps({"summary": summary, "images": rows}, indent=2).encode()
        )
    return 0


def run_train(args) -> int:
    import torch

    from stylecore.segmentation.data import batches, prepare_example
    from stylecore.segmentation.train import SegTrainConfig, train_unet
    from stylecore.segmentation.unet import UNet, UNetConfig, UNetSegmenter, count_parameters

    cfg = load_config(
        TrainSegmenterConfig,
        args.config,
        args.set_,
        {
            "steps": args.steps,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "dist.workers": args.workers,
            "dist.gpus_per_worker": args.gpus_per_worker,
            "dist.cpus_per_worker": args.cpus_per_worker,
            "dist.max_failures": args.max_failures,
            "dist.checkpoint_every": args.checkpoint_every,
        },
    )
    ucfg = UNetConfig(base_channels=cfg.base_channels, depth=cfg.depth, input_size=cfg.input_size)
    tcfg = SegTrainConfig(
        steps=cfg.steps, batch_size=cfg.batch_size, crop=cfg.crop, lr=cfg.lr, seed=cfg.seed
    )
    if args.workers is not None:
        return _train_distributed(args, cfg, ucfg, tcfg)
    if args.resume:
        raise ValueError("--resume applies to --workers runs (local runs are short)")
    refs = datasets.refs_from(args.images, args.masks)
    if not refs:
        raise SystemExit(f"train-segmenter: no images under {args.images}")
    examples = [
        prepare_example(img, mask, ucfg.input_size) for _, img, mask in datasets.iter_loaded(refs)
    ]
    log.info("loaded %d training images from %s", len(examples), args.images)
    torch.manual_seed(cfg.seed)
    model = UNet(ucfg)
    log.info("U-Net: %d parameters", count_parameters(model))
    t0 = time.perf_counter()
    stream = batches(examples, ucfg, tcfg.batch_size, tcfg.crop, np.random.default_rng(cfg.seed))
    losses = train_unet(model, stream, tcfg)
    minutes = (time.perf_counter() - t0) / 60
    seg = UNetSegmenter(ucfg, model)
    meta = {
        "training": {
            **asdict(cfg),
            "images": len(examples),
            "source": args.images,
            "final_loss": float(np.mean(losses[-50:])),
            "minutes": round(minutes, 2),
            "torch_threads": torch.get_num_threads(),
        }
    }
    write_model_files(args.out, seg.to_files(meta, half=cfg.save_half))
    print(
        f"trained {cfg.steps} steps in {minutes:.1f} min, final loss "
        f"{meta['training']['final_loss']:.4f}; model written to {args.out}"
    )
    return 0


def _train_distributed(args, cfg, ucfg, tcfg) -> int:
    from jobs.config import is_set
    from pipelines.ray_session import ray_session
    from pipelines.training.runner import fit_to_cluster
    from pipelines.training.segmenter_job import fit_segmenter

    if args.workers < 1:
        raise ValueError(f"--workers {args.workers}: must be at least 1")
    t0 = time.perf_counter()
    with ray_session(args.address) as local:
        given = is_set("dist.cpus_per_worker", args.config, args.set_, args.cpus_per_worker)
        dist = fit_to_cluster(cfg.dist, cpus_given=given, local=local)
        res = fit_segmenter(
            asdict(tcfg),
            asdict(ucfg),
            dist,
            args.images,
            args.masks,
            args.out,
            cfg.save_half,
            args.resume,
        )
    m = res["metrics"] or {}
    print(
        f"trained {m.get('step')} steps on {cfg.dist.workers} worker(s) in "
        f"{(time.perf_counter() - t0) / 60:.1f} min, loss {m.get('loss', float('nan')):.4f}; "
        f"model written to {args.out}; checkpoints {res['checkpoint']}"
    )
    return 0
