"""`restyle add-style --workers`: new looks on a frozen base model, data-parallel."""

from __future__ import annotations

import dataclasses
import logging
import time

from pipelines import storage
from pipelines.add_style import check_request, run_name
from pipelines.models import load_style_model
from pipelines.style_data import STYLE_SIDE
from pipelines.training.config import DistAddStyleConfig, DistConfig
from pipelines.training.runner import on_cluster, run_fit
from pipelines.training.shards import content_dataset
from pipelines.training.worker import Job, gan_loop
from stylecore.training.add_style import AddStyleConfig

log = logging.getLogger(__name__)


def _adding_styles(config: dict, scale: float, items: list, rank: int, device, wrap) -> Job:
    """`restyle add-style --workers`: new styles' codes and adapters on the frozen base
    model at ``config["base_uri"]`` (``config["add"]``: its ``AddStyleConfig``)."""
    from pipelines.models import load_style_model, style_features
    from pipelines.style_data import load_style_sets
    from pipelines.style_export import add_styles_version
    from stylecore.config import build
    from stylecore.training.add_style import (
        AddStyleConfig,
        AddStyleTrainer,
        merge,
        slots_for,
        train_config_for,
    )
    from stylecore.training.data import ContentStream, StyleStream
    from stylecore.training.style_gan import core

    add = build(AddStyleConfig, config["add"])
    base = load_style_model(config["base_uri"])
    cfg = train_config_for(base.card["train_config"], add)
    cfg = dataclasses.replace(cfg, lr_g=cfg.lr_g * scale, lr_d=cfg.lr_d * scale)
    scaled = dataclasses.replace(add, lr_style=add.lr_style * scale)
    ids, refs, hashes = load_style_sets(config["styles"], STYLE_SIDE, min_refs=1, min_side=64)
    content = ContentStream(items, cfg.crop, add.seed + 1 + 1000 * rank)
    styles = StyleStream(refs, cfg.crop, add.seed + 2 + 1000 * rank)
    trainer = AddStyleTrainer(
        cfg, scaled, style_features(cfg), content, styles, base.generator, str(device), wrap
    )
    t0 = time.perf_counter()

    def export(trainer, losses: dict, card: dict) -> str:
        slots = slots_for(base.style_ids, ids)
        generator = merge(base.generator, core(trainer.G), slots)
        minutes = (time.perf_counter() - t0) / 60
        return add_styles_version(
            config["root"], base, generator, ids, slots, refs, hashes, trainer.step, minutes,
            losses, add, config["styles"], run=card,
        )  # fmt: skip

    return Job(trainer, content, styles, add.steps, cfg.batch_size, add.seed, export)


def add_style_loop_per_worker(config: dict) -> None:
    """Ray Train's per-worker function for `restyle add-style --workers`."""
    gan_loop(config, _adding_styles)


def add_styles_distributed(
    model: str,
    style_dirs: list[str],
    content_uri: str,
    out: str,
    cfg: AddStyleConfig,
    dist: DistConfig,
    replace: bool = False,
    resume: bool = False,
) -> dict:
    """``add_styles`` data-parallel on Ray Train with ``dist.workers`` workers (Ray must be
    initialised). Every check runs here, on the driver, before a worker starts; rank 0
    exports the new version at the end. Checkpoints go to ``OUT/ray-train/<run>/``."""
    base_uri, base, ids, _, _ = check_request(model, style_dirs, replace)
    name = run_name(base.version, ids)
    log.info(
        "adding %s to %s (styles %s) on %d worker(s), %d steps; run %s",
        ids, base.version, base.style_ids, dist.workers, cfg.steps, name,
    )  # fmt: skip
    config = {
        "add": dataclasses.asdict(cfg),
        "base_uri": base_uri,
        "styles": list(style_dirs),
        "content": content_uri,
        "root": out,
    }
    t0 = time.perf_counter()
    result = run_fit(
        add_style_loop_per_worker,
        config,
        dist,
        storage.join(out, "ray-train"),
        name,
        content_dataset(content_uri),
        resume,
    )
    version = storage.read_bytes(storage.join(out, "LATEST")).decode().strip()
    added = load_style_model(storage.join(out, version))
    return {
        "uri": storage.join(out, version).rstrip("/"),
        "base_version": base.version,
        "style_ids": ids,
        "steps": int((result.metrics or {}).get("step", 0)),
        "minutes": (time.perf_counter() - t0) / 60,
        "n_styles": len(added.style_ids),
        "checkpoint": result.checkpoint.path if result.checkpoint else None,
    }


def add_styles_on_cluster(
    model: str,
    style_dirs: list[str],
    content_uri: str,
    out: str,
    cfg: DistAddStyleConfig,
    replace: bool,
    resume: bool,
    address: str | None,
    cpus_given: bool,
) -> dict:
    """`restyle add-style --workers` whole: Ray (``on_cluster``: ``address``, or a local
    Ray started and stopped here), then ``add_styles_distributed`` on ``cfg.dist``."""
    with on_cluster(address, cfg.dist, cpus_given) as dist:
        return add_styles_distributed(
            model, style_dirs, content_uri, out, cfg.add, dist, replace=replace, resume=resume
        )
