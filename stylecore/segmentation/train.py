"""The U-Net training loop, written out by hand and reusable: ``train_step`` is what a
Ray Train worker calls too (the distributed job wraps the model, not the loop)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from stylecore.segmentation.unet import UNet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegTrainConfig:
    steps: int = 1200
    batch_size: int = 8
    crop: int = 192
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 50
    dice_weight: float = 1.0
    seed: int = 0
    log_every: int = 50

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if self.crop % 16:
            raise ValueError(f"crop={self.crop}: must be a multiple of 16")


def seg_loss(logits: torch.Tensor, target: torch.Tensor, dice_weight: float = 1.0) -> torch.Tensor:
    """Binary cross-entropy plus soft Dice (1 - 2|P∩T| / (|P|+|T|)), averaged over the batch.

    logits, target: ``(B, 1, H, W)``; target in {0, 1}.
    """
    bce = F.binary_cross_entropy_with_logits(logits, target)
    p = torch.sigmoid(logits)
    inter = (p * target).sum(dim=(1, 2, 3))
    denom = p.sum(dim=(1, 2, 3)) + target.sum(dim=(1, 2, 3))
    dice = 1.0 - (2.0 * inter + 1.0) / (denom + 1.0)
    return bce + dice_weight * dice.mean()


def lr_at(step: int, cfg: SegTrainConfig) -> float:
    """Linear warm-up, then cosine decay to 5% of ``lr``."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(cfg.steps - cfg.warmup_steps, 1)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))


def train_step(
    model: torch.nn.Module,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: SegTrainConfig,
) -> float:
    model.train()
    logits = model(x)
    loss = seg_loss(logits, y, cfg.dice_weight)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach())


def train_unet(
    model: UNet,
    data: Iterator[tuple[np.ndarray, np.ndarray]],
    cfg: SegTrainConfig,
    device: str = "cpu",
    on_log: Callable[[int, float, float], None] | None = None,
) -> list[float]:
    """Train ``model`` for ``cfg.steps`` steps on batches from ``data``; returns the losses.

    ``on_log(step, loss, images_per_s)`` is called every ``cfg.log_every`` steps.
    """
    torch.manual_seed(cfg.seed)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    losses: list[float] = []
    t0 = time.perf_counter()
    for step in range(cfg.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        xb, yb = next(data)
        loss = train_step(
            model, opt, torch.from_numpy(xb).to(device), torch.from_numpy(yb).to(device), cfg
        )
        losses.append(loss)
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            rate = (step + 1) * cfg.batch_size / (time.perf_counter() - t0)
            recent = float(np.mean(losses[-cfg.log_every :]))
            if on_log:
                on_log(step + 1, recent, rate)
            else:
                log.info("step %d/%d loss %.4f %.1f img/s", step + 1, cfg.steps, recent, rate)
    model.eval()
    return losses
