"""Data-parallel training of the style GAN on Ray Train: the same ``StyleGANTrainer`` step,
its four networks wrapped by ``ray.train.torch.prepare_model`` (DDP: NCCL on GPU, gloo on
CPU), each worker training on its own shard of the catalogue.

- **Data.** The catalogue's photos are read from object storage and decoded by Ray Data.
  Each rank has its own dataset of a fixed part of them (``RankedImages``: sorted image
  ids, every ``world``-th one), so a rank always trains on the same photos in the same
  order, whatever Ray's scheduling: a restarted worker replays exactly the batches it
  would have drawn (Ray Data's streaming split hands out blocks to whichever worker asks
  first, which made restarts replay other photos). Each worker draws random crops from
  its photos. Every worker loads the (few) style references itself. Streams are
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

import contextlib
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
    # No step reported for this long (data that never loads, workers that never get
    # resources, a wedged collective) stops the run with a clear error; 0 = wait forever.
    # Generous by default: a cluster's autoscaler may take minutes to add GPU nodes.
    no_progress_timeout_s: float = 1800.0
    fault_at_step: int = 0  # testing: the last worker fails once, at this step (0 = never)
    # testing: how it fails: a Python exception, or SIGKILL of its own process (as the OOM
    # killer or a lost node would: no cleanup, no exception reaches Ray Train)
    fault_kind: Literal["exception", "sigkill"] = "exception"

    def __post_init__(self) -> None:
        if self.workers < 1 or self.cpus_per_worker <= 0 or self.gpus_per_worker < 0:
            raise ValueError("workers >= 1, cpus_per_worker > 0, gpus_per_worker >= 0")
        if self.checkpoint_every < 1:
            raise ValueError(f"checkpoint_every={self.checkpoint_every}: must be >= 1")


# CPUs each Ray Data loading task asks for (content_dataset, segmenter_dataset): at least
# this much must stay free beside the Train workers, or the data never loads and the run
# waits forever ("Cluster resources are not enough to run any task").
DATA_TASK_CPUS = 0.25


def worker_resources(d: DistConfig) -> dict[str, float]:
    """What each Train worker asks for (one placement-group bundle per worker)."""
    r = {"CPU": d.cpus_per_worker}
    if d.gpus_per_worker > 0:
        r["GPU"] = d.gpus_per_worker
    return r


def fit_to_cluster(d: DistConfig, cpus_given: bool, local: bool) -> DistConfig:
    """Check, before training starts, that ``d.workers`` Train workers plus one data-loading
    task fit the cluster.

    On a local Ray this process started (``local``), a request that cannot fit is fixed or
    refused: the default ``cpus_per_worker`` (not ``cpus_given``) is lowered to what fits,
    with a warning; anything else raises ``ConfigError`` naming what to change. On an
    existing cluster more may be on the way (an autoscaler), so a request beyond what is
    there now only logs a warning."""
    import ray

    from stylecore.config import ConfigError

    total = ray.cluster_resources()
    cpus, gpus = float(total.get("CPU", 0.0)), float(total.get("GPU", 0.0))
    need_cpus = d.workers * d.cpus_per_worker + DATA_TASK_CPUS
    need_gpus = d.workers * d.gpus_per_worker
    if need_cpus <= cpus + 1e-9 and need_gpus <= gpus + 1e-9:
        return d
    what = (
        f"{d.workers} worker(s) x {d.cpus_per_worker:g} CPU"
        + (f" and {d.gpus_per_worker:g} GPU" if d.gpus_per_worker else "")
        + f", plus {DATA_TASK_CPUS:g} CPU to load data"
    )
    if not local:
        from pipelines.placement import discover_cluster, pack
        from pipelines.runconfig import ResourceConfig

        shape = discover_cluster(ResourceConfig())
        need = [worker_resources(d)] * d.workers + [{"CPU": DATA_TASK_CPUS}]
        if shape.source and not pack(need, shape.possible):
            raise ConfigError(
                f"{what} cannot fit the cluster even at its largest ({shape.describe()}; "
                f"node types from {shape.source}), so the run would wait forever. Use "
                "fewer --workers, or a smaller --cpus-per-worker / --gpus-per-worker"
            )
        log.warning(
            "%s is more than the cluster has now (%g CPU, %g GPU): training starts when "
            "the autoscaler has added nodes, and waits until then",
            what, cpus, gpus,
        )  # fmt: skip
        return d
    if need_gpus > gpus + 1e-9:
        raise ConfigError(
            f"{what} needs {need_gpus:g} GPU(s); this machine has {gpus:g}. Use "
            "--gpus-per-worker 0 (CPU training), fewer --workers, or a cluster (--address)"
        )
    room = math.floor((cpus - DATA_TASK_CPUS) / d.workers * 4) / 4  # quarter CPUs
    if not cpus_given and room >= 0.25:
        log.warning(
            "%s does not fit this machine's %g CPUs: using --cpus-per-worker %g",
            what, cpus, room,
        )  # fmt: skip
        return dataclasses.replace(d, cpus_per_worker=room)
    most = int((cpus - DATA_TASK_CPUS) // d.cpus_per_worker)
    fixes = [f"--cpus-per-worker {room:g}"] if room >= 0.25 else []
    if most >= 1:
        fixes.append(f"--workers {most}")
    raise ConfigError(
        f"{what} = {need_cpus:g} CPUs; this machine has {cpus:g}, so the run would wait "
        f"forever. Use {' or '.join(fixes) or 'a cluster (--address)'}."
    )


class TrainingStalledError(RuntimeError):
    """No training step was reported for ``no_progress_timeout_s``."""


BEACON_PREFIX = "restyle-progress-"


def _beacon_class():
    import ray

    @ray.remote(num_cpus=0)
    class ProgressBeacon:
        """Rank 0 reports each logged step here; the driver's watchdog reads it."""

        def __init__(self) -> None:
            self.step, self.at = -1, time.time()

        def beat(self, step: int) -> None:
            self.step, self.at = step, time.time()

        def last(self) -> tuple[int, float]:
            return self.step, self.at

    return ProgressBeacon


