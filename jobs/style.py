"""Style-model commands: `restyle train`, `restyle add-style` and `restyle eval-style`."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import posixpath
import time

from jobs.config import add_config_args, is_set, load_config, old_spelling, require
from pipelines import datasets, storage
from pipelines.models import load_style_model
from pipelines.ray_session import ray_session
from pipelines.style_data import CONTENT_SIDE, STYLE_SIDE, load_content, load_style_sets
from pipelines.training.config import DistConfig
from pipelines.training.local import train_locally
from pipelines.training.runner import fit_to_cluster
from pipelines.training.style_gan_job import fit
from stylecore.config import ConfigError
from stylecore.io.codec import encode_image
from stylecore.quality.style_eval import evaluate_style
from stylecore.training.add_style import AddStyleConfig
from stylecore.training.style_gan import StyleTrainConfig
from stylecore.viz import contact_sheet

log = logging.getLogger(__name__)


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
    _references_arg(p, "one folder of reference images per look (the folder name is its id)")
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
    _dist_args(p)
    add_config_args(p, example="lr_g=5e-4 (with --workers: train.lr_g=5e-4)")
    require(p, "--images", "--references", "--out")
    p.set_defaults(func=run_train)

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
    _references_arg(p, "one folder of reference images per new look (the folder name is its id)")
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
    _dist_args(p)
    add_config_args(p, example="lr_style=1e-2 (with --workers: add.lr_style=1e-2)")
    require(p, "--model", "--references", "--out")
    p.set_defaults(func=run_add_style)

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
    _references_arg(p, "one folder of reference images per look")
    p.add_argument("-o", "--out", help="output folder for sheet and scores")
    p.add_argument("--limit", type=int, default=12, help="photos to use (default 12)")
    require(p, "--model", "--images", "--references", "--out")
    p.set_defaults(func=run_eval_style)


def _references_arg(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument("--references", nargs="+", metavar="DIR", help=text)
    old_spelling(p, "--styles", "--references", nargs="+")


def _dist_args(p: argparse.ArgumentParser) -> None:
    dist = p.add_argument_group("Ray Train (--workers)")
    dist.add_argument("--gpus-per-worker", type=float, help="GPUs per worker (default 0)")
    dist.add_argument("--cpus-per-worker", type=float, help="CPUs per worker (default 1)")
    dist.add_argument(
        "--max-failures",
        type=int,
        help="worker or node failures to survive by restarting from the latest "
        "checkpoint (default 2)",
    )
    dist.add_argument("--address", help="Ray cluster (default: RAY_ADDRESS, else a local Ray)")


def _dist_overrides(args) -> dict:
    """The command line's Ray Train options as ``dist.*`` config keys."""
    return {
        "dist.workers": args.workers,
        "dist.gpus_per_worker": args.gpus_per_worker,
        "dist.cpus_per_worker": args.cpus_per_worker,
        "dist.max_failures": args.max_failures,
        "dist.checkpoint_every": args.checkpoint_every,
    }


@contextlib.contextmanager
def _on_ray(args, dist: DistConfig):
    """Ray (``--address``, RAY_ADDRESS, or a local one this command starts and stops), and
    ``dist`` checked against it (``fit_to_cluster``) before anything trains."""
    if dist.workers < 1:
        raise ValueError(f"--workers {dist.workers}: must be at least 1")
    with ray_session(args.address) as local:
        given = is_set("dist.cpus_per_worker", args.config, args.set_, args.cpus_per_worker)
        yield fit_to_cluster(dist, cpus_given=given, local=local)


@dataclasses.dataclass(frozen=True)
class DistAddStyleConfig:
    """``restyle add-style --workers``'s config: the add-style config plus the distribution."""

    add: AddStyleConfig = dataclasses.field(default_factory=AddStyleConfig)
    dist: DistConfig = dataclasses.field(default_factory=DistConfig)


@dataclasses.dataclass(frozen=True)
class DistTrainConfig:
    """``restyle train --workers``'s config: the training config plus the distribution."""

    train: StyleTrainConfig = dataclasses.field(default_factory=StyleTrainConfig)
    dist: DistConfig = dataclasses.field(default_factory=DistConfig)


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


def run_add_style(args) -> int:
    from pipelines.add_style import add_styles, register
    from pipelines.training.add_style_job import add_styles_distributed

    if args.no_train:
        if args.workers is not None or args.resume:
            raise ConfigError("--no-train trains nothing: drop --workers and --resume")
        res = register(args.model, args.references, args.out, replace=args.replace)
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
        res = add_styles(
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
            {"add.steps": args.steps, "add.seed": args.seed, **_dist_overrides(args)},
        )
        with _on_ray(args, both.dist) as dist:
            res = add_styles_distributed(
                args.model,
                args.references,
                args.images,
                args.out,
                both.add,
                dist,
                replace=args.replace,
                resume=args.resume,
            )
        where = f" on {both.dist.workers} worker(s)"
    print(
        f"added {', '.join(res['style_ids'])} to {res['base_version']}{where} in "
        f"{res['minutes']:.1f} min ({res['steps']} steps); model {res['uri']} now carries "
        f"{res['n_styles']} styles"
    )
    return 0


def run_train_distributed(args) -> int:
    cfg = load_config(
        DistTrainConfig,
        args.config,
        args.set_,
        {"train.steps": args.steps, "train.seed": args.seed, **_dist_overrides(args)},
    )
    ids = [posixpath.basename(u.rstrip("/")) for u in args.references]
    name = args.name or (ids[0] if len(ids) == 1 else "multi")
    storage.safe_key(name)
    with _on_ray(args, cfg.dist) as dist:
        t0 = time.perf_counter()
        res = fit(
            dataclasses.asdict(cfg.train),
            dist,
            args.images,
            list(args.references),
            args.out,
            name,
            args.resume,
        )
        minutes = (time.perf_counter() - t0) / 60
    root = res["root"]
    version = storage.read_bytes(storage.join(root, "LATEST")).decode().strip()
    m = res["metrics"] or {}
    print(
        f"trained to step {m.get('step')} on {cfg.dist.workers} worker(s) in {minutes:.1f} "
        f"min; model {root}/{version}; checkpoints {res['checkpoint']}"
    )
    return 0


def run_eval_style(args) -> int:
    model = load_style_model(args.model)
    ids, refs, _ = load_style_sets(args.references, STYLE_SIDE)
    content = load_content(args.images, CONTENT_SIDE, limit=args.limit)
    names = [r.image_id for r in datasets.refs_from(args.images)][: args.limit]
    rows, summary, tiles = evaluate_style(model, content, names, ids, refs)
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
    for sid, m in summary.items():
        cal = "".join(
            f"   {m[f'{k}_texture']:4.2f}/{m[f'{k}_colour']:4.2f}/{m[f'{k}_judge']:4.2f}"
            for k in ("pasted", "noise", "tint")
        )
        print(
            f"{sid:<14}{m['texture']:8.2f}{m['colour']:8.2f}{m['judge']:8.2f}"
            f"{m['edge_ssim_product']:9.3f}{cal}"
        )
    cols = len(tiles) // (len(summary) + 1)
    sheet = contact_sheet(tiles, tile=200, cols=cols, title=f"restyled whole: {model.version}")
    storage.write_bytes(storage.join(args.out, "before_after.png"), encode_image(sheet, "png"))
    storage.write_bytes(
        storage.join(args.out, "scores.json"),
        json.dumps({"summary": summary, "images": rows}, indent=2).encode(),
    )
    print(f"sheet: {storage.join(args.out, 'before_after.png')}")
    return 0
