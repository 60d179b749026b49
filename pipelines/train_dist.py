"""Data-parallel training of the style GAN on Ray Train: the same ``StyleGANTrainer`` step,
its four networks wrapped by ``ray.train.torch.prepare_model`` (DDP: NCCL on GPU, gloo on
CPU), each worker training on its own shard of the catalogue.

- **Data.** The catalogue's photos form a Ray Data dataset read from object storage by
  Ray's workers; each training worker takes its shard (``get_dataset_shard``) and draws
  random crops from it. Every worker loads the (few) style references itself. Streams are
  seeded ``seed + 1000 * rank``, so workers see different crops.
- **Batch and learning rate.** The global batch is ``batch_size x workers``. Every loss is
  a mean over images, so this is the same as one worker with the global batch (tested).
  Adam's learning rates scale by ``lr_scaling``: ``sqrt`` (default) multiplies them by
  sqrt(workers), ``linear`` by workers, ``none`` keeps them.
- **Checkpoints.** Every ``checkpoint_every`` steps (and at the end) rank 0 reports the
  full trainer state, plus every rank's data-stream state, through
  ``ray.train.report(..., checkpoint=...)`` to the run's storage path (local or s3://).
  After a worker or node failure Ray Train restarts the workers (``max_failures``) and
  each resumes from the latest checkpoint: same step, same data position.
- **Metrics.** Every step rank 0 writes the losses and images/s per worker as TensorBoard
  events (``<models>/<name>/tensorboard/``) and logs a progress line every ``log_every``.
- **Export.** At the end rank 0 exports the model to ``<models>/<name>/<version>/`` with
  its card (``pipelines.style_export``), ready for ``restyle nightly``.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
import os
import tempfile
import time
from dataclasses import dataclass
from typing import Literal

import numpy as np

from pipelines import datasets, storage

log = logging.getLogger(__name__)

CONTENT_SIDE, STYLE_SIDE = 256, 384


@dataclass(frozen=True)
class DistConfig:
    workers: int = 2
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    torch_threads: int = 0  # CPU workers: 0 = the worker's whole CPUs, at least 1
    max_failures: int = 2  # worker or node failures survived by restarting from a checkpoint
    checkpoint_every: int = 100
    keep_checkpoints: int = 3  # 0 = keep all
    lr_scaling: Literal["none", "sqrt", "linear"] = "sqrt"
    log_every: int = 25
    fault_at_step: int = 0  # testing: the last worker fails once, at this step (0 = never)

    def __post_init__(self) -> None:
        if self.workers < 1 or self.cpus_per_worker <= 0 or self.gpus_per_worker < 0:
            raise ValueError("workers >= 1, cpus_per_worker > 0, gpus_per_worker >= 0")
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every={self.checkpoint_every}: must be >= 1")


def lr_scale(rule: str, workers: int) -> float:
    return {"none": 1.0, "sqrt": math.sqrt(workers), "linear": float(workers)}[rule]


# --- the content dataset (runs on Ray's workers) ------------------------------------------


def _load_content_row(row: dict, long_side: int) -> dict:
    from pipelines.style_data import content_item

    ref = datasets.ImageRef(row["image_id"], row["uri"], row["mask_uri"] or None)
    img, mask = datasets.load(ref)
    item = content_item(img, mask, long_side)
    h, w = item.rgb.shape[:2]
    return {
        "image_id": row["image_id"],
        "h": h,
        "w": w,
        "rgb": item.rgb.tobytes(),
        "mask": item.mask.astype(np.float32).tobytes(),
    }


def content_dataset(content_uri: str):
    """A Ray Data dataset of the catalogue's photos and masks at ``CONTENT_SIDE``."""
    import ray

    refs = datasets.refs_from(content_uri)
    if not refs:
        raise ValueError(f"--content {content_uri}: no images")
    rows = [{"image_id": r.image_id, "uri": r.uri, "mask_uri": r.mask_uri or ""} for r in refs]
    return ray.data.from_items(rows).map(
        _load_content_row, fn_kwargs={"long_side": CONTENT_SIDE}, num_cpus=0.25
    )


def _items_from_rows(rows) -> list:
    from stylecore.training.data import ContentItem

    items = []
    for r in rows:
        h, w = int(r["h"]), int(r["w"])
        rgb = np.frombuffer(r["rgb"], np.uint8).reshape(h, w, 3).copy()
        mask = np.frombuffer(r["mask"], np.float32).reshape(h, w).copy()
        items.append(ContentItem(rgb, mask))
    return items


