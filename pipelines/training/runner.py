"""Running a distributed fit: the check that the worker group fits the cluster (and
``on_cluster``, Ray with that check done), and ``run_fit`` (the TorchTrainer, its storage,
failures and checkpoints, the watchdog)."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from collections.abc import Iterator

from pipelines import storage
from pipelines.ray_session import ray_session
from pipelines.training.config import DATA_TASK_CPUS, DistConfig, worker_resources
from pipelines.training.shards import RankedImages
from pipelines.training.watchdog import TrainingStalledError, Watchdog

log = logging.getLogger(__name__)


def fit_to_cluster(d: DistConfig, cpus_given: bool, local: bool) -> DistConfig:
    """Check, before training starts, that ``d.workers`` Train workers plus one data-loading
    task fit the cluster (``pipelines.placement.fit.check_fit``).

    On a local Ray this process started (``local``), a request that cannot fit is fixed or
    refused: the default ``cpus_per_worker`` (not ``cpus_given``) is lowered to what fits,
    with a warning; anything else raises ``ConfigError`` naming what to change. On an
    existing cluster more may be on the way (an autoscaler): a request beyond what is there
    now only logs a warning, unless it cannot fit the cluster even at its largest."""
    from pipelines.placement.fit import check_fit
    from stylecore.config import ConfigError

    fit = check_fit([worker_resources(d)] * d.workers + [{"CPU": DATA_TASK_CPUS}], local)
    if fit.now:
        return d
    cpus, gpus = fit.shape.cpus_up, fit.shape.gpus_up
    what = (
        f"{d.workers} worker(s) x {d.cpus_per_worker:g} CPU"
        + (f" and {d.gpus_per_worker:g} GPU" if d.gpus_per_worker else "")
        + f", plus {DATA_TASK_CPUS:g} CPU to load data"
    )
    if not local:
        if fit.ever is False:
            raise ConfigError(
                f"{what} cannot fit the cluster even at its largest ({fit.shape.describe()}; "
                f"node types from {fit.shape.source}), so the run would wait forever. Use "
                "fewer --workers, or a smaller --cpus-per-worker / --gpus-per-worker"
            )
        log.warning(
            "%s is more than the cluster has now (%g CPU, %g GPU): training starts when "
            "the autoscaler has added nodes, and waits until then",
            what, cpus, gpus,
        )  # fmt: skip
        return d
    need_cpus = d.workers * d.cpus_per_worker + DATA_TASK_CPUS
    if d.workers * d.gpus_per_worker > gpus + 1e-9:
        raise ConfigError(
            f"{what} needs {d.workers * d.gpus_per_worker:g} GPU(s); this machine has "
            f"{gpus:g}. Use --gpus-per-worker 0 (CPU training), fewer --workers, or a "
            "cluster (--address)"
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


@contextlib.contextmanager
def on_cluster(address: str | None, dist: DistConfig, cpus_given: bool) -> Iterator[DistConfig]:
    """Ray (``address``, RAY_ADDRESS, or a local one started and stopped here) for the
    block, and ``dist`` checked against it (``fit_to_cluster``) before anything trains:
    yields the ``DistConfig`` to train with. ``cpus_given``: the user set
    ``cpus_per_worker``."""
    if dist.workers < 1:
        raise ValueError(f"--workers {dist.workers}: must be at least 1")
    with ray_session(address) as local:
        yield fit_to_cluster(dist, cpus_given=cpus_given, local=local)


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
