"""`restyle train-segmenter --workers`: the U-Net trained data-parallel."""

from __future__ import annotations

import dataclasses
import logging
import time

import numpy as np

from pipelines import storage
from pipelines.training.checkpoints import maybe_fault, report, restore
from pipelines.training.config import DistConfig, lr_scale
from pipelines.training.runner import run_fit
from pipelines.training.shards import rank_rows, segmenter_dataset
from pipelines.training.watchdog import beat

log = logging.getLogger(__name__)


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
        saved, mine = restore(config, rank, world)
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
            maybe_fault(d, config, step + 1, rank, world)
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
                report(
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