# --- the per-worker loop --------------------------------------------------------------------


def _fault_marker(config: dict) -> str:
    return storage.join(config["root"], "ray-train", f"{config['run_name']}.fault-injected")


def _save_state(state: dict) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def train_loop_per_worker(config: dict) -> None:
    """Ray Train's per-worker function (must stay importable by the workers)."""
    import ray.train
    import ray.train.torch
    import torch
    import torch.distributed as dist

    from pipelines.models import style_features
    from pipelines.style_data import load_style_sets
    from pipelines.style_export import export_style_model
    from stylecore.config import build
    from stylecore.runlog import log_context
    from stylecore.training.data import ContentStream, StyleStream
    from stylecore.training.style_gan import StyleGANTrainer, StyleTrainConfig, core

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    d = build(DistConfig, config["dist"])
    base = build(StyleTrainConfig, config["train"])
    scale = lr_scale(d.lr_scaling, world)
    cfg = dataclasses.replace(base, lr_g=base.lr_g * scale, lr_d=base.lr_d * scale)
    device = ray.train.torch.get_device()
    if device.type == "cpu":
        torch.set_num_threads(d.torch_threads or max(1, int(d.cpus_per_worker)))
    with log_context(rank=rank):
        ids, refs, hashes = load_style_sets(config["styles"], STYLE_SIDE)
        items = _items_from_rows(ray.train.get_dataset_shard("content").iter_rows())
        if not items:
            raise RuntimeError(
                f"worker {rank} got no content photos: use fewer workers than photos"
            )
        content = ContentStream(items, cfg.crop, cfg.seed + 1 + 1000 * rank)
        styles = StyleStream(refs, cfg.crop, cfg.seed + 2 + 1000 * rank)
        trainer = StyleGANTrainer(
            cfg,
            style_features(cfg),
            content,
            styles,
            device=str(device),
            wrap=ray.train.torch.prepare_model,
        )
        torch.manual_seed(cfg.seed + rank)  # each rank draws its own noise
        ckpt = ray.train.get_checkpoint()
        if ckpt is not None:
            with ckpt.as_directory() as folder, open(os.path.join(folder, "state.pt"), "rb") as f:
                saved = torch.load(io.BytesIO(f.read()), weights_only=True)
            trainer.load_state_dict(saved["trainer"])
            ranks = saved.get("ranks", [])
            if len(ranks) == world:  # same world size: every rank continues its own data
                mine = ranks[rank]
                content.set_state(mine["content"])
                styles.set_state(mine["style"])
                torch.set_rng_state(mine["torch"])
            log.info("resumed from checkpoint at step %d", trainer.step)
        writer = None
        if rank == 0:
            writer = _tensorboard(config)
        t_last, n_since = time.perf_counter(), 0
        losses: dict = {}
        step_times: list[float] = []  # since the last report
        while trainer.step < cfg.steps:
            if d.fault_at_step and trainer.step + 1 == d.fault_at_step and rank == world - 1:
                marker = _fault_marker(config)
                if not storage.exists(marker):
                    storage.write_bytes(marker, b"1")
                    raise RuntimeError(f"injected fault at step {d.fault_at_step} (testing)")
            t0 = time.perf_counter()
            losses = trainer.train_step()
            dt = time.perf_counter() - t0
            step_times.append(dt)
            ips = cfg.batch_size / dt
            n_since += 1
            step = trainer.step
            if writer is not None:
                for k, v in losses.items():
                    writer.add_scalar(f"loss/{k}", v, step)
                writer.add_scalar("throughput/images_per_s_per_worker", ips, step)
                writer.add_scalar("throughput/step_s", dt, step)
            if rank == 0 and (step % d.log_every == 0 or step == cfg.steps):
                rate = n_since * cfg.batch_size / (time.perf_counter() - t_last)
                log.info(
                    "step %d/%d g %.3f d %.3f style %.3f content %.3f (%.2f img/s per worker, "
                    "%d workers)",
                    step,
                    cfg.steps,
                    losses["g_total"],
                    losses["d_total"],
                    losses["style"],
                    losses["content"],
                    rate,
                    world,
                )
                t_last, n_since = time.perf_counter(), 0
            if step % d.checkpoint_every == 0 or step == cfg.steps:
                mine = {
                    "content": content.state(),
                    "style": styles.state(),
                    "torch": torch.get_rng_state(),
                }
                ranks = [None] * world
                if world > 1 and dist.is_initialized():
                    dist.all_gather_object(ranks, mine)
                else:
                    ranks = [mine]
                step_s = float(np.median(step_times))
                metrics = {
                    "step": step,
                    **losses,
                    "step_s_median": step_s,
                    "images_per_s_per_worker": cfg.batch_size / step_s,
                    "images_per_s": cfg.batch_size * world / step_s,
                }
                step_times = []
                if rank == 0:
                    with tempfile.TemporaryDirectory() as folder:
                        state = {"trainer": trainer.state_dict(), "ranks": ranks, "step": step}
                        with open(os.path.join(folder, "state.pt"), "wb") as f:
                            f.write(_save_state(state))
                        with open(os.path.join(folder, "step.txt"), "w") as f:
                            f.write(str(step))
                        if writer is not None:
                            writer.flush()
                            _upload_tensorboard(config)
                        ray.train.report(
                            metrics, checkpoint=ray.train.Checkpoint.from_directory(folder)
                        )
                else:
                    ray.train.report(metrics)
        if rank == 0:
            card = {
                "features": trainer.features.kind,
                "final_losses": losses,
                "content_source": storage.redact(config["content"]),
                "workers": world,
                "global_batch": cfg.batch_size * world,
                "lr_scaling": d.lr_scaling,
                "device": str(device),
            }
            uri = export_style_model(
                config["root"], core(trainer.G), cfg, ids, refs, hashes, trainer.step, card
            )
            log.info("exported the model to %s", uri)
            if writer is not None:
                writer.close()
                _upload_tensorboard(config)


