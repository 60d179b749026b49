"""The style judge: how close a photo's background looks to a style, in ImageNet features.

The judge is deliberately *not* the training loss. Training matches Gram matrices of
EfficientNet-Lite0 taps -1, 0, 2, 4, 7 and 10 over an image pyramid; the judge compares
whole feature *distributions* at other taps (``JUDGE_TAPS``: blocks 1, 3, 6 and 9, at 4, 8,
16 and 16 px stride) with the sliced Wasserstein distance (Heitz et al., CVPR 2021): the
features of every background position are projected on ``N_DIRECTIONS`` fixed random unit
directions, and the quantiles of each projection are compared with the references'. A
distribution carries what a Gram (a second moment) averages away: how often a vein, an edge
or a blob occurs, and how strong it is. So colour-matched noise, a flat tint or the
untouched input stay far from a textured reference, while an unseen image of the same look
comes close.

Each tap's distance is the RMS quantile difference in units of the references' own spread
along the directions, and the judge's distance is the mean over taps. Like the other
measures it is reported as the fraction of the way from the input to the references
(``fraction``), and in the gate also relative to the references' own spread (how far each
reference is from the pool of the others).

Everything runs at ``JUDGE_SIDE`` px on the long side, photos and references alike.
Images are uint8 RGB ``(H, W, 3)``; a ``background`` weight is ``(H, W)`` in [0, 1] at the
image's size (1 = background).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from stylecore.features.efficientnet import (
    EfficientNetLite0,
    imagenet_normalise,
    pretrained_lite0,
    tap_channels,
)
from stylecore.quality.texture import resize_long

JUDGE_TAPS = (1, 3, 6, 9)
JUDGE_SIDE = 256
N_DIRECTIONS = 64
QUANTILES = torch.linspace(0.02, 0.98, 33)
DIRECTION_SEED = 20261130
MIN_POSITIONS = 8  # fewer wholly-background positions than this at a tap: cannot judge


@dataclass(frozen=True)
class JudgeStats:
    """A style's reference statistics. Per tap: the projection quantiles
    ``(N_DIRECTIONS, len(QUANTILES))`` of the pooled references (``raw``), the same with
    each reference's mean projection removed first (``centred``: the distribution's shape
    without its colour offset), and the spread (mean standard deviation of the
    projections) that distances at the tap are measured in. ``self_raw``/``self_centred``:
    the mean distance of each reference to the pool of the others, i.e. how close a new
    image of the same look can be expected to come (0 with one reference)."""

    raw: tuple[torch.Tensor, ...]
    centred: tuple[torch.Tensor, ...]
    spread: tuple[float, ...]
    self_raw: float
    self_centred: float

    def to_tensors(self) -> dict[str, torch.Tensor]:
        out = {f"judge_raw{k}": q.float().contiguous() for k, q in enumerate(self.raw)}
        out.update(
            {f"judge_centred{k}": q.float().contiguous() for k, q in enumerate(self.centred)}
        )
        out["judge_spread"] = torch.tensor(self.spread, dtype=torch.float32)
        out["judge_self"] = torch.tensor([self.self_raw, self.self_centred], dtype=torch.float32)
        return out

    @classmethod
    def from_tensors(cls, t: dict[str, torch.Tensor]) -> JudgeStats:
        if "judge_spread" not in t:
            raise KeyError(
                "these style statistics carry no judge statistics: the model was exported "
                "before the ImageNet judge; retrain it (restyle train) to get them"
            )
        spread = tuple(float(v) for v in t["judge_spread"])
        n = len(spread)
        return cls(
            tuple(t[f"judge_raw{k}"] for k in range(n)),
            tuple(t[f"judge_centred{k}"] for k in range(n)),
            spread,
            float(t["judge_self"][0]),
            float(t["judge_self"][1]),
        )


@functools.lru_cache(maxsize=1)
def _net() -> EfficientNetLite0:
    return pretrained_lite0()


@functools.lru_cache(maxsize=1)
def _directions() -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(DIRECTION_SEED)
    out = []
    for tap in JUDGE_TAPS:
        d = torch.randn(N_DIRECTIONS, tap_channels(tap), generator=g)
        out.append(d / d.norm(dim=1, keepdim=True))
    return tuple(out)


@torch.no_grad()
def projections(rgb: np.ndarray, background: np.ndarray | None = None) -> list[torch.Tensor] | None:
    """Per judge tap, the projections ``(N_DIRECTIONS, n)`` of the features at the ``n``
    positions that lie wholly in the background; None where too few do."""
    img = resize_long(rgb, JUDGE_SIDE)
    x = torch.from_numpy(img.astype(np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0)
    feats = _net().features(imagenet_normalise(x), JUDGE_TAPS)
    bg = None
    if background is not None:
        b = resize_long(background.astype(np.float32), JUDGE_SIDE)
        bg = torch.from_numpy(np.clip(b, 0.0, 1.0))[None, None]
    out = []
    for f, d in zip(feats, _directions(), strict=True):
        flat = f[0].reshape(f.shape[1], -1)  # (C, h*w)
        if bg is not None:
            w = torch.nn.functional.interpolate(bg, size=f.shape[-2:], mode="area").reshape(-1)
            flat = flat[:, w >= 0.99]
        if flat.shape[1] < MIN_POSITIONS:
            return None
        out.append(d @ flat)
    return out


def _quantiles(p: torch.Tensor) -> torch.Tensor:
    return torch.quantile(p, QUANTILES.to(p.dtype), dim=1).T  # (N_DIRECTIONS, Q)


def _centre(p: list[torch.Tensor]) -> list[torch.Tensor]:
    return [t - t.mean(dim=1, keepdim=True) for t in p]


def _pool(items: Sequence[list[torch.Tensor]]) -> list[torch.Tensor]:
    return [torch.cat([p[k] for p in items], dim=1) for k in range(len(JUDGE_TAPS))]


def _distance(p: Sequence[torch.Tensor], ref: Sequence[torch.Tensor], spread) -> float:
    """Mean over taps of the RMS quantile difference in units of the tap's spread."""
    per_tap = [
        float(((_quantiles(a) - b) ** 2).mean().sqrt()) / max(s, 1e-6)
        for a, b, s in zip(p, ref, spread, strict=True)
    ]
    return float(np.mean(per_tap))


