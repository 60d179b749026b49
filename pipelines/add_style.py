"""`restyle add-style` as a library call: check the references and the ids, train the
new styles' codes and adapters on a frozen base (``stylecore.training.add_style``), with
checkpoints and resume, and export the merged model as a new version."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import time

import torch

from pipelines import storage
from pipelines.models import load_style_model, resolve_model_version, style_features
from pipelines.style_data import load_content, load_style_sets
from pipelines.style_export import add_styles_version
from pipelines.train_dist import CONTENT_SIDE, STYLE_SIDE
from stylecore.config import ConfigError, build
from stylecore.training.add_style import AddStyleConfig, AddStyleTrainer, merge, slots_for
from stylecore.training.data import ContentStream, StyleStream
from stylecore.training.loop import progress_line, run_steps
from stylecore.training.style_gan import StyleTrainConfig

log = logging.getLogger(__name__)


def add_styles(
    model: str,
    style_dirs: list[str],
    content_uri: str,
    out: str,
    cfg: AddStyleConfig,
    replace: bool = False,
    resume: bool = False,
    checkpoint_every: int = 50,
) -> dict:
    """Add one style per folder of ``style_dirs`` to the model at ``model`` and write the
    new version under ``out`` (moving ``out/LATEST``). Raises ``ConfigError`` for an id
    that exists (unless ``replace``) or appears twice, ``ValueError`` for bad references,
    before anything trains. Returns the new version's URI, the ids, steps and minutes."""
    base_uri, base_version = resolve_model_version(model)
    base = load_style_model(base_uri)
    # every reference is read and checked before anything trains
    ids, refs, hashes = load_style_sets(style_dirs, STYLE_SIDE, min_refs=2, min_side=64)
    if len(set(ids)) != len(ids):
        raise ConfigError(f"--styles: a style id appears twice: {ids}")
    taken = [i for i in ids if i in base.style_ids]
    if taken and not replace:
        raise ConfigError(
            f"style(s) {taken} already in model {base_version} (styles {base.style_ids}); "
            "pass --replace to learn them again, or rename the folder"
        )
    for k, sid in enumerate(ids):
        n = sum(1 for i, _ in refs if i == k)
        if not 3 <= n <= 10:
            log.warning("style %s: %d references; 3-10 work best", sid, n)
    train_cfg = build(StyleTrainConfig, base.card["train_config"])
    weights = dataclasses.replace(train_cfg.weights, colour=cfg.colour_weight)
    train_cfg = dataclasses.replace(train_cfg, weights=weights)
    content = load_content(content_uri, CONTENT_SIDE)
    log.info(
        "adding %s to %s (styles %s): %d references, %d content photos, %d steps",
        ids, base_version, base.style_ids, len(refs), len(content), cfg.steps,
    )  # fmt: skip
    trainer = AddStyleTrainer(
        train_cfg,
        cfg,
        style_features(train_cfg),
        ContentStream(content, train_cfg.crop, cfg.seed + 1),
        StyleStream(refs, train_cfg.crop, cfg.seed + 2),
        base.generator,
    )
    ckpt_uri = storage.join(out, "checkpoints", "add-style.pt")
    tag = {"base_version": base_version, "style_ids": ids, "reference_sha256": hashes}
    if resume and storage.exists(ckpt_uri):
        state = torch.load(io.BytesIO(storage.read_bytes(ckpt_uri)), weights_only=True)
        if json.loads(state.get("tag", "{}")) != tag:
            raise ValueError(
                f"{ckpt_uri}: the checkpoint is for another base model or other references"
            )
        trainer.load_state_dict(state)
        log.info("resumed from %s at step %d", ckpt_uri, trainer.step)

    def save(tr) -> None:
        buf = io.BytesIO()
        torch.save({**tr.state_dict(), "tag": json.dumps(tag)}, buf)
        storage.write_bytes(ckpt_uri, buf.getvalue())
        log.info("checkpoint step %d -> %s", tr.step, ckpt_uri)

    def progress(step: int, losses: dict, rate: float) -> None:
        log.info("%s", progress_line(step, cfg.steps, losses, rate))

    t0 = time.perf_counter()
    final = run_steps(trainer, cfg.steps, 25, checkpoint_every, progress, save)
    if not checkpoint_every or trainer.step % checkpoint_every:
        save(trainer)
    minutes = (time.perf_counter() - t0) / 60
    slots = slots_for(base.style_ids, ids)
    generator = merge(base.generator, trainer.G, slots)
    uri = add_styles_version(
        out, base, generator, ids, slots, refs, hashes, trainer.step, minutes, final, cfg
    )
    return {
        "uri": uri.rstrip("/"),
        "base_version": base_version,
        "style_ids": ids,
        "steps": trainer.step,
        "minutes": minutes,
        "n_styles": int(generator.codes.weight.shape[0]),
    }
