"""The gate as one call: scores and verdict for a restyled photo.

Style match needs the style's statistics, which an exported model carries in
``style_stats.safetensors``: per style, the ImageNet judge's reference distributions
(``stylecore.quality.judge``; a network and taps training never optimises) and the Lab
mean and covariance of its references. So apply and the nightly job need no reference
images.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from stylecore.quality.checks import (
    QualityConfig,
    QualityReport,
    colour_ratios,
    decide,
    product_fidelity,
    sanity,
)
from stylecore.quality.judge import JUDGE_SIDE, JudgeStats, judge_scores, reference_stats
from stylecore.quality.palette import out_of_palette, palette
from stylecore.quality.style_metrics import lab_stats, lab_stats_distance
from stylecore.quality.texture import resize_long


def compute_style_stats(refs: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
    """Statistics of one style's references (uint8 RGB) for ``style_stats.safetensors``."""
    small = [resize_long(r, JUDGE_SIDE) for r in refs]
    out = reference_stats(small).to_tensors()
    mean, cov = lab_stats(np.concatenate([r.reshape(-1, 3) for r in small])[None])
    out["lab_mean"] = torch.from_numpy(mean.astype(np.float32))
    out["lab_cov"] = torch.from_numpy(cov.astype(np.float32))
    # The references' own colour spread: how far each one is from the pooled statistics.
    out["colour_self"] = torch.tensor(
        float(np.mean([lab_stats_distance(lab_stats(r), (mean, cov)) for r in small]))
    )
    out["palette"] = torch.from_numpy(palette(refs))
    return out


def restyled_change(before: np.ndarray, after: np.ndarray, styled: np.ndarray) -> dict:
    """``restyled_change``: mean absolute luminance difference (levels) over the wholly
    styled pixels (``styled`` >= 0.99); none when there are none."""
    w = styled >= 0.99
    if not w.any():
        return {}
    lum = np.float32([0.299, 0.587, 0.114])
    d = np.abs(after[w].astype(np.float32) @ lum - before[w].astype(np.float32) @ lum)
    return {"restyled_change": float(d.mean())}


def assess(
    original: np.ndarray,
    output: np.ndarray,
    alpha: np.ndarray,
    stats: dict[str, torch.Tensor] | None,
    region: str = "background",
    cfg: QualityConfig | None = None,
) -> QualityReport:
    """Score ``output`` against ``original`` (uint8 RGB) with the product matte ``alpha``.
    Product fidelity is judged only where the product is meant to be kept (region
    'background'); style match, when ``stats`` are given, where the style was applied
    (the product for region 'product', else the background)."""
    cfg = cfg or QualityConfig()
    coverage = float((alpha >= 0.5).mean())
    scores = sanity(output, coverage, original)
    check_product = region == "background"
    if check_product:
        scores.update(product_fidelity(original, output, alpha, cfg.erode_px))
    if stats is not None:
        o_s, x_s = resize_long(output, JUDGE_SIDE), resize_long(original, JUDGE_SIDE)
        a_s = cv2.resize(alpha.astype(np.float32), (o_s.shape[1], o_s.shape[0]))
        styled = a_s if region == "product" else 1.0 - a_s
        scores.update(judge_scores(JudgeStats.from_tensors(stats), x_s, o_s, styled) or {})
        scores.update(restyled_change(x_s, o_s, styled))
        ref_lab = (stats["lab_mean"].numpy(), stats["lab_cov"].numpy())
        colour_self = float(stats["colour_self"]) if "colour_self" in stats else None
        scores.update(colour_ratios(x_s, o_s, 1.0 - styled, ref_lab, colour_self))
        if "palette" in stats and region == "background":
            scores.update(
                out_of_palette(
                    output,
                    alpha,
                    stats["palette"].numpy(),
                    cfg.palette_max_de,
                    cfg.palette_min_blob,
                )
            )
    return decide(scores, cfg, check_product=check_product, check_style=stats is not None)
