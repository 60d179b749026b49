"""The per-worker loop shared by the GAN jobs: resume, steps, metrics, checkpoints, the fault
hook, and the export by rank 0."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from pipelines import storage
from pipelines.training.checkpoints import (
    maybe_fault,
    report,
    restore,
    tensorboard,
    upload_tensorboard,
)
from pipelines.training.config import DistConfig, lr_scale
from pipelines.training.shards import items_from_rows, rank_rows
from pipelines.training.watchdog import beat

log = logging.getLogger(__name__)


@dataclass
class Job:
    """What the per-worker loop trains: a trainer over this rank's streams, how many steps
    and images per step, and how rank 0 exports the result at the end."""

    trainer: object
    content: object
    styles: object
    steps: int
    batch_size: int
    seed: int
    export: object  # (trainer, losses, card) -> the model's URI


def gan_loop(config: dict, make_job) -> None:
    """Train ``make_job``'s trainer data-parallel: resume, steps, metrics, checkpoints,
    fault injection (tests), and the export by rank 0."""
    import ray.train
    import ray.train.torch
    import torch

    from stylecore.config import build
    from stylecore.runlog import log_context
    from stylecore.training.loop import progress_line

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    d = build(DistConfig, config["dist"])
    scale = lr_scale(d.lr_scaling, world)
    device = ray.train.torch.get_device()
    if device.type == "cpu":
        torch.set_num_threads(d.torch_threads or max(1, int(d.cpus_per_worker)))
    with log_context(rank=rank):
        items = items_from_rows(rank_rows(rank))
        if not items:
            raise RuntimeError(
                f"worker {rank} got no content photos: use fewer workers than photos"
            )
        job = make_job(config, scale, items, rank, device, ray.train.torch.prepare_model)
        trainer, content, styles = job.trainer, job.content, job.styles
        torch.manual_seed(job.seed + rank)  # each rank draws its own noise
        saved, mine = restore(config, rank, world)
        if saved is not None:
            trainer.load_state_dict(saved["trainer"])
            if mine is not None:  # same world size: every rank continues its own data
                content.set_state(mine["content"])
                styles.set_state(mine["style"])
                torch.set_rng_state(mine["torch"])
            log.info("resumed from checkpoint at step %d", trainer.step)
        writer = None
        if rank == 0:
            writer = tensorboard(config)
        t_last, n_since = time.perf_counter(), 0
        losses: dict = {}
        step_times: list[float] = []  # since the last report
        if rank == 0:
            beat(config, trainer.step)  # data loaded, models built: the run is alive
        while trainer.step < job.steps:
            maybe_fault(d, config, trainer.step + 1, rank, world)
            t0 = time.perf_counter()
            losses = trainer.train_step()
            dt = time.perf_counter() - t0
            step_times.append(dt)
            ips = job.batch_size / dt
            n_since += 1
            step = trainer.step
            if writer is not None:
                for k, v in losses.items():
                    writer.add_scalar(f"loss/{k}", v, step)
                writer.add_scalar("throughput/images_per_s_per_worker", ips, step)
                writer.add_scalar("throughput/step_s", dt, step)
            if rank == 0 and (step % d.log_every == 0 or step == job.steps):
                beat(config, step)
                rate = n_since * job.batch_size / (time.perf_counter() - t_last)
                log.info("%s", progress_line(step, job.steps, losses, rate, world))
                t_last, n_since = time.perf_counter(), 0
            if step % d.checkpoint_every == 0 or step == job.steps:
                step_s = float(np.median(step_times))
                metrics = {
                    "step": step,
                    **losses,
                    "step_s_median": step_s,
                    "images_per_s_per_worker": job.batch_size / step_s,
                    "images_per_s": job.batch_size * world / step_s,
                }
                step_times = []
                mine = {
                    "content": content.state(),
                    "style": styles.state(),
                    "torch": torch.get_rng_state(),
                }

                def flush_tb(writer=writer):
                    if writer is not None:
                        writer.flush()
                        upload_tensorboard(config)

                report(
                    rank, world, metrics, lambda: {"trainer": trainer.state_dict()}, mine, flush_tb
                )
        if rank == 0:
            card = {
                "content_source": storage.redact(config["content"]),
                "workers": world,
                "global_batch": job.batch_size * world,
                "lr_scaling": d.lr_scaling,
                "device": str(device),
            }
            uri = job.export(trainer, losses, card)
            log.info("exported the model to %s", uri)
            if writer is not None:
                writer.close()
                upload_tensorboard(config)