def beat(config: dict, step: int) -> None:
    """Tell the driver's watchdog that training reached ``step`` (fire and forget)."""
    import ray

    name = config.get("beacon")
    if not name:
        return
    with contextlib.suppress(ValueError):  # the driver is gone: nothing to tell
        ray.get_actor(name).beat.remote(step)


class Watchdog:
    """Stops ``trainer.fit()`` in the main thread when no step is reported for ``timeout``
    seconds (from the start, until the first step: loading data and starting workers
    count). ``fired`` says whether it did."""

    def __init__(self, timeout: float, what: str) -> None:
        import threading

        import ray

        self.timeout, self.what, self.fired = timeout, what, ""
        self.name = f"{BEACON_PREFIX}{os.getpid()}-{time.time_ns()}"
        self.actor = _beacon_class().options(name=self.name).remote() if timeout > 0 else None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._ray = ray

    def __enter__(self) -> Watchdog:
        import signal
        import threading

        # Ray Train's fit() installs its own SIGINT handler (a graceful abort) and leaves
        # it behind; the handler in place now is put back on exit, so a later watchdog in
        # this process still interrupts the main thread as intended.
        self._sigint = None
        if threading.current_thread() is threading.main_thread():
            self._sigint = signal.getsignal(signal.SIGINT)
        if self.actor is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        import signal

        self._stop.set()
        if self.actor is not None:
            self._ray.kill(self.actor)
        if self._sigint is not None:
            signal.signal(signal.SIGINT, self._sigint)

    def _watch(self) -> None:
        import _thread

        while not self._stop.wait(min(10.0, self.timeout / 4)):
            try:
                step, at = self._ray.get(self.actor.last.remote(), timeout=30)
            except Exception:
                continue
            idle = time.time() - at
            if idle > self.timeout and not self._stop.is_set():
                where = "before the first step" if step < 0 else f"after step {step}"
                self.fired = (
                    f"{self.what}: no progress for {idle:.0f} s {where} "
                    f"(dist.no_progress_timeout_s={self.timeout:g}). Likely causes: the "
                    "workers or the data-loading tasks cannot get the resources they ask "
                    "for (see `ray status`), or a worker is wedged. Stopped."
                )
                log.error("%s", self.fired)
                _thread.interrupt_main()
                return


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


