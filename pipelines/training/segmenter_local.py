"""`restyle train-segmenter` without ``--workers``: the U-Net trained in this process on
(image, mask) pairs or RGBA cut-outs, and written as a model folder."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict

import numpy as np

from pipelines import datasets
from pipelines.models import write_model_files
from pipelines.training.config import TrainSegmenterConfig

log = logging.getLogger(__name__)


def train_segmenter_locally(
    cfg: TrainSegmenterConfig, ucfg, tcfg, refs: list, source: str, out: str
) -> dict:
    """Train a U-Net (``ucfg``: its ``UNetConfig``; ``tcfg``: its ``SegTrainConfig``) on
    ``refs`` (read from ``source``) and write ``model.safetensors`` and ``model.json`` to
    ``out``. Returns the minutes and the final loss (the mean of the last 50 steps)."""
    import torch

    from stylecore.segmentation.data import batches, prepare_example
    from stylecore.segmentation.train import train_unet
    from stylecore.segmentation.unet import UNetSegmenter, build_net, count_parameters

    examples = [
        prepare_example(img, mask, ucfg.input_size) for _, img, mask in datasets.iter_loaded(refs)
    ]
    log.info("loaded %d training images from %s", len(examples), source)
    torch.manual_seed(cfg.seed)
    model = build_net(ucfg)
    log.info("U-Net: %d parameters", count_parameters(model))
    t0 = time.perf_counter()
    stream = batches(examples, ucfg, tcfg.batch_size, tcfg.crop, np.random.default_rng(cfg.seed))
    losses = train_unet(model, stream, tcfg)
    minutes = (time.perf_counter() - t0) / 60
    seg = UNetSegmenter(ucfg, model)
    meta = {
        "training": {
            **asdict(cfg),
            "images": len(examples),
            "source": source,
            "final_loss": float(np.mean(losses[-50:])),
            "minutes": round(minutes, 2),
            "torch_threads": torch.get_num_threads(),
        }
    }
    write_model_files(out, seg.to_files(meta, half=cfg.save_half))
    return {"minutes": minutes, "final_loss": meta["training"]["final_loss"]}
