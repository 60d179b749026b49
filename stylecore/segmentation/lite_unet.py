"""A U-Net whose encoder is EfficientNet-Lite0 with the package's ImageNet weights, frozen.

The plain U-Net learns every filter from the training renders, so what it knows of a
surface is what the renders drew: flat synthetic shading. ImageNet features have seen real
knit, glass, chrome, print and paper. Kept frozen, they cannot drift toward the renders'
look; only the decoder learns, from the encoder's five scales (strides 2 to 32) and, at
full size, the input itself (RGB and the backdrop-distance channel, which carries the
white-on-white cue the ImageNet features do not).

The frozen encoder's weights are not stored in the model file: they come from the
package, so a model file holds the decoder alone (``trainable_state``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Lite0 blocks tapped, their channels and strides: 0 (16, /2), 2 (24, /4), 4 (40, /8),
# 10 (112, /16), 15 (320, /32)
TAPS = (0, 2, 4, 10, 15)
ENCODER_PREFIX = "encoder."


class _Up(nn.Module):
    """Upsample to the skip's size, concatenate, two 3x3 conv + BN + ReLU."""

    def __init__(self, cin: int, cskip: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin + cskip, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.body(torch.cat([x, skip], dim=1))


class LiteUNet(nn.Module):
    """``(B, C, H, W)`` net input (``unet.net_input``: RGB as ``(v - 0.5) / 0.25``, then
    the backdrop channel) -> logits ``(B, 1, H, W)``."""

    def __init__(self, in_channels: int, width: int = 16) -> None:
        super().__init__()
        from stylecore.features.efficientnet import pretrained_lite0, tap_channels

        self.encoder = pretrained_lite0()  # frozen, eval-mode BatchNorm
        ch = [tap_channels(t) for t in TAPS]  # 16, 24, 40, 112, 320
        w = width
        self.up = nn.ModuleList(
            [
                _Up(ch[4], ch[3], 4 * w),
                _Up(4 * w, ch[2], 3 * w),
                _Up(3 * w, ch[1], 2 * w),
                _Up(2 * w, ch[0], 2 * w),
                _Up(2 * w, in_channels, w),
            ]
        )
        self.head = nn.Conv2d(w, 1, 1)

    def train(self, mode: bool = True) -> LiteUNet:
        super().train(mode)
        self.encoder.eval()  # ImageNet statistics always
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from stylecore.features.efficientnet import imagenet_normalise

        rgb = (x[:, :3] / 2).clamp(-1, 1)  # (v - 0.5) / 0.25 -> [-1, 1]
        with torch.no_grad():
            feats = self.encoder.features(imagenet_normalise(rgb), TAPS)
        h = feats[4]
        for up, skip in zip(self.up, [feats[3], feats[2], feats[1], feats[0], x], strict=True):
            h = up(h, skip)
        return self.head(h)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The state to store: everything but the frozen encoder."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(ENCODER_PREFIX)}
