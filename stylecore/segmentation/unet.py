"""The U-Net product segmenter: a plain U-Net (every filter learnt), or one whose encoder
is a frozen ImageNet EfficientNet-Lite0 (``UNetConfig.encoder = "lite0"``,
``lite_unet.LiteUNet``; the demo model).

Input channels: RGB plus the colour distance to a backdrop model fitted to the frame's
border (the same fit the edge segmenter uses). That extra channel is a strong, cheap prior
for catalogue photos: it makes "white product on white backdrop" a question of small
distances rather than of absolute colour. The net runs on the whole photo at a fixed long
side (``input_size``); its mask is upsampled and snapped to the full-size colours, as the
edge segmenter's is.

Weights serialise to safetensors bytes plus a JSON config (``to_files`` / ``from_files``);
files and URIs are the caller's business.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from stylecore.config import build
from stylecore.features.fold import inference_copy, weights_version
from stylecore.io.modelfiles import pack, unpack
from stylecore.segmentation.base import (
    FLAG_EMPTY,
    FLAG_FULL,
    FLAG_LOW_CONFIDENCE,
    FLAG_UNIFORM,
    Mask,
    cutout_first,
    working_size,
)
from stylecore.segmentation.edges import fit_backdrop
from stylecore.segmentation.refine import (
    Backdrop,
    cast_shadow,
    is_uniform,
    keep_components,
    open_holes,
    rim_means,
    settle_holes,
    to_lab,
    upsample_refined,
)

FORMAT_VERSION = 1
KIND, WEIGHTS = "unet-segmenter", "model.safetensors"
# With an outline size, the outline is redrawn within this many pixels of the finer grid,
# where the finer probability is at least this far from 0.5 (``redraw_outline``)
OUTLINE_BAND_PX = 3.0
OUTLINE_SURE = 0.25


@dataclass(frozen=True)
class UNetConfig:
    base_channels: int = 16  # width of the first level; doubles per level
    depth: int = 4  # number of down-sampling steps
    input_size: int = 256  # long side the photo is resized to
    backdrop_channel: bool = True  # feed the backdrop colour distance as a 4th channel
    feather_px: float = 1.5
    smooth_outline: bool = True  # guided smoothing of the upsampled outline (refine.py)
    snap_radius: int = 2
    min_component: float = 0.0015
    keep_ratio: float = 0.03
    # "plain": every filter learnt (``UNet``); "lite0": a frozen ImageNet EfficientNet-Lite0
    # encoder and a learnt decoder (``lite_unet.LiteUNet``; needs depth 5, its stride 32)
    encoder: str = "plain"

    def __post_init__(self) -> None:
        if self.base_channels < 2 or self.depth < 1 or self.depth > 6:
            raise ValueError("base_channels must be >= 2 and depth in [1, 6]")
        if self.encoder not in ("plain", "lite0"):
            raise ValueError(f"encoder={self.encoder!r}: use 'plain' or 'lite0'")
        if self.encoder == "lite0" and self.depth != 5:
            raise ValueError("encoder='lite0' downsamples 32 times: it needs depth=5")
        if self.input_size % (2**self.depth) != 0:
            raise ValueError(
                f"input_size={self.input_size}: must be a multiple of 2**depth={2**self.depth}"
            )

    @property
    def in_channels(self) -> int:
        return 4 if self.backdrop_channel else 3


class _Block(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class UNet(nn.Module):
    """Encoder-decoder with skip connections; bilinear upsampling (no transposed convs,
    so no checkerboard). ``(B, C, H, W)`` -> logits ``(B, 1, H, W)``; H, W multiples of
    ``2**depth``."""

    def __init__(self, cfg: UNetConfig) -> None:
        super().__init__()
        chans = [cfg.base_channels * 2**i for i in range(cfg.depth + 1)]
        self.down = nn.ModuleList()
        cin = cfg.in_channels
        for c in chans:
            self.down.append(_Block(cin, c))
            cin = c
        self.up = nn.ModuleList()
        for c_skip, c_in in zip(reversed(chans[:-1]), reversed(chans[1:]), strict=True):
            self.up.append(_Block(c_in + c_skip, c_skip))
        self.head = nn.Conv2d(chans[0], 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for i, block in enumerate(self.down):
            x = block(x)
            if i < len(self.down) - 1:
                skips.append(x)
                x = F.max_pool2d(x, 2)
        for block, skip in zip(self.up, reversed(skips), strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)


def build_net(cfg: UNetConfig) -> nn.Module:
    """The network ``cfg`` describes: ``UNet`` or the Lite0-encoder ``LiteUNet``."""
    if cfg.encoder == "lite0":
        from stylecore.segmentation.lite_unet import LiteUNet

        return LiteUNet(cfg.in_channels, cfg.base_channels)
    return UNet(cfg)


def stored_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """What a model file holds: the whole state, or all but a frozen packaged encoder."""
    own = getattr(model, "trainable_state", None)
    return own() if callable(own) else model.state_dict()


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def net_input(rgb: np.ndarray, cfg: UNetConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Photo ``(H, W, 3)`` uint8 at net size -> ``(C, H, W)`` float32 input, its Lab, and the
    backdrop model fitted to its border (Lab map) with that fit's noise."""
    lab = to_lab(rgb)
    x = (rgb.astype(np.float32) / 255.0 - 0.5) / 0.25
    chans = [x.transpose(2, 0, 1)]
    model, noise, _ = fit_backdrop(lab, 0.015)
    if cfg.backdrop_channel:
        dist = np.linalg.norm(lab - model, axis=2)
        chans.append((np.log1p(dist) / 2.0 - 1.0)[None])
    return np.concatenate(chans, axis=0).astype(np.float32), lab, model, noise


