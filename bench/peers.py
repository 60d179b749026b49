"""Peer architectures for timing, written from their papers' descriptions (random weights).

- ``JohnsonNet``: Johnson, Alahi and Fei-Fei, "Perceptual Losses for Real-Time Style
  Transfer" (2016), supplementary: a 9x9 convolution to 32 channels, two stride-2 3x3
  convolutions to 64 and 128, five residual blocks of two 3x3 convolutions at 128, two
  upsampling convolutions back to 64 and 32, a 9x9 convolution to RGB; instance norm
  (Ulyanov et al.'s fix) and ReLU. About 1.68 M parameters.
- ``ResnetGenerator9``: CycleGAN's generator (Zhu et al., 2017, after Johnson): reflection
  padding, 7x7 convolution to 64, two stride-2 convolutions to 128 and 256, nine residual
  blocks at 256, two transposed convolutions back, 7x7 convolution to RGB, tanh; instance
  norm. About 11.4 M parameters with ngf = 64.
- ``AdaINNet``: Huang and Belongie, "Arbitrary Style Transfer in Real-time with Adaptive
  Instance Normalization" (2017): VGG-19 up to relu4_1 as the encoder (content and style),
  AdaIN on the features, and a decoder mirroring the encoder with nearest upsampling and
  reflection padding. Timed as a forward pass with a style image of the same size.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def _conv(cin, cout, k, stride=1):
    return nn.Sequential(
        nn.ReflectionPad2d(k // 2),
        nn.Conv2d(cin, cout, k, stride),
        nn.InstanceNorm2d(cout, affine=True),
    )


class _Res(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.a, self.b = _conv(c, c, 3), _conv(c, c, 3)

    def forward(self, x):
        return x + self.b(F.relu(self.a(x)))


class _Up(nn.Module):
    """Nearest-neighbour 2x upsampling, then a convolution (Johnson's upsampling layer as
    most reimplementations write it; the paper's fractionally-strided convolution costs
    the same)."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = _conv(cin, cout, 3)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class JohnsonNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Sequential(
            _conv(3, 32, 9),
            nn.ReLU(),
            _conv(32, 64, 3, 2),
            nn.ReLU(),
            _conv(64, 128, 3, 2),
            nn.ReLU(),
        )
        self.res = nn.Sequential(*[_Res(128) for _ in range(5)])
        self.up = nn.Sequential(_Up(128, 64), nn.ReLU(), _Up(64, 32), nn.ReLU())
        self.out = nn.Sequential(nn.ReflectionPad2d(4), nn.Conv2d(32, 3, 9))

    def forward(self, x):
        return self.out(self.up(self.res(self.down(x))))


class ResnetGenerator9(nn.Module):
    def __init__(self, ngf: int = 64, blocks: int = 9):
        super().__init__()

        def norm_relu(c):
            return [nn.InstanceNorm2d(c), nn.ReLU(True)]

        layers = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), *norm_relu(ngf)]
        layers += [nn.Conv2d(ngf, ngf * 2, 3, 2, 1), *norm_relu(ngf * 2)]
        layers += [nn.Conv2d(ngf * 2, ngf * 4, 3, 2, 1), *norm_relu(ngf * 4)]
        layers += [_CycleRes(ngf * 4) for _ in range(blocks)]
        layers += [
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 3, 2, 1, output_padding=1),
            *norm_relu(ngf * 2),
        ]
        layers += [nn.ConvTranspose2d(ngf * 2, ngf, 3, 2, 1, output_padding=1), *norm_relu(ngf)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


class _CycleRes(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c),
        )  # fmt: skip

    def forward(self, x):
        return x + self.body(x)


# VGG-19 up to relu4_1: (out channels or "M" for 2x2 max pooling).
_VGG_RELU4_1 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512]


def _vgg_encoder() -> nn.Sequential:
    layers, c = [], 3
    for v in _VGG_RELU4_1:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        else:
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(c, v, 3), nn.ReLU()]
            c = v
    return nn.Sequential(*layers)


def _decoder() -> nn.Sequential:
    def conv(cin, cout, relu=True):
        return [nn.ReflectionPad2d(1), nn.Conv2d(cin, cout, 3)] + ([nn.ReLU()] if relu else [])

    up = [nn.Upsample(scale_factor=2, mode="nearest")]
    return nn.Sequential(
        *conv(512, 256), *up,
        *conv(256, 256), *conv(256, 256), *conv(256, 256), *conv(256, 128), *up,
        *conv(128, 128), *conv(128, 64), *up,
        *conv(64, 64), *conv(64, 3, relu=False),
    )  # fmt: skip


def adain(content: torch.Tensor, style: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    cm, cs = content.mean((2, 3), keepdim=True), content.std((2, 3), keepdim=True) + eps
    sm, ss = style.mean((2, 3), keepdim=True), style.std((2, 3), keepdim=True) + eps
    return (content - cm) / cs * ss + sm


class AdaINNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder, self.decoder = _vgg_encoder(), _decoder()

    def forward(self, x, style=None):
        style = x if style is None else style
        return self.decoder(adain(self.encoder(x), self.encoder(style)))


def count_parameters(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
