"""`restyle train`: a style model from a few reference images, in this process (``--local``)
or data-parallel on Ray Train (``--workers``)."""

from __future__ import annotations

import argparse

from jobs.config import add_config_args, load_config, old_spelling, require
from jobs.train_flags import cpus_given, dist_args, dist_overrides, references_arg
from pipelines.training.config import DistTrainConfig
from pipelines.training.local import train_locally
from pipelines.training.style_gan_job import train_on_cluster
from stylecore.training.style_gan import StyleTrainConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a style model from a few reference images (locally or on Ray Train)",
        description="Train the style GAN (DualGAN-style: G to the style, F back, "
        "two multi-scale PatchGANs; content, Gram style, adversarial, cycle, "
        "identity and L1 constraint losses) on catalogue photos and style "
        "folders (one folder per style; its name is the style id). --local trains in "
        "this process (checkpoints at OUT/NAME/checkpoints/latest.pt); --workers N "
        "trains data-parallel on Ray Train (DDP; gloo on CPU, NCCL on GPU) with "
        "checkpoints under OUT/NAME/ray-train/, automatic restart from the latest "
        "checkpoint after a failure, and TensorBoard events in OUT/NAME/tensorboard/. "
        "Either way the model is exported to OUT/NAME/VERSION/ and OUT/NAME/LATEST names "
        "the version. On a cluster: ray job submit --address http://HEAD:8265 -- restyle "
        "train --workers 4 --gpus-per-worker 1 ...",
    )
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--local", action="store_true", help="train in this process")
    mode.add_argument(
        "--workers", type=int, metavar="N", help="train on Ray Train with N data-parallel workers"
    )
    p.add_argument("--images", help="catalogue photos to learn on: a table or a folder")
    old_spelling(p, "--content", "--images")
    references_arg(p, "one folder of reference images per look (the folder name is its id)")
    p.add_argument("-o", "--out", help="models folder or URI (s3://, gs://)")
    p.add_argument("--name", help="model name (default: the look's id, or 'multi')")
    p.add_argument("--steps", type=int, help="total training steps (default 1500)")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=100,
        metavar="K",
        help="save a checkpoint every K steps (default 100)",
    )
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    p.add_argument("--seed", type=int, help="random seed of crops and weights (default 0)")
    dist_args(p)
    add_config_args(p, example="lr_g=5e-4 (with --workers: train.lr_g=5e-4)")
    require(p, "--images", "--references", "--out")
    p.set_defaults(func=run_train)


def run_train(args) -> int:
    if args.workers is not None:
        return run_train_distributed(args)
    cfg = load_config(
        StyleTrainConfig, args.config, args.set_, {"steps": args.steps, "seed": args.seed}
    )
    res = train_locally(
        cfg, args.references, args.images, args.out, args.name, args.resume, args.checkpoint_every
    )
    print(
        f"trained to step {res['step']} in {res['minutes']:.1f} min; "
        f"model {res['root']}/{res['version']}"
    )
    return 0


def run_train_distributed(args) -> int:
    cfg = load_config(
        DistTrainConfig,
        args.config,
        args.set_,
        {"train.steps": args.steps, "train.seed": args.seed, **dist_overrides(args)},
    )
    res = train_on_cluster(
        cfg,
        args.images,
        args.references,
        args.out,
        args.name,
        args.resume,
        args.address,
        cpus_given(args),
    )
    m = res["metrics"] or {}
    print(
        f"trained to step {m.get('step')} on {cfg.dist.workers} worker(s) in "
        f"{res['minutes']:.1f} min; model {res['root']}/{res['version']}; checkpoints "
        f"{res['checkpoint']}"
    )
    return 0
