"""Product / background segmentation: one interface, four methods.

``EdgeSegmenter`` (classical, no weights), ``UNetSegmenter`` (learned here, on renders) and
``U2NetSegmenter`` (U^2-Net, learned by its authors on real photographs) implement
``segment(image) -> Mask``; ``AutoSegmenter`` (the default) leads with a network's mask
(the U-Net's, or U^2-Net's with ``network="u2net"``), checks it against the edge
segmenter's, and keeps the mask the integrity signals doubt less. ``make_segmenter``
builds one from a ``SegmenterConfig``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from stylecore.segmentation.base import (
    FLAG_EMPTY,
    FLAG_FROM_ALPHA,
    FLAG_FULL,
    FLAG_LOW_CONFIDENCE,
    FLAG_UNIFORM,
    Mask,
    Segmenter,
)
from stylecore.segmentation.clean import CleanConfig
from stylecore.segmentation.defocus import DefocusConfig
from stylecore.segmentation.edges import EdgeConfig, EdgeSegmenter
from stylecore.segmentation.gaps import GapConfig
from stylecore.segmentation.integrity import IntegrityConfig
from stylecore.segmentation.metrics import boundary_f, iou
from stylecore.segmentation.spill import SpillConfig

Method = Literal["auto", "edge", "unet", "u2net"]
METHODS: tuple[str, ...] = ("auto", "edge", "unet", "u2net")
Network = Literal["u2net", "unet"]


@dataclass(frozen=True)
class SegmenterConfig:
    method: Method = "auto"
    # The network ``auto`` leads with: "unet" (the U-Net trained here) or "u2net" (U^2-Net,
    # pretrained on real photographs; the U-Net then only judges its cast shadows,
    # ``integrity.kept_shadow``). U^2-Net published more real studio shots (15 of 30
    # against 11) but, looked at 1:1, more of them broken (4 against 2: a laptop's hinge
    # lost, a balloon's string cut): docs/segmentation.md "U^2-Net, tried as the lead".
    network: Network = "unet"
    # When the U-Net-led ``auto`` doubts its mask's outline, try once more led by U^2-Net and keep
    # that mask when it passes with a margin and mostly agrees with the first
    # (``AutoSegmenter._retried``; false: hold the photo back at once). Needs U^2-Net's
    # weights (``python -m jobs.fetch_models``); costs U^2-Net's run on doubted photos only.
    # docs/segmentation.md, "A second try led by U^2-Net".
    retry: bool = True
    # The long side at which the U-Net's outline is redrawn (``unet.redraw_outline``): the
    # net runs again at this size and moves the outline it drew at its working size (256)
    # by up to 3 px here, where it is sure and the colours agree; ``auto`` does this after
    # the verdict. 0 turns it off. docs/segmentation.md, "The outline redrawn at 384 px".
    outline_size: int = 384
    edge: EdgeConfig = field(default_factory=EdgeConfig)
    integrity: IntegrityConfig = field(default_factory=IntegrityConfig)
    defocus: DefocusConfig = field(default_factory=DefocusConfig)
    gaps: GapConfig = field(default_factory=GapConfig)
    spill: SpillConfig = field(default_factory=SpillConfig)
    clean: CleanConfig = field(default_factory=CleanConfig)

    def __post_init__(self) -> None:
        if self.outline_size < 0:
            raise ValueError(f"outline_size={self.outline_size}: must be >= 0 (0: off)")

    @property
    def uses_u2net(self) -> bool:
        """Whether this segmenter needs U^2-Net's weights (``u2net.onnx``)."""
        return self.method == "u2net" or (
            self.method == "auto" and (self.network == "u2net" or self.retry)
        )


def make_segmenter(
    cfg: SegmenterConfig,
    unet_files: dict[str, bytes] | None = None,
    device: str = "cpu",
    salient_files: dict[str, bytes] | None = None,
) -> Segmenter:
    """Build the configured segmenter. The U-Net needs its model files (see
    ``UNetSegmenter.to_files``); ``u2net``, and ``auto`` with ``network="u2net"``, need
    U^2-Net's too (``u2net.onnx`` + ``model.json``, ``salient_files``). ``auto`` led by the
    U-Net uses them for its second try (``retry``) when they are given, and goes without
    one when they are not."""
    if cfg.method == "edge":
        return EdgeSegmenter(cfg.edge)
    salient = None
    if cfg.method == "u2net" or (cfg.method == "auto" and cfg.network == "u2net"):
        if salient_files is None:
            raise ValueError(
                f"method {cfg.method!r} needs U^2-Net's model folder (u2net.onnx + model.json)"
            )
        salient = network_from_files(salient_files, device=device)
        if cfg.method == "u2net":
            return salient
    if unet_files is None:
        raise ValueError(
            f"method {cfg.method!r} needs a trained U-Net (model.safetensors + model.json)"
        )
    unet = network_from_files(unet_files, device=device)
    if hasattr(unet, "outline_size"):  # a U-Net (a U^2-Net folder may stand in for it)
        unet.outline_size = cfg.outline_size
    if cfg.method == "unet":
        return unet
    from stylecore.segmentation.auto import AutoSegmenter

    edge = EdgeSegmenter(cfg.edge)
    parts = (cfg.integrity, cfg.defocus, cfg.gaps, cfg.spill, cfg.clean)
    retry = None
    if salient is None and cfg.retry and salient_files is not None:
        second = network_from_files(salient_files, device=device)
        retry = AutoSegmenter(unet, edge, *parts, salient=second)
    return AutoSegmenter(unet, edge, *parts, salient=salient, retry=retry)


def network_kind(files: dict[str, bytes]) -> str:
    """The network a model folder's files hold: ``"u2net-segmenter"`` (U^2-Net's ONNX
    export, ``u2net.py``) or ``"unet-segmenter"`` (a U-Net trained here, ``unet.py``)."""
    import json

    if "model.json" in files:
        kind = json.loads(files["model.json"]).get("kind", "unet-segmenter")
        if kind in ("u2net-segmenter", "unet-segmenter"):
            return kind
        raise ValueError(f"model.json: kind {kind!r} is not a segmenter network")
    return "u2net-segmenter" if "u2net.onnx" in files else "unet-segmenter"


def network_files(kind: str) -> tuple[str, ...]:
    """The files a model folder of ``kind`` (``network_kind``) must hold."""
    return (
        ("u2net.onnx", "model.json")
        if kind == "u2net-segmenter"
        else (
            "model.safetensors",
            "model.json",
        )
    )


def network_from_files(files: dict[str, bytes], device: str = "cpu") -> Segmenter:
    """The learned segmenter a model folder's files hold (``network_kind``)."""
    if network_kind(files) == "u2net-segmenter":
        from stylecore.segmentation.u2net import U2NetSegmenter

        return U2NetSegmenter.from_files(files, device=device)
    from stylecore.segmentation.unet import UNetSegmenter

    return UNetSegmenter.from_files(files, device=device)


__all__ = [
    "FLAG_EMPTY",
    "FLAG_FROM_ALPHA",
    "FLAG_FULL",
    "FLAG_LOW_CONFIDENCE",
    "FLAG_UNIFORM",
    "METHODS",
    "CleanConfig",
    "DefocusConfig",
    "EdgeConfig",
    "EdgeSegmenter",
    "GapConfig",
    "IntegrityConfig",
    "Mask",
    "Segmenter",
    "SegmenterConfig",
    "SpillConfig",
    "boundary_f",
    "iou",
    "make_segmenter",
    "network_files",
    "network_from_files",
    "network_kind",
]