@dataclass(frozen=True)
class RankedImages:
    """Photos (``image_id, uri, mask_uri`` rows) to decode on Ray Data with ``load``, split
    among ranks by a fixed rule: sorted by image id, rank ``r`` of ``world`` gets rows
    ``r, r + world, ...``. Each rank reads only its own dataset (``rank_rows``)."""

    rows: tuple[dict, ...]
    load: object  # (row, long_side) -> dict with image_id
    long_side: int

    @classmethod
    def of(cls, refs, load, long_side: int, what: str) -> RankedImages:
        if not refs:
            raise ValueError(f"--images {what}: no images")
        rows = sorted(
            ({"image_id": r.image_id, "uri": r.uri, "mask_uri": r.mask_uri or ""} for r in refs),
            key=lambda r: r["image_id"],
        )
        return cls(tuple(rows), load, long_side)

    def datasets(self, world: int) -> dict:
        """One Ray Data dataset per rank (``images_<rank>``), read lazily: a rank's photos
        are decoded only when that rank iterates its dataset."""
        import ray

        if len(self.rows) < world:
            raise ValueError(
                f"{len(self.rows)} photos for {world} workers: every worker needs at least "
                "one; use fewer workers"
            )
        return {
            f"images_{r}": ray.data.from_items(list(self.rows[r::world])).map(
                self.load, fn_kwargs={"long_side": self.long_side}, num_cpus=0.25
            )
            for r in range(world)
        }


def rank_rows(rank: int) -> list[dict]:
    """This rank's decoded photos, in image-id order (inside a Ray Train worker)."""
    import ray.train

    rows = list(ray.train.get_dataset_shard(f"images_{rank}").iter_rows())
    return sorted(rows, key=lambda r: r["image_id"])


def content_dataset(content_uri: str) -> RankedImages:
    """The catalogue's photos and masks at ``CONTENT_SIDE``, for the style model."""
    return RankedImages.of(
        datasets.refs_from(content_uri), _load_content_row, CONTENT_SIDE, content_uri
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


def _maybe_fault(d: DistConfig, config: dict, next_step: int, rank: int, world: int) -> None:
    """The test hook: the last worker fails once, at ``fault_at_step``: it raises, or its
    process is SIGKILLed (``fault_kind``)."""
    if d.fault_at_step and next_step == d.fault_at_step and rank == world - 1:
        marker = _fault_marker(config)
        if not storage.exists(marker):
            storage.write_bytes(marker, d.fault_kind.encode())
            if d.fault_kind == "sigkill":
                import signal

                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"injected fault at step {d.fault_at_step} (testing)")


def _restore(config: dict, rank: int, world: int) -> tuple[dict | None, dict | None]:
    """``(state, this rank's own state)`` from Ray Train's latest checkpoint, if any. The
    rank's own state (its data position) is only used when the world size is unchanged."""
    import ray.train
    import torch

    ckpt = ray.train.get_checkpoint()
    if ckpt is None:
        # A restart can find no registered checkpoint although rank 0 uploaded one: a
        # worker killed right after the first report. Training starts over, so that
        # upload goes too.
        if rank == 0:
            _drop_unregistered(config, 0)
        return None, None
    with ckpt.as_directory() as folder, open(os.path.join(folder, "state.pt"), "rb") as f:
        saved = torch.load(io.BytesIO(f.read()), weights_only=True)
    if rank == 0:
        _drop_unregistered(config, int(saved["step"]))
    ranks = saved.get("ranks", [])
    return saved, (ranks[rank] if len(ranks) == world else None)


def _drop_unregistered(config: dict, restored: int) -> None:
    """Delete checkpoint folders newer than the one Ray Train restored from.

    A worker killed right after a report (SIGKILL, OOM, a lost node) can leave a checkpoint
    that rank 0 uploaded but the Train controller never registered: Ray restarts from the
    previous one, and the steps in between are trained and checkpointed again. The
    unregistered folder would then stand beside its replacement, so every checkpoint step
    would no longer appear exactly once."""
    run = storage.join(config["root"], "ray-train", config["run_name"])
    dropped = []
    for name in storage.list_dirs(run):
        if not name.startswith("checkpoint_"):
            continue
        folder = storage.join(run, name)
        try:
            step = int(storage.read_bytes(storage.join(folder, "step.txt")))
        except (FileNotFoundError, ValueError):
            continue  # not one of ours, or still being written: leave it
        if step > restored:
            storage.delete(folder, recursive=True)
            dropped.append(step)
    if dropped:
        log.warning(
            "restarted from step %d: removed %d unregistered checkpoint(s) of an interrupted "
            "report (steps %s); those steps are trained again",
            restored, len(dropped), sorted(dropped),
        )  # fmt: skip


