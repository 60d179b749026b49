"""The style judge: how close a photo's background looks to a style, in ImageNet features.

The judge is deliberately *not* the training loss. Training matches Gram matrices of
EfficientNet-Lite0 taps -1, 0, 2, 4, 7 and 10 over an image pyramid; the judge compares
whole feature *distributions* at other taps (``JUDGE_TAPS``: blocks 1, 3, 6 and 9, at 4, 8,
16 and 16 px stride) with the sliced Wasserstein distance (Heitz et al., CVPR 2021): the
features of every background position are projected on ``N_DIRECTIONS`` fixed random unit
directions, and the quantiles of each projection are compared with the references'. A
distribution carries what a Gram (a second moment) averages away: how often a vein, an edge
or a blob occurs, and how strong it is.

Three distributions per tap, each a *view* of the look:

- ``raw``: the projected features themselves (colour and local structure together);
- ``centred``: the same with each image's mean projection removed (the distribution's
  shape without its colour offset), which rejects a flat tint of the right mean colour;
- ``pairs``: the differences between the projections at horizontally and vertically
  neighbouring positions, a second-order statistic (Julesz; Portilla and Simoncelli,
  IJCV 2000). A single-position distribution cannot tell fine noise in the right colours
  from a texture whose parts are coherent over space (bokeh discs, veins, tiles): the
  features of neighbouring noise positions are independent, those of a texture are not.

Each view's distance is the mean over taps of the RMS quantile difference in units of the
references' own spread along the directions. Like the other measures it is reported as the
fraction of the way from the input to where an unseen image of the look sits (how far each
reference is from the pool of the others), and the judge is the smallest of the three
views' fractions: a look must come through in every view.

Everything runs at ``JUDGE_SIDE`` px on the long side, photos and references alike. At
256 px a 1024 px frame's fine texture (wood fibre, marble grain) was averaged into flat
colour, and colour-matched noise with it; at 512 px both stay visible to the network.
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
JUDGE_SIDE = 512
N_DIRECTIONS = 64
QUANTILES = torch.linspace(0.02, 0.98, 33)
DIRECTION_SEED = 20261130
MIN_POSITIONS = 8  # fewer wholly-background positions than this at a tap: cannot judge
# Bumped whenever what the statistics mean changes; a model whose statistics carry another
# version has them recomputed from its references when it is loaded.
JUDGE_VERSION = 2
VIEWS = ("raw", "centred", "pairs")

Views = dict[str, list[torch.Tensor]]  # view -> per tap (N_DIRECTIONS, n) projections


@dataclass(frozen=True)
class JudgeStats:
    """A style's reference statistics. Per view (``VIEWS``) and tap: the projection
    quantiles ``(N_DIRECTIONS, len(QUANTILES))`` of the pooled references (``quantiles``)
    and the spread (mean standard deviation of the projections, of the raw features for
    ``raw`` and ``centred``) that distances are measured in. ``self_distance``: per view,
    the mean distance of each reference to the pool of the others, i.e. how close a new
    image of the same look can be expected to come (0 with one reference)."""

    quantiles: dict[str, tuple[torch.Tensor, ...]]
    spread: dict[str, tuple[float, ...]]
    self_distance: dict[str, float]

    def to_tensors(self) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {"judge_version": torch.tensor(JUDGE_VERSION)}
        for v in VIEWS:
            for k, q in enumerate(self.quantiles[v]):
                out[f"judge_{v}{k}"] = q.float().contiguous()
            out[f"judge_spread_{v}"] = torch.tensor(self.spread[v], dtype=torch.float32)
        out["judge_self"] = torch.tensor(
            [self.self_distance[v] for v in VIEWS], dtype=torch.float32
        )
        return out

    @classmethod
    def from_tensors(cls, t: dict[str, torch.Tensor]) -> JudgeStats:
        if not is_current(t):
            raise KeyError(
                "these style statistics were computed for another version of the style "
                "judge; load the model with pipelines.models.load_style_model (it recomputes "
                "them from the model's references) or retrain it (restyle train)"
            )
        n = len(JUDGE_TAPS)
        return cls(
            {v: tuple(t[f"judge_{v}{k}"] for k in range(n)) for v in VIEWS},
            {v: tuple(float(x) for x in t[f"judge_spread_{v}"]) for v in VIEWS},
            {v: float(t["judge_self"][i]) for i, v in enumerate(VIEWS)},
        )


def is_current(t: dict[str, torch.Tensor]) -> bool:
    """Whether a style's statistics carry this version of the judge's."""
    return "judge_version" in t and int(t["judge_version"]) == JUDGE_VERSION


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
def projections(rgb: np.ndarray, background: np.ndarray | None = None) -> Views | None:
    """Per view and judge tap, the projections ``(N_DIRECTIONS, n)``: of the features at
    the positions that lie wholly in the background (``raw``, ``centred``), and of the
    differences between neighbouring such positions (``pairs``). None where too few do."""
    img = resize_long(rgb, JUDGE_SIDE)
    x = torch.from_numpy(img.astype(np.float32).transpose(2, 0, 1)[None] / 127.5 - 1.0)
    feats = _net().features(imagenet_normalise(x), JUDGE_TAPS)
    bg = None
    if background is not None:
        b = resize_long(background.astype(np.float32), JUDGE_SIDE)
        bg = torch.from_numpy(np.clip(b, 0.0, 1.0))[None, None]
    out: Views = {v: [] for v in VIEWS}
    for f, d in zip(feats, _directions(), strict=True):
        p = torch.einsum("dc,chw->dhw", d, f[0])
        if bg is None:
            w = torch.ones(p.shape[1:], dtype=torch.bool)
        else:
            w = torch.nn.functional.interpolate(bg, size=p.shape[1:], mode="area")[0, 0] >= 0.99
        across = (p[:, :, 1:] - p[:, :, :-1])[:, w[:, 1:] & w[:, :-1]]
        down = (p[:, 1:] - p[:, :-1])[:, w[1:] & w[:-1]]
        pairs = torch.cat([across, down], dim=1)
        if int(w.sum()) < MIN_POSITIONS or pairs.shape[1] < MIN_POSITIONS:
            return None
        raw = p[:, w]
        out["raw"].append(raw)
        out["centred"].append(raw - raw.mean(dim=1, keepdim=True))
        out["pairs"].append(pairs)
    return out


def _quantiles(p: torch.Tensor) -> torch.Tensor:
    return torch.quantile(p, QUANTILES.to(p.dtype), dim=1).T  # (N_DIRECTIONS, Q)


def _pool(items: Sequence[list[torch.Tensor]]) -> list[torch.Tensor]:
    return [torch.cat([p[k] for p in items], dim=1) for k in range(len(JUDGE_TAPS))]


def _distance(p: Sequence[torch.Tensor], ref: Sequence[torch.Tensor], spread) -> float:
    """Mean over taps of the RMS quantile difference in units of the tap's spread."""
    per_tap = [
        float(((_quantiles(a) - b) ** 2).mean().sqrt()) / max(s, 1e-6)
        for a, b, s in zip(p, ref, spread, strict=True)
    ]
    return float(np.mean(per_tap))


