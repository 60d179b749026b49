"""Whole-image style evaluation of a style model (what `restyle eval-style` reports).

Per photo and style, on the photo's background (``stylecore.quality.texture``): how far
the restyle moved the colour statistics, the luminance power spectrum (level and shape;
``texture`` is the smaller) and the Gram statistics of a fixed judge network toward the
style references, each as the fraction of the way from the input; and inside the
product, the SSIM of edge maps against the input (does the product keep its structure).

Each style is also scored on two calibration images per photo, which check the measure
rather than the model: the background replaced by the reference itself (should score near
1) and by colour-matched white noise (right colours, no structure: its texture score must
stay far below the reference's).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stylecore.features import FeatureConfig, RandomFeatureNet
from stylecore.models.style_model import StyleModel, stylize
from stylecore.quality.style_metrics import edge_ssim
from stylecore.quality.texture import StyleTarget, calibration_images
from stylecore.training.data import ContentItem

JUDGE_SEED = 20261126  # a fixed network that training never uses
MEASURES = ("texture", "spectrum_level", "spectrum_shape", "colour", "gram")
SHEET_PHOTOS = 5


def _mean(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if r.get(key) is not None and np.isfinite(r[key])]
    return float(np.mean(vals)) if vals else float("nan")


def evaluate_style(
    model: StyleModel,
    content: Sequence[ContentItem],
    names: Sequence[str],
    style_ids: Sequence[str],
    refs: Sequence[tuple[int, np.ndarray]],
) -> tuple[list[dict], dict, list[tuple[np.ndarray, str]]]:
    """``(rows, summary, tiles)``: a row per (style, photo); per style the mean of each
    measure, the product edge SSIM, and the calibration scores (``pasted_*``,
    ``noise_*``); and (image, label) tiles for a sheet of ``SHEET_PHOTOS + 1`` columns:
    the inputs, then a row per style (its reference, then its restyles). ``refs`` are
    ``(index into style_ids, image)``."""
    judge = RandomFeatureNet(FeatureConfig(seed=JUDGE_SEED))
    refs_by = {sid: [img for k, img in refs if k == i] for i, sid in enumerate(style_ids)}
    shown = list(zip(names, content, strict=True))[:SHEET_PHOTOS]
    tiles = [(np.full((64, 64, 3), 255, np.uint8), "input")] + [
        (item.rgb, name) for name, item in shown
    ]
    rows, summary = [], {}
    for sid in style_ids:
        if sid not in model.style_ids:
            raise ValueError(f"style {sid!r} is not in the model ({model.style_ids})")
        if not refs_by[sid]:
            raise ValueError(f"style {sid!r} has no reference images")
        target = StyleTarget(judge, refs_by[sid])
        tiles.append((refs_by[sid][0], f"{sid} reference"))
        calib: dict[str, list[dict]] = {"pasted": [], "noise": []}
        style_rows = []
        for k, (name, item) in enumerate(zip(names, content, strict=True)):
            out = stylize(model, item.rgb, sid, noise_key=name, mask=item.mask)
            row = {"style": sid, "image_id": name}
            row.update(target.progress(item.rgb, out, item.mask) or {})
            row["edge_ssim_product"] = edge_ssim(item.rgb, out, item.mask)
            style_rows.append(row)
            if k < len(shown):
                tiles.append((out, sid))
            ref = refs_by[sid][k % len(refs_by[sid])]
            for kind, img in calibration_images(item.rgb, item.mask, ref, seed=k).items():
                calib[kind].append(target.progress(item.rgb, img, item.mask) or {})
        summary[sid] = {m: _mean(style_rows, m) for m in (*MEASURES, "edge_ssim_product")}
        summary[sid]["photos_measured"] = sum(1 for r in style_rows if "texture" in r)
        for kind, cal_rows in calib.items():
            summary[sid].update({f"{kind}_{m}": _mean(cal_rows, m) for m in MEASURES})
        rows += style_rows
    return rows, summary, tiles
