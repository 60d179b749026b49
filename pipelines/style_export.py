"""Exporting a trained style model: weights, model card and style statistics, at
``<models>/<name>/<version>/``, with ``<models>/<name>/LATEST`` naming the version. Used by
the local and the distributed trainer alike."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import torch

from pipelines import storage
from pipelines.models import write_model_files
from stylecore.models.style_model import StyleModel
from stylecore.quality.gate import compute_style_stats
from stylecore.training.style_gan import StyleTrainConfig


def model_version(cfg: StyleTrainConfig, step: int, hashes: dict) -> str:
    """``s<step>-<hash of the config and the reference files>``."""
    blob = json.dumps([dataclasses.asdict(cfg), hashes], sort_keys=True).encode()
    return f"s{step}-{hashlib.sha256(blob).hexdigest()[:8]}"


def export_style_model(
    root: str,
    generator: torch.nn.Module,
    cfg: StyleTrainConfig,
    style_ids: list[str],
    refs: list[tuple[int, np.ndarray]],
    hashes: dict,
    step: int,
    card: dict,
) -> str:
    """Write the model under ``root`` (the model name's folder) and point LATEST at it.
    Returns the version folder's URI."""
    version = model_version(cfg, step, hashes)
    stats = {
        sid: compute_style_stats([img for k, img in refs if k == i])
        for i, sid in enumerate(style_ids)
    }
    full_card = {
        "reference_sha256": hashes,
        "steps": step,
        "train_config": dataclasses.asdict(cfg),
        **card,
    }
    model = StyleModel(generator.cpu().eval(), style_ids, version, full_card, stats)
    uri = storage.join(root, version)
    write_model_files(uri, model.to_files())
    storage.write_bytes(storage.join(root, "LATEST"), (version + "\n").encode())
    return uri
