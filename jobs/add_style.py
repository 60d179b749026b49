"""`restyle add-style`: new looks on a trained style model (its shared weights frozen), by
registration alone (``--no-train``), trained in this process, or on Ray Train
(``--workers``)."""

from __future__ import annotations

import argparse

from jobs.config import add_config_args, load_config, old_spelling, require
from jobs.train_flags import cpus_given, dist_args, dist_overrides, references_arg
from pipelines.training.config import DistAddStyleConfig
from stylecore.config import ConfigError
from stylecore.training.add_style import AddStyleConfig


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "add-style",
        help="add looks to a trained style model in minutes (shared weights frozen)",
        description="Learn one new look per style folder (the folder name is the style id; "
        "1-10 references) on top of a trained style model: only each new style's code and "
        "its small adapter (offsets to the generator's per-style normalisation and tone) "
        "are trained, on the same losses as `restyle train`; every shared weight stays "
        "frozen, so the model's existing styles give byte-identical outputs. Writes a new "
        "version holding the old styles plus the new ones to OUT/VERSION/ and moves "
        "OUT/LATEST; the model card records the added styles, their reference hashes, the "
        "base version, the steps and the time. An existing style id is refused unless "
        "--replace. Trains in this process by default (checkpoints at "
        "OUT/checkpoints/add-style.pt); --workers N trains data-parallel on Ray Train like "
        "`restyle train --workers` (checkpoints under OUT/ray-train/, restart from the "
        "latest checkpoint after a failure). --resume continues either. "
        "--no-train registers the looks from their references alone in seconds: the "
        "nightly's default background is synthesised from a look's own references, so it "
        "needs no training; only region product/all and GAN harmonisation do. One "
        "reference per folder is enough (training sees random crops, flips and scales of "
        "it); more help.",
    )
    p.add_argument("--model", help="base model: a model folder with LATEST, or a version folder")
    references_arg(p, "one folder of reference images per new look (the folder name is its id)")
    p.add_argument(
        "--images", help="catalogue photos to learn on: a table or a folder (not with --no-train)"
    )
    old_spelling(p, "--content", "--images")
    p.add_argument("-o", "--out", help="model folder for the new version (often --model's)")
    p.add_argument(
        "--no-train",
        action="store_true",
        help="register the looks from their references only (seconds): background restyling "
        "without training",
    )
    p.add_argument("--steps", type=int, help="training steps (default 150: 3-4 minutes on 2 cores)")
    p.add_argument(
        "--replace", action="store_true", help="retrain a style id the model already has"
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=50,
        metavar="K",
        help="save a checkpoint every K steps (default 50)",
    )
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.add_argument("--seed", type=int, help="random seed of crops and new weights (default 0)")
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="train on Ray Train with N data-parallel workers (default: in this process); "
        "--set keys are then add.* and dist.*",
    )
    dist_args(p)
    add_config_args(p, example="lr_style=1e-2 (with --workers: add.lr_style=1e-2)")
    require(p, "--model", "--references", "--out")
    p.set_defaults(func=run_add_style)


def run_add_style(args) -> int:
    from pipelines import add_style
    from pipelines.training.add_style_job import add_styles_on_cluster

    if args.no_train:
        if args.workers is not None or args.resume:
            raise ConfigError("--no-train trains nothing: drop --workers and --resume")
        res = add_style.register(args.model, args.references, args.out, replace=args.replace)
        print(
            f"registered {', '.join(res['style_ids'])} on {res['base_version']} in "
            f"{res['minutes'] * 60:.1f} s (no training); model {res['uri']} now carries "
            f"{res['n_styles']} looks"
        )
        return 0
    if not args.images:
        raise ConfigError("--images is required to train a look (or pass --no-train)")
    if args.workers is None:
        cfg = load_config(
            AddStyleConfig, args.config, args.set_, {"steps": args.steps, "seed": args.seed}
        )
        res = add_style.add_styles(
            args.model,
            args.references,
            args.images,
            args.out,
            cfg,
            replace=args.replace,
            resume=args.resume,
            checkpoint_every=args.checkpoint_every,
        )
        where = ""
    else:
        both = load_config(
            DistAddStyleConfig,
            args.config,
            args.set_,
            {"add.steps": args.steps, "add.seed": args.seed, **dist_overrides(args)},
        )
        res = add_styles_on_cluster(
            args.model,
            args.references,
            args.images,
            args.out,
            both,
            args.replace,
            args.resume,
            args.address,
            cpus_given(args),
        )
        where = f" on {both.dist.workers} worker(s)"
    print(
        f"added {', '.join(res['style_ids'])} to {res['base_version']}{where} in "
        f"{res['minutes']:.1f} min ({res['steps']} steps); model {res['uri']} now carries "
        f"{res['n_styles']} styles"
    )
    return 0
