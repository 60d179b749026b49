"""The distributed-training config, what a worker reserves, and each training command's
config (its own keys plus ``dist``: ``DistTrainConfig``, ``DistAddStyleConfig``,
``TrainSegmenterConfig``)."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Literal

from pipelines import storage
from stylecore.training.add_style import AddStyleConfig
from stylecore.training.style_gan import StyleTrainConfig

log = logging.getLogger(__name__)


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


def lr_scale(rule: str, workers: int) -> float:
    return {"none": 1.0, "sqrt": math.sqrt(workers), "linear": float(workers)}[rule]


def storage_path(models_uri: str, name: str) -> str:
    """Where Ray Train keeps the run's checkpoints: ``<models>/<name>/ray-train``."""
    return storage.join(models_uri, name, "ray-train")


@dataclass(frozen=True)
class DistTrainConfig:
    """``restyle train --workers``'s config: the training config plus the distribution."""

    train: StyleTrainConfig = field(default_factory=StyleTrainConfig)
    dist: DistConfig = field(default_factory=DistConfig)


@dataclass(frozen=True)
class DistAddStyleConfig:
    """``restyle add-style --workers``'s config: the add-style config plus the distribution."""

    add: AddStyleConfig = field(default_factory=AddStyleConfig)
    dist: DistConfig = field(default_factory=DistConfig)


@dataclass(frozen=True)
class TrainSegmenterConfig:
    """``restyle train-segmenter``'s config (``dist``: with ``--workers`` only)."""

    steps: int = 1200
    batch_size: int = 8
    seed: int = 0
    crop: int = 192
    lr: float = 2e-3
    base_channels: int = 16
    depth: int = 4
    input_size: int = 256
    encoder: str = "plain"  # plain | lite0 (frozen ImageNet encoder; set depth=5 with it)
    save_half: bool = True  # store weights as float16 (half the size, same masks)
    dist: DistConfig = field(default_factory=DistConfig)  # --workers only


def segmenter_configs(cfg: TrainSegmenterConfig):
    """``cfg`` as the U-Net's ``UNetConfig`` and its ``SegTrainConfig`` (each checks its
    values: ``ValueError``)."""
    from stylecore.segmentation.train import SegTrainConfig
    from stylecore.segmentation.unet import UNetConfig

    ucfg = UNetConfig(
        base_channels=cfg.base_channels,
        depth=cfg.depth,
        input_size=cfg.input_size,
        encoder=cfg.encoder,
    )
    tcfg = SegTrainConfig(
        steps=cfg.steps, batch_size=cfg.batch_size, crop=cfg.crop, lr=cfg.lr, seed=cfg.seed
    )
    return ucfg, tcfg
