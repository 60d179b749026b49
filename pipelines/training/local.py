"""Training the style GAN in this process (`restyle train --local`): the recipe, the
checkpoint at ``<out>/<name>/checkpoints/latest.pt`` and resume, progress, the export
with its card and loss curves."""

from __future__ import annotations

import io
import logging
import time

import torch

from pipelines import storage
from pipelines.models import style_features
from pipelines.style_data import CONTENT_SIDE, STYLE_SIDE, load_content, load_style_sets
from pipelines.style_export import export_style_model
from stylecore.io.codec import encode_image
from stylecore.training.data import ContentStream, StyleStream
from stylecore.training.loop import loss_curves, progress_line, run_steps
from stylecore.training.style_gan import StyleGANTrainer, StyleTrainConfig, core

log = logging.getLogger(__name__)


def train_locally(
    cfg: StyleTrainConfig,
    references: list[str],
    images: str,
    out: str,
    name: str | None = None,
    resume: bool = False,
    checkpoint_every: int = 100,
) -> dict:
    """Train on ``images`` toward one look per folder of ``references``; the model goes to
    ``<out>/<name>/<version>/`` (``name``: the look's id, or "multi"). Returns the step,
    the minutes, the model folder and the version."""
    ids, refs, hashes = load_style_sets(references, STYLE_SIDE)
    content = load_content(images, CONTENT_SIDE)
    name = name or (ids[0] if len(ids) == 1 else "multi")
    root = storage.join(out, name)
    ckpt_uri = storage.join(root, "checkpoints", "latest.pt")
    log.info("styles %s (%d references), %d content photos", ids, len(refs), len(content))
    trainer = StyleGANTrainer(
        cfg,
        style_features(cfg),
        ContentStream(content, cfg.crop, cfg.seed + 1),
        StyleStream(refs, cfg.crop, cfg.seed + 2),
    )
    if resume and storage.exists(ckpt_uri):
        state = torch.load(io.BytesIO(storage.read_bytes(ckpt_uri)), weights_only=True)
        trainer.load_state_dict(state)
        log.info("resumed from %s at step %d", ckpt_uri, trainer.step)

    def save(tr: StyleGANTrainer) -> None:
        buf = io.BytesIO()
        torch.save(tr.state_dict(), buf)
        storage.write_bytes(ckpt_uri, buf.getvalue())
        log.info("checkpoint step %d -> %s", tr.step, ckpt_uri)

    curve: list[dict] = []

    def progress(step: int, losses: dict, rate: float) -> None:
        log.info("%s", progress_line(step, cfg.steps, losses, rate))
        curve.append({"step": step, **{k: round(v, 5) for k, v in losses.items()}})

    t0 = time.perf_counter()
    final = run_steps(trainer, cfg.steps, 25, checkpoint_every, progress, save)
    if not checkpoint_every or trainer.step % checkpoint_every:
        save(trainer)
    minutes = (time.perf_counter() - t0) / 60
    card = {
        "features": trainer.features.kind,
        "final_losses": final,
        "train_minutes": round(minutes, 2),
        "content_source": images,
        "torch_threads": torch.get_num_threads(),
        "workers": 1,
        "loss_curve": curve,  # means over each logging interval (this run's steps only)
    }
    uri = export_style_model(
        root, core(trainer.G), cfg, ids, refs, hashes, trainer.step, card, references
    )
    version = uri.rstrip("/").rsplit("/", 1)[-1]
    if curve:
        storage.write_bytes(
            storage.join(uri, "loss_curves.png"), encode_image(loss_curves(curve), "png")
        )
    return {"step": trainer.step, "minutes": minutes, "root": root, "version": version}
