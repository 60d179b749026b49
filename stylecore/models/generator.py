"""The style generator: encoder, style-modulated residual blocks, decoder.

- Input: RGB in [-1, 1] plus ``noise_channels`` of Gaussian noise. A convolution over a
  flat region gives a flat output, so without noise a white backdrop could only be tinted;
  the noise gives the decoder something to turn into the style's texture. Noise is seeded
  from the image id (``noise_for``), so a re-run gives the same pixels.
- Residual blocks at the bottleneck use AdaIN-style modulation: instance-normalised
  features scaled and shifted by parameters computed from a learned per-style code, so one
  model can carry several styles and codes can be interpolated.
- ``alpha`` in [0, 1] mixes, at the bottleneck, the encoder's content features with the
  stylised ones (feature-level content/style mixing); alpha = 0 is the content path, which
  training keeps reconstructing the input.
- Upsampling is nearest-neighbour resize then convolution (no transposed convolutions,
  hence no checkerboard), and the output is tanh in [-1, 1] (plain configuration).
- Options for region-aware restyling (``GeneratorConfig``; the training default uses all
  but ``skip``): ``skip`` adds the
  full-resolution encoder features to the decoder's output; ``noise_scales`` adds the
  noise smoothed to coarser cells, so structure larger than the receptive field can grow;
  ``mask_input`` takes the product mask as an input channel, and ``mask_noise`` keeps the
  noise off the product; ``residual`` predicts a change to the input,
  y = x + delta (+ a per-style tone on the backdrop), starting from the identity, so the
  product keeps its colour and edges unless the losses ask otherwise.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class GeneratorConfig:
    widths: tuple[int, int, int] = (32, 64, 96)  # encoder levels; the last is the bottleneck
    n_res: int = 5
    n_styles: int = 1
    style_dim: int = 64
    noise_channels: int = 1
    # Add the full-resolution encoder features to the decoder's output features (a U-Net
    # skip): fine product edges need not squeeze through the 1/4-size bottleneck.
    skip: bool = False
    # The noise is also given smoothed to these cell sizes (average-pooled, rescaled to unit
    # variance, upsampled): low-frequency noise from which the network can grow structure
    # at the style's own scale (strokes, grain, blobs) that white noise through ~90 px of
    # receptive field cannot seed. 1 is the white noise itself.
    noise_scales: tuple[int, ...] = (1,)
    # Take the product mask as one more input channel, so the network knows which pixels
    # are product (keep structure, style lightly) and which are backdrop (style fully); a
    # small net cannot tell a white mug from a white backdrop by colour alone.
    mask_input: bool = False
    # With mask_input: zero the noise on the product, so random structure (specks, blobs)
    # grows on the backdrop only.
    mask_noise: bool = False
    # Predict a change to the input instead of the output itself: y = x + out(features),
    # no tanh (a tanh residual starves white backdrops of gradient: tanh' is ~0.04 there),
    # so the range is only kept by the losses during training and outputs are clipped to
    # [-1, 1] when turned into images. The last convolution starts at zero, so training
    # starts from the identity. Instance norms strip each image's absolute colour, so
    # without this a product's hue had to be re-inferred from its contrast with the
    # backdrop, and came out shifted.
    residual: bool = False
    # Per-style adapters: for each style, offsets added to every AdaIN's scale and shift
    # and to the backdrop tone. ``restyle add-style`` learns them, with the new style's
    # code, for the styles it adds; every other style's row is zero, so its output does
    # not change (x + 0.0 is x, bit for bit).
    adapters: bool = False
    # With adapters: each style's adapter also holds offsets to the decoder's two instance
    # norms' scale and shift (2 x (widths[1] + widths[0]) numbers). The decoder's norms
    # strip whatever per-channel mean the bottleneck sets, so with shared weights frozen
    # only these decide which decoder channels are lit, and so the mix of colours the
    # output convolution paints: a new multi-hue palette needs them.
    decoder_adapters: bool = False

    def __post_init__(self) -> None:
        if len(self.widths) != 3 or min(self.widths) < 1:
            raise ValueError(f"widths={self.widths}: expected three positive widths")
        if self.n_res < 1 or self.n_styles < 1 or self.noise_channels < 0:
            raise ValueError("n_res and n_styles must be >= 1, noise_channels >= 0")
        if not self.noise_scales or min(self.noise_scales) < 1:
            raise ValueError(f"noise_scales={self.noise_scales}: positive cell sizes expected")
        if self.decoder_adapters and not self.adapters:
            raise ValueError("decoder_adapters needs adapters=True")

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this (two stride-2 steps)."""
        return 4