def _report(rank: int, world: int, metrics: dict, state_fn, mine: dict, on_save=None) -> None:
    """Report ``metrics`` from every rank; rank 0 attaches a checkpoint holding
    ``state_fn()`` plus every rank's own state ``mine`` (gathered)."""
    import ray.train
    import torch.distributed as dist

    ranks = [None] * world
    if world > 1 and dist.is_initialized():
        dist.all_gather_object(ranks, mine)
    else:
        ranks = [mine]
    if rank != 0:
        ray.train.report(metrics)
        return
    with tempfile.TemporaryDirectory() as folder:
        state = {**state_fn(), "ranks": ranks, "step": metrics["step"]}
        with open(os.path.join(folder, "state.pt"), "wb") as f:
            f.write(_save_state(state))
        with open(os.path.join(folder, "step.txt"), "w") as f:
            f.write(str(metrics["step"]))
        if on_save is not None:
            on_save()
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder))


@dataclass
class _Job:
    """What the per-worker loop trains: a trainer over this rank's streams, how many steps
    and images per step, and how rank 0 exports the result at the end."""

    trainer: object
    content: object
    styles: object
    steps: int
    batch_size: int
    seed: int
    export: object  # (trainer, losses, card) -> the model's URI


def _full_training(config: dict, scale: float, items: list, rank: int, device, wrap) -> _Job:
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

    return _Job(trainer, content, styles, cfg.steps, cfg.batch_size, cfg.seed, export)


def _adding_styles(config: dict, scale: float, items: list, rank: int, device, wrap) -> _Job:
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

    return _Job(trainer, content, styles, add.steps, cfg.batch_size, add.seed, export)


def train_loop_per_worker(config: dict) -> None:
    """Ray Train's per-worker function for `restyle train --workers` (must stay importable
    by the workers)."""
    _gan_loop(config, _full_training)


def add_style_loop_per_worker(config: dict) -> None:
    """Ray Train's per-worker function for `restyle add-style --workers`."""
    _gan_loop(config, _adding_styles)


