"""The outer training loop: steps, progress, periodic checkpoints. The I/O behind the
callbacks belongs to the caller (the job writes through the storage layer)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from stylecore.training.style_gan import StyleGANTrainer
from stylecore.viz import line_plot


def progress_line(step: int, total: int, losses: dict, rate: float, workers: int = 1) -> str:
    """The one-line training progress both trainers log."""
    line = (
        f"step {step}/{total} g {losses['g_total']:.3f} d {losses['d_total']:.3f} "
        f"adv {losses['adv']:.3f} style {losses['style']:.3f} "
        + (f"colour {losses['colour']:.3f} " if "colour" in losses else "")
        + f"content {losses['content']:.3f} cycle {losses['cycle']:.3f} ({rate:.2f} img/s"
    )
    return line + (f" per worker, {workers} workers)" if workers > 1 else ")")


def loss_curves(curve: list[dict]) -> np.ndarray:
    """A chart (RGB uint8) of the curves a person checks for balance: the discriminators'
    loss, the generator's adversarial term, and the style, colour, content and cycle terms.
    ``curve`` holds ``{"step": k, <loss>: value, ...}`` per logging interval."""
    keys = [k for k in ("d_total", "adv", "style", "colour", "content", "cycle") if k in curve[0]]
    return line_plot(
        {k: [(c["step"], c[k]) for c in curve] for k in keys},
        title="training losses (log scale; means per logging interval)",
    )


def run_steps(
    trainer: StyleGANTrainer,
    total_steps: int,
    log_every: int = 25,
    checkpoint_every: int = 0,
    on_log: Callable[[int, dict, float], None] | None = None,
    on_checkpoint: Callable[[StyleGANTrainer], None] | None = None,
) -> dict:
    """Train from ``trainer.step`` up to ``total_steps``. Returns the mean of each loss over
    the last ``log_every`` steps."""
    history: list[dict] = []
    t0, start = time.perf_counter(), trainer.step
    while trainer.step < total_steps:
        history.append(trainer.train_step())
        done = trainer.step
        if on_log and (done % log_every == 0 or done == total_steps):
            recent = {k: float(np.mean([h[k] for h in history[-log_every:]])) for k in history[-1]}
            rate = (done - start) * trainer.cfg.batch_size / (time.perf_counter() - t0)
            on_log(done, recent, rate)
        if on_checkpoint and checkpoint_every and done % checkpoint_every == 0:
            on_checkpoint(trainer)
    if not history:
        return {}
    return {k: float(np.mean([h[k] for h in history[-log_every:]])) for k in history[-1]}