def noise_for(key: str, shape: tuple[int, ...], device="cpu") -> torch.Tensor:
    """Reproducible standard-normal noise seeded from ``key`` (e.g. the image id)."""
    seed = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little") & (2**63 - 1)
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g).to(device)


def multiscale_noise(noise: torch.Tensor, scales: tuple[int, ...]) -> list[torch.Tensor]:
    """``noise`` and its smoothed copies: for each cell size k, k x k averages (times k, so
    each stays unit-variance) upsampled bilinearly back to full size."""
    h, w = noise.shape[-2:]
    out = []
    for k in scales:
        if k == 1:
            out.append(noise)
            continue
        coarse = F.avg_pool2d(noise, k, ceil_mode=True) * k
        out.append(F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False))
    return out


class AdaIN(nn.Module):
    """Instance norm whose scale and shift come from a style code."""

    def __init__(self, channels: int, style_dim: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.affine = nn.Linear(style_dim, 2 * channels)
        with torch.no_grad():  # start as plain instance norm (gamma 1, beta 0)
            self.affine.weight.mul_(0.1)
            self.affine.bias.zero_()
            self.affine.bias[:channels] = 1.0

    def forward(
        self, x: torch.Tensor, code: torch.Tensor, offset: torch.Tensor | None = None
    ) -> torch.Tensor:
        gamma, beta = self.affine(code).chunk(2, dim=1)
        if offset is not None:  # a per-style adapter's (B, 2C) offsets
            d_gamma, d_beta = offset.chunk(2, dim=1)
            gamma, beta = gamma + d_gamma, beta + d_beta
        return self.norm(x) * gamma[:, :, None, None] + beta[:, :, None, None]


class ResBlock(nn.Module):
    def __init__(self, c: int, style_dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, padding_mode="reflect")
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, padding_mode="reflect")
        self.n1 = AdaIN(c, style_dim)
        self.n2 = AdaIN(c, style_dim)

    def forward(
        self, x: torch.Tensor, code: torch.Tensor, offsets: torch.Tensor | None = None
    ) -> torch.Tensor:
        o1 = o2 = None
        if offsets is not None:
            o1, o2 = offsets.chunk(2, dim=1)
        h = F.relu(self.n1(self.conv1(x), code, o1))
        return x + self.n2(self.conv2(h), code, o2)


def _modulated(block: nn.Sequential, x: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """``_conv`` block ``block`` with per-sample ``(B, 2C)`` offsets added to its instance
    norm's scale and shift. The batch is folded into the channels, as ``instance_norm``
    itself does, so a zero offset gives the plain block's output bit for bit."""
    conv, norm, relu = block
    x = conv(x)
    b, c, h, w = x.shape
    d_weight, d_bias = offset.chunk(2, dim=1)
    weight = (norm.weight + d_weight).reshape(-1)
    bias = (norm.bias + d_bias).reshape(-1)
    x = F.instance_norm(x.reshape(1, b * c, h, w), weight=weight, bias=bias, eps=norm.eps)
    return relu(x.reshape(b, c, h, w))


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, padding_mode="reflect"),
        nn.InstanceNorm2d(cout, affine=True),
        nn.ReLU(inplace=True),
    )


