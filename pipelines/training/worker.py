"""The one per-worker loop of every data-parallel training job (``run_worker``): resume,
steps, progress and metrics, checkpoints, the fault hook (tests), TensorBoard and the export
by rank 0. What is trained is a ``WorkerJob``: the style GAN jobs (``gan_loop`` wraps their
``Job``) and the U-Net (``segmenter_job.SegmenterJob``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

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


class WorkerJob(Protocol):
    """What ``run_worker`` trains on one rank."""

    steps: int  # steps in all
    batch_size: int  # images per step on this rank
    tensorboard: bool  # rank 0 writes TensorBoard events

    @property
    def step(self) -> int: ...  # steps done

    def train_step(self) -> dict[str, float]: ...  # one step; its losses

    def state(self) -> dict: ...  # the shared state a checkpoint keeps (rank 0's)

    def rank_state(self) -> dict: ...  # this rank's data position and random state

    def load(self, saved: dict, mine: dict | None) -> None: ...  # resume

    def progress(self, losses: dict[str, float], rate: float, world: int) -> str: ...

    def export(self, losses: dict[str, float], card: dict) -> str: ...  # rank 0; the URI


MakeJob = Callable[[dict, int, int, object, float], WorkerJob]


def _scalars(writer, step: int, losses: dict[str, float], batch: int, dt: float) -> None:
    for k, v in losses.items():
        writer.add_scalar(f"loss/{k}", v, step)
    writer.add_scalar("throughput/images_per_s_per_worker", batch / dt, step)
    writer.add_scalar("throughput/step_s", dt, step)


def _metrics(step: int, window: list[dict], step_times: list[float], batch: int, world: int):
    """A checkpoint's report: each loss averaged over ``window`` (the steps since the last
    checkpoint), the median step time and the throughput."""
    step_s = float(np.median(step_times))
    return {
        "step": step,
        **{k: float(np.mean([w[k] for w in window])) for k in window[-1]},
        "step_s_median": step_s,
        "images_per_s_per_worker": batch / step_s,
        "images_per_s": batch * world / step_s,
    }


def run_worker(config: dict, make: MakeJob) -> None:
    """Train ``make(config, rank, world, device, lr_scale)`` on this Ray Train worker.

    Checkpoints every ``checkpoint_every`` steps and at the end report the step, each
    loss averaged over the steps since the last checkpoint, the median step time and the
    throughput; rank 0's checkpoint holds the job's ``state`` and every rank's
    ``rank_state``, so a restart with the same world size replays exactly."""
    import ray.train
    import ray.train.torch
    import torch

    from stylecore.config import build
    from stylecore.runlog import log_context

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    d = build(DistConfig, config["dist"])
    device = ray.train.torch.get_device()
    if device.type == "cpu":
        torch.set_num_threads(d.torch_threads or max(1, int(d.cpus_per_worker)))
    with log_context(rank=rank):
        job = make(config, rank, world, device, lr_scale(d.lr_scaling, world))
        saved, mine = restore(config, rank, world)
        if saved is not None:
            job.load(saved, mine)
            log.info("resumed from checkpoint at step %d", job.step)
        writer = tensorboard(config) if rank == 0 and job.tensorboard else None

        def flush_tb() -> None:
            if writer is not None:
                writer.flush()
                upload_tensorboard(config)

        t_last, n_since = time.perf_counter(), 0
        losses: dict[str, float] = {}
        window: list[dict[str, float]] = []  # losses since the last checkpoint
        step_times: list[float] = []
        if rank == 0:
            beat(config, job.step)  # data loaded, models built: the run is alive
        while job.step < job.steps:
            maybe_fault(d, config, job.step + 1, rank, world)
            t0 = time.perf_counter()
            losses = job.train_step()
            dt = time.perf_counter() - t0
            step_times.append(dt)
            window.append(losses)
            n_since += 1
            step = job.step
            if writer is not None:
                _scalars(writer, step, losses, job.batch_size, dt)
            if rank == 0 and (step % d.log_every == 0 or step == job.steps):
                beat(config, step)
                rate = n_since * job.batch_size / (time.perf_counter() - t_last)
                log.info("%s", job.progress(losses, rate, world))
                t_last, n_since = time.perf_counter(), 0
            if step % d.checkpoint_every == 0 or step == job.steps:
                metrics = _metrics(step, window, step_times, job.batch_size, world)
                step_times, window = [], []
                report(rank, world, metrics, job.state, job.rank_state(), flush_tb)
        if rank == 0:
            card = {
                "content_source": storage.redact(config["content"]),
                "workers": world,
                "global_batch": job.batch_size * world,
                "lr_scaling": d.lr_scaling,
                "device": str(device),
            }
            uri = job.export(losses, card)
            log.info("exported the model to %s", uri)
            if writer is not None:
                writer.close()
                upload_tensorboard(config)


@dataclass
class Job:
    """A style GAN job: a trainer over this rank's streams, how many steps and images per
    step, and how rank 0 exports the result at the end."""

    trainer: object
    content: object
    styles: object
    steps: int
    batch_size: int
    seed: int
    export: object  # (trainer, losses, card) -> the model's URI


class _GanJob:
    """A GAN ``Job`` as a ``WorkerJob``: the trainer's state is shared; each rank's content
    and style stream positions and torch RNG are its own."""

    tensorboard = True

    def __init__(self, job: Job, rank: int):
        import torch

        self.job = job
        self.steps, self.batch_size = job.steps, job.batch_size
        torch.manual_seed(job.seed + rank)  # each rank draws its own noise

    @property
    def step(self) -> int:
        return self.job.trainer.step

    def train_step(self) -> dict[str, float]:
        return self.job.trainer.train_step()

    def state(self) -> dict:
        return {"trainer": self.job.trainer.state_dict()}

    def rank_state(self) -> dict:
        import torch

        return {
            "content": self.job.content.state(),
            "style": self.job.styles.state(),
            "torch": torch.get_rng_state(),
        }

    def load(self, saved: dict, mine: dict | None) -> None:
        import torch

        self.job.trainer.load_state_dict(saved["trainer"])
        if mine is not None:  # same world size: every rank continues its own data
            self.job.content.set_state(mine["content"])
            self.job.styles.set_state(mine["style"])
            torch.set_rng_state(mine["torch"])

    def progress(self, losses: dict[str, float], rate: float, world: int) -> str:
        from stylecore.training.loop import progress_line

        return progress_line(self.step, self.steps, losses, rate, world)

    def export(self, losses: dict[str, float], card: dict) -> str:
        return self.job.export(self.job.trainer, losses, card)


def gan_loop(config: dict, make_job) -> None:
    """Train ``make_job``'s style GAN data-parallel with ``run_worker``. ``make_job(config,
    lr_scale, items, rank, device, wrap)`` gets this rank's content photos."""
    import ray.train.torch

    def make(config: dict, rank: int, world: int, device, scale: float) -> WorkerJob:
        items = items_from_rows(rank_rows(rank))
        if not items:
            raise RuntimeError(
                f"worker {rank} got no content photos: use fewer workers than photos"
            )
        job = make_job(config, scale, items, rank, device, ray.train.torch.prepare_model)
        return _GanJob(job, rank)

    run_worker(config, make)
