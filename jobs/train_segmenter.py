"""`restyle train-segmenter`: the U-Net segmenter, trained in this process or data-parallel
on Ray Train (``--workers``)."""

from __future__ import annotations

import argparse

from jobs.config import add_config_args, load_config, require
from jobs.train_flags import cpus_given, dist_overrides
from pipelines import datasets
from pipelines.training.config import TrainSegmenterConfig, segmenter_configs
from pipelines.training.segmenter_local import train_segmenter_locally


def register(sub: argparse._SubParsersAction) -> None:
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


def run_train(args) -> int:
    cfg = load_config(
        TrainSegmenterConfig,
        args.config,
        args.set_,
        {
            "steps": args.steps,
            "batch_size": args.batch_size,
            "seed": args.seed,
            **dist_overrides(args),
        },
    )
    ucfg, tcfg = segmenter_configs(cfg)
    if args.workers is not None:
        return _train_distributed(args, cfg, ucfg, tcfg)
    if args.resume:
        raise ValueError("--resume applies to --workers runs (local runs are short)")
    refs = datasets.refs_from(args.images, args.masks)
    if not refs:
        raise SystemExit(f"train-segmenter: no images under {args.images}")
    res = train_segmenter_locally(cfg, ucfg, tcfg, refs, args.images, args.out)
    print(
        f"trained {cfg.steps} steps in {res['minutes']:.1f} min, final loss "
        f"{res['final_loss']:.4f}; model written to {args.out}"
    )
    return 0


def _train_distributed(args, cfg, ucfg, tcfg) -> int:
    from pipelines.training.segmenter_job import train_segmenter_on_cluster

    res = train_segmenter_on_cluster(
        cfg, ucfg, tcfg, args.images, args.masks, args.out, args.resume, args.address,
        cpus_given(args),
    )  # fmt: skip
    m = res["metrics"] or {}
    print(
        f"trained {m.get('step')} steps on {cfg.dist.workers} worker(s) in "
        f"{res['minutes']:.1f} min, loss {m.get('loss', float('nan')):.4f}; "
        f"model written to {args.out}; checkpoints {res['checkpoint']}"
    )
    return 0