class Generator(nn.Module):
    """``forward(x, noise, style, alpha, mask, adapter)``: x ``(B, 3, H, W)`` in [-1, 1]
    (H, W multiples of 4, at least 16), noise ``(B, noise_channels, H, W)``, style: int ids
    ``(B,)`` or codes ``(B, style_dim)``, mask ``(B, 1, H, W)`` (used when
    ``cfg.mask_input``), adapter ``(B, adapter_dim)`` offsets (default: the style ids' own
    rows when ``cfg.adapters``; none for float codes); returns ``(B, 3, H, W)`` in [-1, 1]
    (or x + change, unclipped, when ``cfg.residual``)."""

    def __init__(self, cfg: GeneratorConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or GeneratorConfig()
        w1, w2, w3 = cfg.widths
        self.enc = nn.Sequential(
            _conv(3 + cfg.noise_channels * len(cfg.noise_scales) + int(cfg.mask_input), w1, 9),
            _conv(w1, w2, 3, 2),
            _conv(w2, w3, 3, 2),
        )
        self.codes = nn.Embedding(cfg.n_styles, cfg.style_dim)
        nn.init.normal_(self.codes.weight, std=1.0)
        self.res = nn.ModuleList(ResBlock(w3, cfg.style_dim) for _ in range(cfg.n_res))
        self.dec = nn.Sequential(
            _conv(w3, w2, 3), nn.Upsample(scale_factor=2, mode="nearest"), _conv(w2, w1, 3)
        )
        self.up1 = nn.Upsample(scale_factor=2, mode="nearest")
        self.out = nn.Conv2d(w1, 3, 7, padding=3, padding_mode="reflect")
        if cfg.residual:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)
            # The decoder's instance norms remove any global colour shift the style code
            # makes; this per-style tone, added on the backdrop, carries the palette.
            self.tone = nn.Linear(cfg.style_dim, 3)
            nn.init.zeros_(self.tone.weight)
            nn.init.zeros_(self.tone.bias)
        if cfg.adapters:
            self.adapter = nn.Parameter(torch.zeros(cfg.n_styles, self.adapter_dim))

    @property
    def adapter_dim(self) -> int:
        """Size of one style's adapter: (scale, shift) offsets of each residual block's two
        AdaINs, plus the tone's three, plus (``decoder_adapters``) the decoder norms'."""
        w1, w2, w3 = self.cfg.widths
        return (
            self.cfg.n_res * 4 * w3
            + (3 if self.cfg.residual else 0)
            + (2 * (w2 + w1) if self.cfg.decoder_adapters else 0)
        )

    def _decode(self, h: torch.Tensor, offsets: torch.Tensor | None) -> torch.Tensor:
        if offsets is None:
            return self.dec(h)
        split = 2 * self.cfg.widths[1]
        h = _modulated(self.dec[0], h, offsets[:, :split])
        return _modulated(self.dec[2], self.dec[1](h), offsets[:, split:])

    def style_code(self, style: torch.Tensor) -> torch.Tensor:
        """Ids ``(B,)`` -> codes ``(B, style_dim)``; float codes pass through."""
        return self.codes(style) if not style.is_floating_point() else style

    def interpolate_codes(self, a: int, b: int, t: float) -> torch.Tensor:
        """The code ``(1, style_dim)`` a fraction ``t`` of the way from style a to style b."""
        ids = torch.tensor([a, b], device=self.codes.weight.device)
        ca, cb = self.codes(ids)
        return ((1 - t) * ca + t * cb)[None]

    def mix_content_style(
        self,
        content: torch.Tensor,
        code: torch.Tensor,
        alpha: float = 1.0,
        offsets: list[torch.Tensor | None] | None = None,
    ) -> torch.Tensor:
        """Feature-level content/style mixing: the encoder's content features
        ``(B, C, H/4, W/4)`` go through the residual blocks, whose AdaIN norms take their
        scale and shift from the style ``code`` (plus a style's adapter ``offsets``, one per
        block), and the result is blended back toward the content features by ``alpha``
        (0 = the content, 1 = fully styled) before decoding."""
        h = content
        for block, off in zip(self.res, offsets or [None] * len(self.res), strict=True):
            h = block(h, code, off)
        if alpha != 1.0:
            h = alpha * h + (1.0 - alpha) * content
        return h

    def _split_adapter(self, adapter: torch.Tensor | None):
        """A style's adapter row ``(B, adapter_dim)`` as (per-block offsets, tone offset,
        decoder offsets); Nones where it has no such part."""
        blocks: list[torch.Tensor | None] = [None] * len(self.res)
        if adapter is None:
            return blocks, None, None
        tone_offset = dec_offset = None
        c4 = 4 * self.cfg.widths[2]
        blocks = [adapter[:, i * c4 : (i + 1) * c4] for i in range(len(self.res))]
        at = len(self.res) * c4
        if self.cfg.residual:
            tone_offset, at = adapter[:, at : at + 3], at + 3
        if self.cfg.decoder_adapters:
            dec_offset = adapter[:, at:]
        return blocks, tone_offset, dec_offset

    def forward(
        self,
        x: torch.Tensor,
        noise: torch.Tensor | None = None,
        style: torch.Tensor | None = None,
        alpha: float = 1.0,
        mask: torch.Tensor | None = None,
        adapter: torch.Tensor | None = None,
    ) -> torch.Tensor:
        b, _, h, w = x.shape
        m = self.cfg.multiple
        if h % m or w % m or min(h, w) < 16:
            raise ValueError(
                f"Generator: input {h}x{w} must be a multiple of {m} and at least 16 px; pad it"
            )
        rgb = x
        if self.cfg.noise_channels:
            if noise is None:
                noise = x.new_zeros(b, self.cfg.noise_channels, h, w)
            noises = multiscale_noise(noise, self.cfg.noise_scales)
            if self.cfg.mask_input and self.cfg.mask_noise and mask is not None:
                # Texture grows on the backdrop only: no random structure on the product.
                noises = [n * (1.0 - mask) for n in noises]
            x = torch.cat([x, *noises], dim=1)
        if self.cfg.mask_input:
            # (B, 1, H, W) in [0, 1], 1 = product; none given means all backdrop
            x = torch.cat([x, mask if mask is not None else x.new_zeros(b, 1, h, w)], dim=1)
        if style is None:
            style = torch.zeros(b, dtype=torch.long, device=x.device)
        code = self.style_code(style)
        if code.shape[0] == 1 and b > 1:
            code = code.expand(b, -1)
        if adapter is None and self.cfg.adapters and not style.is_floating_point():
            adapter = self.adapter[style]
        if adapter is not None and adapter.shape[0] == 1 and b > 1:
            adapter = adapter.expand(b, -1)
        blocks, tone_offset, dec_offset = self._split_adapter(adapter)
        first = self.enc[0](x)
        content = self.enc[1:](first)
        h_ = self.mix_content_style(content, code, alpha, blocks)
        y = self.up1(self._decode(h_, dec_offset))
        if self.cfg.skip:
            y = y + first
        if self.cfg.residual:
            tone = self.tone(code)
            if tone_offset is not None:
                tone = tone + tone_offset
            tone = tone[:, :, None, None]
            if self.cfg.mask_input and mask is not None:
                tone = tone * (1.0 - mask)
            return rgb + self.out(y) + tone
        return torch.tanh(self.out(y))