def reference_stats(refs: Sequence[np.ndarray]) -> JudgeStats:
    """The judge's statistics of a style from its reference images (uint8 RGB, whole)."""
    if not refs:
        raise ValueError("judge: no reference images")
    per = [projections(r) for r in refs]
    if any(p is None for p in per):
        raise ValueError("judge: a reference image is too small to judge")
    pool = _pool(per)
    spread = tuple(float(p.std(dim=1).mean()) for p in pool)
    raw = tuple(_quantiles(p) for p in pool)
    centred = tuple(_quantiles(p) for p in _pool([_centre(p) for p in per]))
    self_raw = self_centred = 0.0
    if len(per) > 1:
        d_raw, d_cen = [], []
        for i, p in enumerate(per):
            rest = per[:i] + per[i + 1 :]
            d_raw.append(_distance(p, [_quantiles(t) for t in _pool(rest)], spread))
            d_cen.append(
                _distance(
                    _centre(p), [_quantiles(t) for t in _pool([_centre(r) for r in rest])], spread
                )
            )
        self_raw, self_centred = float(np.mean(d_raw)), float(np.mean(d_cen))
    return JudgeStats(raw, centred, spread, self_raw, self_centred)


def distances(
    stats: JudgeStats, rgb: np.ndarray, background: np.ndarray | None = None
) -> tuple[float, float] | None:
    """``(raw, centred)`` distances from an image's background to the style; None when too
    little background is visible to judge."""
    p = projections(rgb, background)
    if p is None:
        return None
    return (
        _distance(p, stats.raw, stats.spread),
        _distance(_centre(p), stats.centred, stats.spread),
    )


def _fraction(d_in: float, d_out: float, d_self: float) -> float:
    """The fraction of the way from the input (0) to where an unseen reference of the
    style sits (1): ``(d_in - d_out) / (d_in - d_self)``. NaN when the input is already
    that close."""
    gap = d_in - d_self
    return float((d_in - d_out) / gap) if gap > 1e-6 else float("nan")


def judge_scores(
    stats: JudgeStats, before: np.ndarray, after: np.ndarray, background: np.ndarray | None
) -> dict[str, float] | None:
    """The judge's scores of ``after`` (a restyle of ``before``) on the background:

    - ``judge``: the smaller of the raw and the centred fraction of the way from the
      input to the style (``_fraction``). Raw distributions reject colour-matched noise
      (right colours, wrong structure); centred ones reject a flat tint (right mean
      colour, no distribution at all). An unchanged photo scores 0.
    - ``judge_spread``: the larger of the two distances of ``after`` in units of the
      references' own (self) distance: about 1-2 for a new image of the same look.

    None if there is too little background to judge."""
    d_in, d_out = distances(stats, before, background), distances(stats, after, background)
    if d_in is None or d_out is None:
        return None
    selfs = (stats.self_raw, stats.self_centred)
    fr = [_fraction(a, b, c) for a, b, c in zip(d_in, d_out, selfs, strict=True)]
    return {
        "judge": float(np.nanmin(fr)) if not all(np.isnan(fr)) else float("nan"),
        "judge_raw": fr[0],
        "judge_centred": fr[1],
        "judge_spread": max(
            d / c if c > 1e-6 else float("inf") for d, c in zip(d_out, selfs, strict=True)
        ),
    }
