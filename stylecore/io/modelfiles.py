"""Model folders as bytes: weights in safetensors (tensors only, so loading runs no code)
plus a ``model.json`` card with a ``kind`` and a ``format_version``. Shared by every
exported model; reading and writing the files is the caller's business."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save


def pack(
    state: dict[str, torch.Tensor],
    meta: dict,
    kind: str,
    weights_name: str,
    format_version: int,
    half: bool = False,
) -> dict[str, bytes]:
    """``{weights_name: safetensors bytes, "model.json": card}``; ``half`` stores floating
    tensors as float16."""
    tensors = {}
    for k, v in state.items():
        v = v.detach().cpu().contiguous()
        tensors[k] = v.half() if half and v.is_floating_point() else v
    card = {"format_version": format_version, "kind": kind, **meta}
    return {
        weights_name: st_save(tensors),
        "model.json": (json.dumps(card, indent=2, sort_keys=True) + "\n").encode(),
    }


def unpack(
    files: dict[str, bytes], kind: str, weights_name: str, format_version: int
) -> tuple[dict, dict[str, torch.Tensor]]:
    """Check and open a model folder's bytes: ``(card without kind/format_version, state)``.
    Raises ``ValueError`` naming a missing file, a wrong kind or an unknown version."""
    try:
        meta = json.loads(files["model.json"].decode())
        weights = files[weights_name]
    except KeyError as e:
        raise ValueError(f"{kind} model: missing file {e.args[0]}") from e
    if meta.get("kind") != kind:
        raise ValueError(f"{kind} model: kind {meta.get('kind')!r} is not {kind}")
    if meta.get("format_version") != format_version:
        raise ValueError(
            f"{kind} model: format_version {meta.get('format_version')} "
            f"unsupported (expected {format_version})"
        )
    meta = {k: v for k, v in meta.items() if k not in ("kind", "format_version")}
    return meta, st_load(weights)