def _spreads(per: Sequence[Views]) -> dict[str, tuple[float, ...]]:
    raw = tuple(float(p.std(dim=1).mean()) for p in _pool([v["raw"] for v in per]))
    pairs = tuple(float(p.std(dim=1).mean()) for p in _pool([v["pairs"] for v in per]))
    return {"raw": raw, "centred": raw, "pairs": pairs}


def _pooled_quantiles(per: Sequence[Views]) -> dict[str, list[torch.Tensor]]:
    return {v: [_quantiles(t) for t in _pool([p[v] for p in per])] for v in VIEWS}


def reference_stats(refs: Sequence[np.ndarray]) -> JudgeStats:
    """The judge's statistics of a style from its reference images (uint8 RGB, whole)."""
    if not refs:
        raise ValueError("judge: no reference images")
    per = [projections(r) for r in refs]
    if any(p is None for p in per):
        raise ValueError("judge: a reference image is too small to judge")
    spread = _spreads(per)
    quantiles = {v: tuple(q) for v, q in _pooled_quantiles(per).items()}
    selfd = dict.fromkeys(VIEWS, 0.0)
    if len(per) > 1:
        d: dict[str, list[float]] = {v: [] for v in VIEWS}
        for i, p in enumerate(per):
            rest = _pooled_quantiles(per[:i] + per[i + 1 :])
            for v in VIEWS:
                d[v].append(_distance(p[v], rest[v], spread[v]))
        selfd = {v: float(np.mean(d[v])) for v in VIEWS}
    return JudgeStats(quantiles, spread, selfd)


def distances(
    stats: JudgeStats, rgb: np.ndarray, background: np.ndarray | None = None
) -> dict[str, float] | None:
    """Per view, the distance from an image's background to the style; None when too
    little background is visible to judge."""
    p = projections(rgb, background)
    if p is None:
        return None
    return {v: _distance(p[v], stats.quantiles[v], stats.spread[v]) for v in VIEWS}


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

    - ``judge``: the smallest of the three views' fractions of the way from the input to
      the style (``_fraction``; also reported as ``judge_raw``, ``judge_centred``,
      ``judge_pairs``). The raw view rejects wrong colours; the centred view a flat tint
      of the right mean colour; the pairs view noise in the right colours. An unchanged
      photo scores 0.
    - ``judge_spread``: the largest of the views' distances of ``after`` in units of the
      references' own (self) distance: about 1-2 for a new image of the same look.

    None if there is too little background to judge."""
    d_in, d_out = distances(stats, before, background), distances(stats, after, background)
    if d_in is None or d_out is None:
        return None
    fr = {v: _fraction(d_in[v], d_out[v], stats.self_distance[v]) for v in VIEWS}
    vals = list(fr.values())
    selfs = stats.self_distance
    return {
        "judge": float(np.nanmin(vals)) if not all(np.isnan(vals)) else float("nan"),
        **{f"judge_{v}": fr[v] for v in VIEWS},
        "judge_spread": max(
            d_out[v] / selfs[v] if selfs[v] > 1e-6 else float("inf") for v in VIEWS
        ),
    }
