"""Exporting a style model: weights, model card, style statistics and the looks' own
references, at ``<models>/<name>/<version>/``, with ``<models>/<name>/LATEST`` naming the
version. Used by the local and the distributed trainer alike, by add-style, and by
``register_looks`` (a look from its references alone, no training)."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import torch

from pipelines import storage
from pipelines.models import write_model_files
from pipelines.style_data import load_style_sets
from stylecore.models.style_model import REFERENCE_SIDE, StyleModel
from stylecore.quality.gate import compute_style_stats
from stylecore.training.style_gan import StyleTrainConfig


def model_version(cfg: StyleTrainConfig, step: int, hashes: dict) -> str:
    """``s<step>-<hash of the config and the reference files>``."""
    blob = json.dumps([dataclasses.asdict(cfg), hashes], sort_keys=True).encode()
    return f"s{step}-{hashlib.sha256(blob).hexdigest()[:8]}"


def texture_bank(style_dirs: list[str]) -> dict[str, list[np.ndarray]]:
    """Each style folder's references at up to ``REFERENCE_SIDE`` px: what the background
    is synthesised from, and what the style statistics are computed on."""
    ids, refs, _ = load_style_sets(style_dirs, REFERENCE_SIDE, min_refs=1, min_side=64)
    return {sid: [img for k, img in refs if k == i] for i, sid in enumerate(ids)}


def _write(root: str, model: StyleModel) -> str:
    uri = storage.join(root, model.version)
    write_model_files(uri, model.to_files())
    storage.write_bytes(storage.join(root, "LATEST"), (model.version + "\n").encode())
    return uri


def export_style_model(
    root: str,
    generator: torch.nn.Module,
    cfg: StyleTrainConfig,
    style_ids: list[str],
    refs: list[tuple[int, np.ndarray]],
    hashes: dict,
    step: int,
    card: dict,
    style_dirs: list[str],
) -> str:
    """Write the model under ``root`` (the model name's folder) and point LATEST at it,
    with the references of ``style_dirs`` (the training styles' folders). Returns the
    version folder's URI."""
    version = model_version(cfg, step, hashes)
    bank = texture_bank(style_dirs)
    stats = {sid: compute_style_stats(bank[sid]) for sid in style_ids}
    full_card = {
        "reference_sha256": hashes,
        "steps": step,
        "train_config": dataclasses.asdict(cfg),
        **card,
    }
    model = StyleModel(generator.cpu().eval(), style_ids, version, full_card, stats, bank)
    return _write(root, model)


def add_styles_version(
    root: str,
    base: StyleModel,
    generator: torch.nn.Module,
    style_ids: list[str],
    slots: list[int],
    refs: list[tuple[int, np.ndarray]],
    hashes: dict,
    steps: int,
    minutes: float,
    final_losses: dict,
    add_cfg,
    style_dirs: list[str],
    run: dict | None = None,
) -> str:
    """Write ``base`` with the styles ``style_ids`` added at ``slots`` (from
    ``stylecore.training.add_style.merge``) as a new version under ``root`` and move LATEST.
    The card keeps the base's and appends to ``added_styles`` what was added, from which
    references, on which base version, with how many steps and how long, and (``run``) on
    how many workers."""
    run = run or {"workers": 1}
    all_ids = list(base.style_ids)
    for sid, slot in zip(style_ids, slots, strict=True):
        if slot < len(all_ids):
            all_ids[slot] = sid
        else:
            all_ids.append(sid)
    stats = dict(base.stats)
    bank = texture_bank(style_dirs)
    for sid in style_ids:
        stats[sid] = compute_style_stats(bank[sid])
    # the worker count changes the global batch, so the result: it is part of the version
    config = dataclasses.asdict(add_cfg)
    key = [base.version, hashes, steps, config] + ([run["workers"]] if run["workers"] > 1 else [])
    blob = json.dumps(key, sort_keys=True)
    # <the first full training's version>_a<hash of this addition>
    root_version = base.version.split("_a", 1)[0]
    version = f"{root_version}_a{hashlib.sha256(blob.encode()).hexdigest()[:8]}"
    card = dict(base.card)
    card["added_styles"] = [
        *card.get("added_styles", []),
        {
            "style_ids": style_ids,
            "replaced": [sid for sid in style_ids if sid in base.style_ids],
            "reference_sha256": {sid: hashes[sid] for sid in style_ids},
            "base_version": base.version,
            "steps": steps,
            "train_minutes": round(minutes, 2),
            "final_losses": final_losses,
            "config": config,
            **run,
        },
    ]
    card["reference_sha256"] = {**card.get("reference_sha256", {}), **hashes}
    references = {**base.references, **bank}
    model = StyleModel(generator.cpu().eval(), all_ids, version, card, stats, references)
    return _write(root, model)


def register_looks(root: str, base: StyleModel, style_dirs: list[str], hashes: dict) -> str:
    """A new version of ``base`` under ``root`` that also carries one look per folder of
    ``style_dirs``, from its references alone: no training, the generator unchanged. Such
    a look restyles backgrounds (synthesis from its references, the quality gate's
    statistics); ``region: product|all`` and harmonisation need a trained style.
    Returns the version folder's URI."""
    bank = texture_bank(style_dirs)
    stats = dict(base.stats)
    for sid, imgs in bank.items():
        stats[sid] = compute_style_stats(imgs)
    ids = sorted(bank)
    blob = json.dumps([base.version, {sid: hashes[sid] for sid in ids}], sort_keys=True)
    root_version = base.version.split("_", 1)[0]
    version = f"{root_version}_r{hashlib.sha256(blob.encode()).hexdigest()[:8]}"
    card = dict(base.card)
    card["registered_looks"] = [
        *card.get("registered_looks", []),
        {
            "style_ids": ids,
            "base_version": base.version,
            "reference_sha256": {sid: hashes[sid] for sid in ids},
        },
    ]
    card["reference_sha256"] = {**card.get("reference_sha256", {}), **hashes}
    model = StyleModel(
        base.generator, list(base.style_ids), version, card, stats, {**base.references, **bank}
    )
    return _write(root, model)
