"""`restyle train --workers`: the style GAN trained data-parallel."""

from __future__ import annotations

import dataclasses
import logging
import posixpath
import time

from pipelines import storage
from pipelines.style_data import STYLE_SIDE
from pipelines.training.config import DistConfig, DistTrainConfig, storage_path
from pipelines.training.runner import on_cluster, run_fit
from pipelines.training.shards import content_dataset
from pipelines.training.worker import Job, gan_loop

log = logging.getLogger(__name__)


def _full_training(config: dict, scale: float, items: list, rank: int, device, wrap) -> Job:
    """`restyle train --workers`: a style GAN from scratch on ``config["train"]``."""
    from pipelines.models import style_features
    from pipelines.style_data import load_style_sets
    from pipelines.style_export import export_style_model
    from stylecore.config import build
    from stylecore.training.data import ContentStream, StyleStream
    from stylecore.training.style_gan import StyleGANTrainer, StyleTrainConfig, core

    base = build(StyleTrainConfig, config["train"])
    cfg = dataclasses.replace(base, lr_g=base.lr_g * scale, lr_d=base.lr_d * scale)
    ids, refs, hashes = load_style_sets(config["styles"], STYLE_SIDE)
    content = ContentStream(items, cfg.crop, cfg.seed + 1 + 1000 * rank)
    styles = StyleStream(refs, cfg.crop, cfg.seed + 2 + 1000 * rank)
    trainer = StyleGANTrainer(
        cfg, style_features(cfg), content, styles, device=str(device), wrap=wrap
    )

    def export(trainer, losses: dict, card: dict) -> str:
        card = {**card, "final_losses": losses, "features": trainer.features.kind}
        g = core(trainer.G)
        return export_style_model(
            config["root"], g, cfg, ids, refs, hashes, trainer.step, card, config["styles"]
        )

    return Job(trainer, content, styles, cfg.steps, cfg.batch_size, cfg.seed, export)


def train_loop_per_worker(config: dict) -> None:
    """Ray Train's per-worker function for `restyle train --workers` (must stay importable
    by the workers)."""
    gan_loop(config, _full_training)


def fit(
    train: dict,
    dist_cfg: DistConfig,
    content_uri: str,
    style_uris: list[str],
    models_uri: str,
    name: str,
    resume: bool,
) -> dict:
    """Train the style model data-parallel (Ray must be initialised). Returns the final
    metrics, the last checkpoint's path and the model folder."""
    root = storage.join(models_uri, name)
    config = {"train": train, "styles": style_uris, "content": content_uri, "root": root}
    result = run_fit(
        train_loop_per_worker,
        config,
        dist_cfg,
        storage_path(models_uri, name),
        f"{name}-train",
        content_dataset(content_uri),
        resume,
    )
    return {
        "metrics": result.metrics,
        "checkpoint": result.checkpoint.path if result.checkpoint else None,
        "root": root,
    }


def train_on_cluster(
    cfg: DistTrainConfig,
    images: str,
    references: list[str],
    out: str,
    name: str | None,
    resume: bool,
    address: str | None,
    cpus_given: bool,
) -> dict:
    """`restyle train --workers` whole: the model name (``name``, else the look's id, or
    "multi"), Ray (``on_cluster``: ``address``, or a local Ray started and stopped here),
    ``fit``, and the exported version. Returns ``fit``'s result plus ``minutes`` and
    ``version``."""
    ids = [posixpath.basename(u.rstrip("/")) for u in references]
    name = name or (ids[0] if len(ids) == 1 else "multi")
    storage.safe_key(name)
    with on_cluster(address, cfg.dist, cpus_given) as dist:
        t0 = time.perf_counter()
        res = fit(dataclasses.asdict(cfg.train), dist, images, list(references), out, name, resume)
        minutes = (time.perf_counter() - t0) / 60
    version = storage.read_bytes(storage.join(res["root"], "LATEST")).decode().strip()
    return {**res, "minutes": minutes, "version": version}
