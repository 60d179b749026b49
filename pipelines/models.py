"""Loading and saving model folders through the storage layer."""

from __future__ import annotations

import os

from pipelines import storage
from stylecore.segmentation import Segmenter, SegmenterConfig, make_segmenter

# The demo U-Net committed with the project (see README: "Segmentation").
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SEGMENTER_MODEL = os.path.join(REPO_ROOT, "models", "segmenter-unet")


def read_model_files(uri: str, names: tuple[str, ...]) -> dict[str, bytes]:
    missing = [n for n in names if not storage.exists(storage.join(uri, n))]
    if missing:
        raise FileNotFoundError(f"model folder {uri}: missing {', '.join(missing)}")
    return {n: storage.read_bytes(storage.join(uri, n)) for n in names}


def write_model_files(uri: str, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        storage.write_bytes(storage.join(uri, name), data)


def load_segmenter(
    cfg: SegmenterConfig, model_uri: str | None = None, device: str = "cpu"
) -> Segmenter:
    """The configured segmenter; the U-Net reads ``model_uri`` (default: the demo model)."""
    if cfg.method == "edge":
        return make_segmenter(cfg)
    files = read_model_files(
        model_uri or DEFAULT_SEGMENTER_MODEL, ("model.safetensors", "model.json")
    )
    return make_segmenter(cfg, files, device=device)