def pad_to_multiple(x: torch.Tensor, m: int) -> tuple[torch.Tensor, tuple[int, int]]:
    h, w = x.shape[-2:]
    ph, pw = (-h) % m, (-w) % m
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


def redraw_outline(
    fg: np.ndarray,
    kept_holes: np.ndarray,
    fine: np.ndarray,
    lab: np.ndarray,
    model: np.ndarray,
    noise: float,
    band_px: float = OUTLINE_BAND_PX,
    sure: float = OUTLINE_SURE,
) -> tuple[np.ndarray, np.ndarray]:
    """``fg`` and its kept holes (bool, at the working size) brought to the finer grid of
    ``fine`` (the network's probability there, with the photo's Lab, the backdrop model
    and its noise at that grid), with the outline redrawn within ``band_px`` fine pixels
    of it where the finer map is sure (``|p - 0.5| >= sure``) and the colours agree:

    - a pixel joins only if it is not the backdrop: it differs from the model by more
      than 3 Delta-E and the noise, and it is not the backdrop in a visible shadow (darker
      by at least 3 L*, by up to half its L*, its hue kept: a camera's soft side shadow
      on grey, which the net at 384 px takes in; on coloured paper by up to 85%, within
      30 degrees of its hue);
    - a pixel leaves only if it can be the backdrop: within the noise of the model, or
      in such a shadow (the dark underside of a mouse above its shadow stays).

    Only the outline moves: what is product, which parts and which holes, was settled at
    the working size, where the network was trained and the hole rule was measured."""
    h, w = fine.shape
    up = cv2.resize(fg.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
    inside = cv2.distanceTransform(up.astype(np.uint8), cv2.DIST_L2, 3)
    outside = cv2.distanceTransform((~up).astype(np.uint8), cv2.DIST_L2, 3)
    near = np.where(up, inside, outside) <= band_px
    thr = max(1.5, 5.0 * noise)
    d = lab - model
    dist = np.linalg.norm(d, axis=2)
    # on coloured paper a shadow runs deeper, its hue kept (as ``shadows.paper_shadow``
    # reads it): the finer net took in a jump rope's handle's shadow on purple paper
    paper = float(np.median(np.hypot(model[..., 1], model[..., 2]))) >= 12.0
    shade = cast_shadow(lab, model, 0.85 if paper else 0.5, hue_deg=30.0 if paper else 12.0)
    shade &= -d[..., 0] >= max(3.0, thr)
    backdrop_like = (dist <= thr) | shade
    join = near & ~up & (fine >= 0.5 + sure) & (dist > max(3.0, thr)) & ~shade
    leave = near & up & (fine < 0.5 - sure) & backdrop_like
    redrawn = (up | join) & ~leave
    holes = cv2.resize(kept_holes.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    return redrawn, (holes > 0) & ~redrawn


def mask_from_probability(
    rgb: np.ndarray,
    prob: np.ndarray,
    lab: np.ndarray,
    model: np.ndarray,
    noise: float,
    cfg: UNetConfig,
    name: str,
    fine: tuple[np.ndarray, np.ndarray, np.ndarray, float] | None = None,
) -> Mask:
    """A network's product probability at its working size (``prob``, with the photo's
    Lab, the backdrop model and its noise there) made into a full-size mask: the kept
    components, the hole rule, the outline upsampled, snapped to the full-size colours
    and smoothed. Shared by the U-Net and U^2-Net (``u2net.py``). With ``fine`` (the
    probability, the photo's Lab, the backdrop model and its noise at a finer working
    size) the outline is redrawn there (``masks_from_probability``)."""
    drawn, redrawn = masks_from_probability(rgb, prob, lab, model, noise, cfg, name, fine)
    return drawn if redrawn is None else redrawn


def masks_from_probability(
    rgb: np.ndarray,
    prob: np.ndarray,
    lab: np.ndarray,
    model: np.ndarray,
    noise: float,
    cfg: UNetConfig,
    name: str,
    fine: tuple[np.ndarray, np.ndarray, np.ndarray, float] | None = None,
) -> tuple[Mask, Mask | None]:
    """``mask_from_probability``'s mask, and with ``fine`` the same mask with its outline
    redrawn at the finer size (``redraw_outline``; ``None`` without ``fine``, or when
    the finer grid is no finer). The redrawn mask is the first one except around the
    working pixels the redraw moved, where it is upsampled and snapped from the finer grid:
    upsampled from there everywhere, the snapping (which decides the outline's own pixels
    by the colours either side) read a jump rope's shadow on purple paper differently and
    kept blobs of it."""
    H, W = rgb.shape[:2]
    thr = max(1.5, 5.0 * noise)
    if is_uniform(lab):
        return Mask(np.zeros((H, W), np.float32), 0.0, name, (FLAG_UNIFORM, FLAG_EMPTY)), None
    fg = keep_components(prob >= 0.5, cfg.min_component, cfg.keep_ratio)
    backdrop = Backdrop(lab, model, noise)
    fg, kept_holes = settle_holes(fg, backdrop)
    fg, kept_holes = open_holes(fg, kept_holes, backdrop)
    coverage = float(fg.mean())
    flags: list[str] = []
    if coverage < 1e-4:
        flags.append(FLAG_EMPTY)
        return Mask(np.zeros((H, W), np.float32), 0.0, name, tuple(flags)), None
    if coverage > 0.98:
        flags.append(FLAG_FULL)
    # Confidence: how decided the net is (mean distance of p from 0.5, scaled to [0,1]).
    conf = float(np.mean(np.abs(prob - 0.5)) * 2.0)
    if conf < 0.8:
        flags.append(FLAG_LOW_CONFIDENCE)
    alpha = _upsampled(rgb, fg, kept_holes, lab, 2.0 * thr, cfg)
    drawn = Mask(alpha, conf, name, tuple(flags))
    if fine is None or fine[0].size <= fg.size:
        return drawn, None
    h, w = fine[0].shape
    up = cv2.resize(fg.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
    fg_f, holes_f = redraw_outline(fg, kept_holes, *fine)
    moved = fg_f != up
    if not moved.any():
        return drawn, drawn
    alpha_f = _upsampled(rgb, fg_f, holes_f, fine[1], 2.0 * thr, cfg)
    reach = int(np.ceil(max(H / h, W / w)))  # one fine working pixel, at full size
    zone = cv2.resize(moved.astype(np.uint8), (W, H), interpolation=cv2.INTER_NEAREST)
    zone = cv2.dilate(zone, np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) > 0
    return drawn, Mask(np.where(zone, alpha_f, alpha), conf, name, tuple(flags))


def _upsampled(
    rgb: np.ndarray,
    fg: np.ndarray,
    kept_holes: np.ndarray,
    lab: np.ndarray,
    min_sep: float,
    cfg: UNetConfig,
) -> np.ndarray:
    """A working-size bool mask upsampled to ``rgb``'s size, its outline snapped to the
    colours either side (``refine.rim_means`` at the working size) and smoothed."""
    fg_mean = bg_mean = None
    if not fg.all():
        fg_mean, bg_mean = rim_means(lab, fg, radius=3 * cfg.snap_radius)
    return upsample_refined(
        fg,
        rgb,
        fg_mean,
        bg_mean,
        min_sep,
        cfg.feather_px,
        kept_holes,
        smooth=cfg.smooth_outline,
    )


class UNetSegmenter:
    """Learned segmentation (see the module docstring)."""

    name = "unet"

    def __init__(
        self,
        cfg: UNetConfig | None = None,
        model: UNet | None = None,
        device: str | torch.device = "cpu",
        meta: dict | None = None,
        outline_size: int = 0,
    ) -> None:
        self.cfg = cfg or UNetConfig()
        self.model = (model or build_net(self.cfg)).to(device).eval()
        self.device = torch.device(device)
        self.meta = dict(meta or {})
        self._infer: tuple[tuple, nn.Module] | None = None
        # the long side at which the outline is redrawn (``redraw_outline``); 0: not
        self.outline_size = outline_size

    def inference_net(self) -> nn.Module:
        """``model`` with BatchNorm folded, channels-last (``stylecore.features.fold``): the
        same function, about 1.5x faster on CPU. Rebuilt when ``model``'s weights change."""
        key = weights_version(self.model)
        if self._infer is None or self._infer[0] != key:
            self._infer = (key, inference_copy(self.model))
        return self._infer[1]

    # -- inference ---------------------------------------------------------------------
    @torch.inference_mode()
    def probability(
        self, rgb: np.ndarray, size: int = 0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """Product probability at net size (or at long side ``size``): ``(h, w)`` float32,
        plus the photo's Lab, the backdrop model and its noise there."""
        h, w = working_size(*rgb.shape[:2], size or self.cfg.input_size)
        small = (
            rgb
            if (h, w) == rgb.shape[:2]
            else cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        )
        x, lab, model, noise = net_input(small, self.cfg)
        t, (h0, w0) = pad_to_multiple(torch.from_numpy(x)[None].to(self.device), 2**self.cfg.depth)
        logits = self.inference_net()(t.contiguous(memory_format=torch.channels_last))
        logits = logits[0, 0, :h0, :w0]
        return torch.sigmoid(logits).float().cpu().numpy(), lab, model, noise

    def segment(self, image: np.ndarray) -> Mask:
        coarse, fine = self.segment_both(image)
        return coarse if fine is None else fine

    def segment_both(self, image: np.ndarray) -> tuple[Mask, Mask | None]:
        """The mask with its outline drawn at the working size, and with it redrawn at
        ``outline_size`` (``redraw_outline``; ``None`` when that is off or the photo's long
        side is under twice ``outline_size``). The network runs once at each size. ``auto``
        judges the first and publishes the second's outline, so the redraw cannot make a
        mask pass the integrity check."""
        rgb, cutout = cutout_first(image, self.name)
        if cutout is not None:
            return cutout, None
        coarse = self.probability(rgb)
        fine = None
        if self.outline_size > self.cfg.input_size and max(rgb.shape[:2]) >= 2 * self.outline_size:
            # below twice the finer size the outline upsampled from the working size is
            # snapped to the photo's own colours at up to 3x: the redraw would replace that
            # with an unsnapped one (the held-out catalogue's 384 px renders lost 1% IoU)
            fine = self.probability(rgb, self.outline_size)
        return masks_from_probability(rgb, *coarse, self.cfg, self.name, fine=fine)

    # -- serialisation -----------------------------------------------------------------
    def to_files(self, extra_meta: dict | None = None, half: bool = False) -> dict[str, bytes]:
        """``{"model.safetensors": ..., "model.json": ...}``. ``half`` stores floating-point
        weights as float16 (half the size; they load back into float32)."""
        meta = {
            "config": asdict(self.cfg),
            "parameters": count_parameters(self.model),
            **self.meta,
            **(extra_meta or {}),
        }
        return pack(stored_state(self.model), meta, KIND, WEIGHTS, FORMAT_VERSION, half=half)

    @classmethod
    def from_files(cls, files: dict[str, bytes], device: str = "cpu") -> UNetSegmenter:
        """Rebuild from ``to_files`` output."""
        meta, state = unpack(files, KIND, WEIGHTS, FORMAT_VERSION)
        cfg = build(UNetConfig, meta.pop("config"))
        meta.pop("parameters", None)
        model = build_net(cfg)
        missing, unexpected = model.load_state_dict(state, strict=False)
        own = set(stored_state(model))
        lost = sorted(set(missing) & own)
        if unexpected or lost:
            raise ValueError(
                f"segmenter weights do not fit its config: missing {lost[:5]}, "
                f"unexpected {sorted(unexpected)[:5]}"
            )
        return cls(cfg, model, device=device, meta=meta)