def with_adapters(g: Generator, decoder: bool = False, n_styles: int | None = None) -> Generator:
    """A copy of ``g`` with per-style adapters (and, if ``decoder``, decoder adapters) for
    ``n_styles`` styles (default: ``g``'s). ``g``'s codes and adapter rows are kept; every
    other number is zero, so each of ``g``'s styles gives the same output as in ``g``."""
    n = n_styles or g.cfg.n_styles
    if n < g.cfg.n_styles:
        raise ValueError(f"n_styles={n}: fewer than the {g.cfg.n_styles} styles of g")
    cfg = dataclasses.replace(
        g.cfg, n_styles=n, adapters=True, decoder_adapters=decoder or g.cfg.decoder_adapters
    )
    out = Generator(cfg)
    state = {k: v.detach().clone() for k, v in g.state_dict().items()}
    codes = torch.zeros(n, cfg.style_dim)
    codes[: g.cfg.n_styles] = state["codes.weight"]
    adapter = torch.zeros(n, out.adapter_dim)
    if "adapter" in state:  # the old layout is a prefix of the new one
        adapter[: g.cfg.n_styles, : g.adapter_dim] = state["adapter"]
    state["codes.weight"], state["adapter"] = codes, adapter
    out.load_state_dict(state)
    return out.train(g.training)
