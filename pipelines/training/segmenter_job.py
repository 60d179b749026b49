"""`restyle train-segmenter --workers`: the U-Net trained data-parallel."""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np

from pipelines import storage
from pipelines.training.config import DistConfig, TrainSegmenterConfig
from pipelines.training.runner import on_cluster, run_fit
from pipelines.training.shards import rank_rows, segmenter_dataset
from pipelines.training.worker import run_worker

log = logging.getLogger(__name__)


class SegmenterJob:
    """The U-Net's training step (``stylecore.segmentation.train.train_step``) on one
    worker, the model wrapped in DDP, as a ``WorkerJob``: model and optimiser are shared,
    each rank's augmentation RNG is its own."""

    tensorboard = False

    def __init__(self, config: dict, rank: int, world: int, device, scale: float):
        import ray.train.torch
        import torch

        from stylecore.config import build
        from stylecore.segmentation.data import SegExample
        from stylecore.segmentation.train import SegTrainConfig
        from stylecore.segmentation.unet import UNetConfig, build_net

        self.config, self.device = config, device
        self.ucfg = build(UNetConfig, config["unet"])
        base = build(SegTrainConfig, config["train"])
        self.tcfg = dataclasses.replace(base, lr=base.lr * scale)
        self.steps, self.batch_size = self.tcfg.steps, self.tcfg.batch_size
        self.examples = []
        for r in rank_rows(rank):
            h, w = int(r["h"]), int(r["w"])
            self.examples.append(
                SegExample(
                    np.frombuffer(r["rgb"], np.uint8).reshape(h, w, 3).copy(),
                    np.frombuffer(r["alpha"], np.float32).reshape(h, w).copy(),
                    bool(r["has_backdrop"]),
                )
            )
        if not self.examples:
            raise RuntimeError(f"worker {rank} got no images: use fewer workers than images")
        torch.manual_seed(self.tcfg.seed)
        self.model = ray.train.torch.prepare_model(build_net(self.ucfg))
        self.opt = torch.optim.AdamW(
            self.model.parameters(), lr=self.tcfg.lr, weight_decay=self.tcfg.weight_decay
        )
        self.rng = np.random.default_rng(self.tcfg.seed + 1000 * rank)
        self._step = 0
        self._stream = None  # made at the first step, after a resume has set the RNG
        self.losses: list[float] = []

    @property
    def step(self) -> int:
        return self._step

    def train_step(self) -> dict[str, float]:
        import torch

        from stylecore.segmentation.data import batches
        from stylecore.segmentation.train import lr_at, train_step

        if self._stream is None:
            self._stream = batches(
                self.examples, self.ucfg, self.tcfg.batch_size, self.tcfg.crop, self.rng
            )
        for g in self.opt.param_groups:
            g["lr"] = lr_at(self._step, self.tcfg)
        xb, yb = next(self._stream)
        x, y = torch.from_numpy(xb).to(self.device), torch.from_numpy(yb).to(self.device)
        loss = train_step(self.model, self.opt, x, y, self.tcfg)
        self._step += 1
        self.losses.append(loss)
        return {"loss": loss}

    def state(self) -> dict:
        from stylecore.training.style_gan import core

        return {"model": core(self.model).state_dict(), "opt": self.opt.state_dict()}

    def rank_state(self) -> dict:
        return {"rng": self.rng.bit_generator.state}

    def load(self, saved: dict, mine: dict | None) -> None:
        from stylecore.training.style_gan import core

        core(self.model).load_state_dict(saved["model"])
        self.opt.load_state_dict(saved["opt"])
        self._step = int(saved["step"])
        if mine is not None:
            self.rng.bit_generator.state = mine["rng"]

    def progress(self, losses: dict[str, float], rate: float, world: int) -> str:
        recent = float(np.mean(self.losses[-50:]))
        per = " per worker" if world > 1 else ""
        return (
            f"step {self._step}/{self.steps} loss {recent:.4f} ({rate:.2f} img/s{per}, "
            f"{world} workers)"
        )

    def export(self, losses: dict[str, float], card: dict) -> str:
        from pipelines.models import write_model_files
        from stylecore.segmentation.unet import UNetSegmenter
        from stylecore.training.style_gan import core

        meta = {
            "training": {
                **self.config["train"],
                "unet": self.config["unet"],
                "workers": card["workers"],
                "global_batch": card["global_batch"],
                "final_loss": float(np.mean(self.losses[-50:])) if self.losses else None,
                "source": card["content_source"],
                "device": card["device"],
            }
        }
        seg = UNetSegmenter(self.ucfg, core(self.model).cpu().eval())
        root = self.config["root"]
        write_model_files(root, seg.to_files(meta, half=self.config["save_half"]))
        return root


def segmenter_loop_per_worker(config: dict) -> None:
    """Ray Train's per-worker function for `restyle train-segmenter --workers` (must stay
    importable by the workers)."""
    run_worker(config, SegmenterJob)


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


def train_segmenter_on_cluster(
    cfg: TrainSegmenterConfig,
    ucfg,
    tcfg,
    images: str,
    masks: str | None,
    out: str,
    resume: bool,
    address: str | None,
    cpus_given: bool,
) -> dict:
    """`restyle train-segmenter --workers` whole: Ray (``on_cluster``: ``address``, or a
    local Ray started and stopped here), then ``fit_segmenter`` on ``cfg.dist``. Returns
    ``fit_segmenter``'s result plus ``minutes`` (Ray's start and stop included)."""
    t0 = time.perf_counter()
    with on_cluster(address, cfg.dist, cpus_given) as dist:
        res = fit_segmenter(
            dataclasses.asdict(tcfg),
            dataclasses.asdict(ucfg),
            dist,
            images,
            masks,
            out,
            cfg.save_half,
            resume,
        )
    return {**res, "minutes": (time.perf_counter() - t0) / 60}