def _gan_loop(config: dict, make_job) -> None:
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
        items = _items_from_rows(rank_rows(rank))
        if not items:
            raise RuntimeError(
                f"worker {rank} got no content photos: use fewer workers than photos"
            )
        job = make_job(config, scale, items, rank, device, ray.train.torch.prepare_model)
        trainer, content, styles = job.trainer, job.content, job.styles
        torch.manual_seed(job.seed + rank)  # each rank draws its own noise
        saved, mine = _restore(config, rank, world)
        if saved is not None:
            trainer.load_state_dict(saved["trainer"])
            if mine is not None:  # same world size: every rank continues its own data
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
        if rank == 0:
            beat(config, trainer.step)  # data loaded, models built: the run is alive
        while trainer.step < job.steps:
            _maybe_fault(d, config, trainer.step + 1, rank, world)
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
                        _upload_tensorboard(config)

                _report(
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


def run_fit(
    loop,
    config: dict,
    dist_cfg: DistConfig,
    path: str,
    run_name: str,
    images: RankedImages,
    resume: bool,
):
    """Build and run the ``TorchTrainer``; refuse to silently continue or restart a run
    that exists (``resume`` decides). Each rank reads its own part of ``images``."""
    from ray.train import CheckpointConfig, DataConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    exists = storage.exists(storage.join(path, run_name))
    if exists and not resume:
        raise ValueError(
            f"a training run already exists at {storage.join(path, run_name)}; "
            "pass --resume to continue it, or another --name / --out"
        )
    if resume and not exists:
        raise FileNotFoundError(f"--resume: no training run at {storage.join(path, run_name)}")
    use_gpu = dist_cfg.gpus_per_worker > 0
    resources = worker_resources(dist_cfg)
    watchdog = Watchdog(dist_cfg.no_progress_timeout_s, f"training {run_name}")
    trainer = TorchTrainer(
        loop,
        train_loop_config={
            **config,
            "dist": dataclasses.asdict(dist_cfg),
            "run_name": run_name,
            "beacon": watchdog.name if watchdog.actor is not None else "",
        },
        scaling_config=ScalingConfig(
            num_workers=dist_cfg.workers, use_gpu=use_gpu, resources_per_worker=resources
        ),
        run_config=RunConfig(
            name=run_name,
            storage_path=path,
            failure_config=FailureConfig(max_failures=dist_cfg.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=dist_cfg.keep_checkpoints or None),
        ),
        datasets=images.datasets(dist_cfg.workers),
        dataset_config=DataConfig(datasets_to_split=[]),  # each rank has its own dataset
    )
    try:
        with watchdog:
            result = trainer.fit()
    except KeyboardInterrupt:
        if watchdog.fired:
            raise TrainingStalledError(watchdog.fired) from None
        raise
    except Exception as e:
        if watchdog.fired:  # Ray Train's own SIGINT handler aborted the run
            raise TrainingStalledError(watchdog.fired) from None
        _raise_divergence(e)
        raise
    if watchdog.fired:
        raise TrainingStalledError(watchdog.fired)
    if result.error:
        _raise_divergence(result.error)
        raise RuntimeError(f"training failed: {result.error}")
    return result


def _raise_divergence(error: BaseException) -> None:
    """Ray wraps a worker's exception; a diverged run (``NonFiniteLossError`` on a worker)
    is re-raised as itself, so the CLI reports it in one line like a local run."""
    from stylecore.training.style_gan import NonFiniteLossError

    text = str(error)
    if "NonFiniteLossError" in text or "training diverged" in text:
        line = next((ln for ln in text.splitlines() if "training diverged" in ln), text)
        raise NonFiniteLossError(line.split("NonFiniteLossError:")[-1].strip()) from error


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


# --- the U-Net segmenter -------------------------------------------------------------------


def _load_seg_row(row: dict, long_side: int) -> dict:
    from stylecore.segmentation.data import prepare_example

    ref = datasets.ImageRef(row["image_id"], row["uri"], row["mask_uri"] or None)
    img, mask = datasets.load(ref)
    ex = prepare_example(img, mask, long_side)
    h, w = ex.alpha.shape
    return {
        "image_id": row["image_id"],
        "h": h,
        "w": w,
        "rgb": ex.rgb.tobytes(),
        "alpha": ex.alpha.astype(np.float32).tobytes(),
        "has_backdrop": bool(ex.has_backdrop),
    }


def segmenter_dataset(images: str, masks: str | None, long_side: int) -> RankedImages:
    """Image and mask pairs (or cut-outs) at ``long_side``, for the U-Net."""
    return RankedImages.of(datasets.refs_from(images, masks), _load_seg_row, long_side, images)


def segmenter_loop_per_worker(config: dict) -> None:
    """The U-Net's training step (``stylecore.segmentation.train.train_step``) on each
    worker, the model wrapped in DDP; checkpoints and resume as for the style model."""
    import ray.train
    import ray.train.torch
    import torch

    from pipelines.models import write_model_files
    from stylecore.config import build
    from stylecore.runlog import log_context
    from stylecore.segmentation.data import SegExample, batches
    from stylecore.segmentation.train import SegTrainConfig, lr_at, train_step
    from stylecore.segmentation.unet import UNet, UNetConfig, UNetSegmenter
    from stylecore.training.style_gan import core

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    d = build(DistConfig, config["dist"])
    ucfg = build(UNetConfig, config["unet"])
    base = build(SegTrainConfig, config["train"])
    tcfg = dataclasses.replace(base, lr=base.lr * lr_scale(d.lr_scaling, world))
    device = ray.train.torch.get_device()
    if device.type == "cpu":
        torch.set_num_threads(d.torch_threads or max(1, int(d.cpus_per_worker)))
    with log_context(rank=rank):
        examples = []
        for r in rank_rows(rank):
            h, w = int(r["h"]), int(r["w"])
            examples.append(
                SegExample(
                    np.frombuffer(r["rgb"], np.uint8).reshape(h, w, 3).copy(),
                    np.frombuffer(r["alpha"], np.float32).reshape(h, w).copy(),
                    bool(r["has_backdrop"]),
                )
            )
        if not examples:
            raise RuntimeError(f"worker {rank} got no images: use fewer workers than images")
        torch.manual_seed(tcfg.seed)
        model = ray.train.torch.prepare_model(UNet(ucfg))
        opt = torch.optim.AdamW(model.parameters(), lr=tcfg.lr, weight_decay=tcfg.weight_decay)
        rng = np.random.default_rng(tcfg.seed + 1000 * rank)
        step = 0
        saved, mine = _restore(config, rank, world)
        if saved is not None:
            core(model).load_state_dict(saved["model"])
            opt.load_state_dict(saved["opt"])
            step = int(saved["step"])
            if mine is not None:
                rng.bit_generator.state = mine["rng"]
            log.info("resumed from checkpoint at step %d", step)
        stream = batches(examples, ucfg, tcfg.batch_size, tcfg.crop, rng)
        losses: list[float] = []
        step_times: list[float] = []
        if rank == 0:
            beat(config, step)
        while step < tcfg.steps:
            _maybe_fault(d, config, step + 1, rank, world)
            for g in opt.param_groups:
                g["lr"] = lr_at(step, tcfg)
            t0 = time.perf_counter()
            xb, yb = next(stream)
            losses.append(
                train_step(
                    model,
                    opt,
                    torch.from_numpy(xb).to(device),
                    torch.from_numpy(yb).to(device),
                    tcfg,
                )
            )
            step_times.append(time.perf_counter() - t0)
            step += 1
            if rank == 0 and (step % d.log_every == 0 or step == tcfg.steps):
                beat(config, step)
                log.info(
                    "step %d/%d loss %.4f (%.2f img/s per worker, %d workers)",
                    step,
                    tcfg.steps,
                    float(np.mean(losses[-d.log_every :])),
                    tcfg.batch_size / float(np.median(step_times[-d.log_every :])),
                    world,
                )
            if step % d.checkpoint_every == 0 or step == tcfg.steps:
                step_s = float(np.median(step_times))
                metrics = {
                    "step": step,
                    "loss": float(np.mean(losses[-d.checkpoint_every :])),
                    "step_s_median": step_s,
                    "images_per_s": tcfg.batch_size * world / step_s,
                }
                step_times = []
                _report(
                    rank,
                    world,
                    metrics,
                    lambda: {"model": core(model).state_dict(), "opt": opt.state_dict()},
                    {"rng": rng.bit_generator.state},
                )
        if rank == 0:
            meta = {
                "training": {
                    **config["train"],
                    "unet": config["unet"],
                    "workers": world,
                    "global_batch": tcfg.batch_size * world,
                    "final_loss": float(np.mean(losses[-50:])) if losses else None,
                    "source": storage.redact(config["content"]),
                    "device": str(device),
                }
            }
            seg = UNetSegmenter(ucfg, core(model).cpu().eval())
            write_model_files(config["root"], seg.to_files(meta, half=config["save_half"]))
            log.info("exported the segmenter to %s", config["root"])


def fit_segmenter(
    train: dict,
    unet: dict,
    dist_cfg: DistConfig,
    images: str,
    masks: str | None,
    out: str,
    save_half: bool,
    resume: bool,
) -> dict:
    """Train the U-Net data-parallel; the model is written to ``out`` and the checkpoints
    to ``out/ray-train``."""
    config = {
        "train": train,
        "unet": unet,
        "content": images,
        "root": out,
        "save_half": save_half,
    }
    result = run_fit(
        segmenter_loop_per_worker,
        config,
        dist_cfg,
        storage.join(out, "ray-train"),
        "segmenter-train",
        segmenter_dataset(images, masks, int(unet.get("input_size", 256))),
        resume,
    )
    return {
        "metrics": result.metrics,
        "checkpoint": result.checkpoint.path if result.checkpoint else None,
    }
