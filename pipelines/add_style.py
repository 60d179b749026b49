"""`restyle add-style` as a library call: check the references and the ids, train the
new styles' codes and adapters on a frozen base (``stylecore.training.add_style``), with
checkpoints and resume, and export the merged model as a new version.

``add_styles`` trains in this process; ``pipelines.training.add_style_job`` trains
data-parallel on Ray Train with the same checks (``check_request``) and the per-worker
loop, checkpoints, fault restarts and watchdog of `restyle train --workers`."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time

import torch

from pipelines import storage
from pipelines.models import load_style_model, resolve_model_version, style_features
from pipelines.style_data import CONTENT_SIDE, STYLE_SIDE, load_content, load_style_sets
from pipelines.style_export import add_styles_version
from stylecore.config import ConfigError
from stylecore.training.add_style import (
    AddStyleConfig,
    AddStyleTrainer,
    merge,
    slots_for,
    train_config_for,
)
from stylecore.training.data import ContentStream, StyleStream
from stylecore.training.loop import progress_line, run_steps

log = logging.getLogger(__name__)


def check_request(model: str, style_dirs: list[str], replace: bool, train: bool = True):
    """Resolve the base model and read and check every reference and id before anything
    trains. Returns ``(base_uri, base, ids, refs, hashes)``."""
    base_uri, _ = resolve_model_version(model)
    base = load_style_model(base_uri)
    ids, refs, hashes = load_style_sets(style_dirs, STYLE_SIDE, min_refs=1, min_side=64)
    if len(set(ids)) != len(ids):
        raise ConfigError(f"--styles: a style id appears twice: {ids}")
    taken = [i for i in ids if i in base.looks]
    if taken and not replace:
        raise ConfigError(
            f"style(s) {taken} already in model {base.version} (styles {base.looks}); "
            "pass --replace to learn them again, or rename the folder"
        )
    for k, sid in enumerate(ids):
        n = sum(1 for i, _ in refs if i == k)
        if n == 1 and train:
            log.info(
                "style %s: one reference; training sees it as random crops, flips and "
                "scales of it (more references still help)",
                sid,
            )
        elif n == 1:
            log.info(
                "style %s: one reference; each background is synthesised from it (more "
                "references give more variety from photo to photo)",
                sid,
            )
        elif n > 10:
            log.warning("style %s: %d references; 3-10 work best", sid, n)
    return base_uri, base, ids, refs, hashes


def register(model: str, style_dirs: list[str], out: str, replace: bool = False) -> dict:
    """`restyle add-style --no-train`: a new version of ``model`` under ``out`` that
    carries one look per folder from its references alone (seconds, no training)."""
    from pipelines.style_export import register_looks

    t0 = time.perf_counter()
    _, base, ids, _, hashes = check_request(model, style_dirs, replace, train=False)
    uri = register_looks(out, base, style_dirs, hashes)
    return {
        "uri": uri.rstrip("/"),
        "base_version": base.version,
        "style_ids": ids,
        "steps": 0,
        "minutes": (time.perf_counter() - t0) / 60,
        "n_styles": len(set(base.looks) | set(ids)),
    }


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
    _, base, ids, refs, hashes = check_request(model, style_dirs, replace)
    train_cfg = train_config_for(base.card["train_config"], cfg)
    content = load_content(content_uri, CONTENT_SIDE)
    log.info(
        "adding %s to %s (styles %s): %d references, %d content photos, %d steps",
        ids, base.version, base.style_ids, len(refs), len(content), cfg.steps,
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
    tag = {"base_version": base.version, "style_ids": ids, "reference_sha256": hashes}
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
        out, base, generator, ids, slots, refs, hashes, trainer.step, minutes, final, cfg,
        style_dirs,
    )  # fmt: skip
    return {
        "uri": uri.rstrip("/"),
        "base_version": base.version,
        "style_ids": ids,
        "steps": trainer.step,
        "minutes": minutes,
        "n_styles": int(generator.codes.weight.shape[0]),
    }


def run_name(base_version: str, ids: list[str]) -> str:
    """The Ray Train run of adding ``ids`` to ``base_version`` (under ``OUT/ray-train/``):
    the same addition resumes it, another one gets its own."""
    key = json.dumps([base_version, ids]).encode()
    return f"add-style-{hashlib.sha256(key).hexdigest()[:10]}"
