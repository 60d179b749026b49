"""The gate as one call: scores and verdict for a restyled photo.

Style match needs the style's statistics in a fixed *judge* network (seeded random
filters, never used in training), which an exported model carries in
``style_stats.safetensors``: per style, the mean Gram per judge layer and the Lab mean and
covariance of its references. So apply and the nightly job need no reference images.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from stylecore.features import FeatureConfig, RandomFeatureNet
from stylecore.quality.checks import (
    QualityConfig,
    QualityReport,
    decide,
    product_fidelity,
    sanity,
    style_ratios,
)
from stylecore.quality.style_metrics import (
    gram_distance,
    lab_stats,
    lab_stats_distance,
    reference_grams,
)
from stylecore.segmentation.base import working_size

JUDGE_CONFIG = FeatureConfig(seed=20261126)
JUDGE_SIDE = 256  # photos are judged at this long side


def judge() -> RandomFeatureNet:
    return RandomFeatureNet(JUDGE_CONFIG)


def compute_style_stats(refs: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
    """Statistics of one style's references (uint8 RGB) for ``style_stats.safetensors``."""
    net = judge()
    small = [_small(r) for r in refs]
    grams = reference_grams(net, small)
    mean, cov = lab_stats(np.concatenate([r.reshape(-1, 3) for r in small])[None])
    out = {f"gram{k}": g.float() for k, g in enumerate(grams)}
    out["lab_mean"] = torch.from_numpy(mean.astype(np.float32))
    out["lab_cov"] = torch.from_numpy(cov.astype(np.float32))
    # The references' own spread: how far each one is from the pooled statistics.
    out["gram_self"] = torch.tensor(float(np.mean([gram_distance(net, r, grams) for r in small])))
    out["colour_self"] = torch.tensor(
        float(np.mean([lab_stats_distance(lab_stats(r), (mean, cov)) for r in small]))
    )
    return out


def _small(rgb: np.ndarray) -> np.ndarray:
    h, w = working_size(*rgb.shape[:2], JUDGE_SIDE)
    return rgb if (h, w) == rgb.shape[:2] else cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)


def assess(
    original: np.ndarray,
    output: np.ndarray,
    alpha: np.ndarray,
    stats: dict[str, torch.Tensor] | None,
    region: str = "background",
    cfg: QualityConfig | None = None,
    net: RandomFeatureNet | None = None,
) -> QualityReport:
    """Score ``output`` against ``original`` (uint8 RGB) with the product matte ``alpha``.
    Product fidelity is judged only where the product is meant to be kept (region
    'background'); style match only when ``stats`` are given."""
    cfg = cfg or QualityConfig()
    coverage = float((alpha >= 0.5).mean())
    scores = sanity(output, coverage)
    check_product = region == "background"
    if check_product:
        scores.update(product_fidelity(original, output, alpha, cfg.erode_px))
    if stats is not None:
        net = net or judge()
        grams = [stats[f"gram{k}"] for k in range(len(net.layers))]
        o_s, x_s = _small(output), _small(original)
        a_s = cv2.resize(alpha.astype(np.float32), (o_s.shape[1], o_s.shape[0]))
        ref_lab = (stats["lab_mean"].numpy(), stats["lab_cov"].numpy())
        scores.update(
            style_ratios(
                x_s,
                o_s,
                a_s,
                gram_distance(net, x_s, grams),
                gram_distance(net, o_s, grams),
                ref_lab,
                float(stats["gram_self"]) if "gram_self" in stats else None,
                float(stats["colour_self"]) if "colour_self" in stats else None,
            )
        )
    return decide(scores, cfg, check_product=check_product, check_style=stats is not None)