def _tensorboard(config: dict):
    from tensorboardX import SummaryWriter

    return SummaryWriter(_local_tb_dir(config))


def _local_tb_dir(config: dict) -> str:
    root = config["root"]
    if storage.is_local(root):
        return storage.join(storage._split(root)[1], "tensorboard")
    return os.path.join(tempfile.gettempdir(), "restyle-tensorboard", config["run_name"])


def _upload_tensorboard(config: dict) -> None:
    """Copy the event files next to the model when the models live in object storage."""
    if storage.is_local(config["root"]):
        return
    local = _local_tb_dir(config)
    for name in os.listdir(local):
        with open(os.path.join(local, name), "rb") as f:
            storage.write_bytes(storage.join(config["root"], "tensorboard", name), f.read())


# --- the driver ------------------------------------------------------------------------------


def storage_path(models_uri: str, name: str) -> str:
    """Where Ray Train keeps the run's checkpoints: ``<models>/<name>/ray-train``."""
    return storage.join(models_uri, name, "ray-train")


def fit(
    train: dict,
    dist_cfg: DistConfig,
    content_uri: str,
    style_uris: list[str],
    models_uri: str,
    name: str,
    resume: bool,
) -> dict:
    """Run the data-parallel training (Ray must be initialised). Returns the final
    metrics and the checkpoint path."""
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    root = storage.join(models_uri, name)
    run_name = f"{name}-train"
    path = storage_path(models_uri, name)
    exists = storage.exists(storage.join(path, run_name))
    if exists and not resume:
        raise ValueError(
            f"a training run already exists at {storage.join(path, run_name)}; "
            "pass --resume to continue it, or another --name"
        )
    if resume and not exists:
        raise FileNotFoundError(f"--resume: no training run at {storage.join(path, run_name)}")
    use_gpu = dist_cfg.gpus_per_worker > 0
    resources = {"CPU": dist_cfg.cpus_per_worker}
    if use_gpu:
        resources["GPU"] = dist_cfg.gpus_per_worker
    config = {
        "train": train,
        "dist": dataclasses.asdict(dist_cfg),
        "styles": style_uris,
        "content": content_uri,
        "root": root,
        "run_name": run_name,
    }
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=config,
        scaling_config=ScalingConfig(
            num_workers=dist_cfg.workers, use_gpu=use_gpu, resources_per_worker=resources
        ),
        run_config=RunConfig(
            name=run_name,
            storage_path=path,
            failure_config=FailureConfig(max_failures=dist_cfg.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=dist_cfg.keep_checkpoints or None),
        ),
        datasets={"content": content_dataset(content_uri)},
    )
    result = trainer.fit()
    if result.error:
        raise RuntimeError(f"training failed: {result.error}")
    return {
        "metrics": result.metrics,
        "checkpoint": result.checkpoint.path if result.checkpoint else None,
        "root": root,
    }
