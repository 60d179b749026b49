"""Whole-image style evaluation of a style model (what `restyle eval-style` reports).

Per photo and style, on the photo's background: how far the restyle moved it toward the
style references, each as the fraction of the way from the input:

- ``colour``: Lab mean and covariance (``stylecore.quality.style_metrics``);
- ``texture``: the luminance power spectrum, level and shape (``stylecore.quality.texture``;
  ``texture`` is the smaller of the two);
- ``judge``: the ImageNet judge (``stylecore.quality.judge``): sliced Wasserstein distance
  of EfficientNet-Lite0 feature distributions at taps the training loss does not use;

and inside the product, the SSIM of edge maps against the input (does the product keep
its structure).

Each style is also scored on calibration images per photo, which check the measures rather
than the model: the background replaced by a reference, measured against the other
references only (an unseen image of the look: should score near 1), by
colour-matched white noise and by a flat tint of the reference's mean colour (right
colours, no structure: their texture and judge scores must stay far below the
reference's).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stylecore.models.style_model import StyleModel, stylize
from stylecore.quality.judge import JUDGE_SIDE, judge_scores, reference_stats
from stylecore.quality.style_metrics import edge_ssim, lab_stats, lab_stats_distance
from stylecore.quality.texture import (
    MEASURE_SIDE,
    PATCH,
    calibration_images,
    fraction,
    power_spectrum,
    resize_long,
    spectrum_distances,
)
from stylecore.training.data import ContentItem

MEASURES = ("texture", "spectrum_level", "spectrum_shape", "colour", "judge")
CALIBRATIONS = ("pasted", "noise", "tint")
SHEET_PHOTOS = 5


class StyleTarget:
    """The references' statistics at the measuring scale: spectrum, Lab stats, judge."""

    def __init__(self, refs: Sequence[np.ndarray]) -> None:
        if not refs:
            raise ValueError("StyleTarget: no reference images")
        self.refs = [resize_long(r, MEASURE_SIDE) for r in refs]
        spec = power_spectrum(self.refs)
        if spec is None:
            raise ValueError(f"references smaller than the {PATCH} px measuring patch")
        self.spectrum = spec
        self.lab = lab_stats(np.concatenate([r.reshape(-1, 3) for r in self.refs])[None])
        self.judge = reference_stats([resize_long(r, JUDGE_SIDE) for r in refs])

    def _distances(self, rgb: np.ndarray, bg: np.ndarray | None) -> dict[str, float] | None:
        spec = power_spectrum([rgb], [bg])
        if spec is None:
            return None
        level, shape = spectrum_distances(spec, self.spectrum)
        return {
            "level": level,
            "shape": shape,
            "colour": lab_stats_distance(lab_stats(rgb, bg), self.lab),
        }

    def progress(
        self, before: np.ndarray, after: np.ndarray, mask: np.ndarray | None
    ) -> dict[str, float] | None:
        """Fractions of the way to the references of ``after`` (a restyle of ``before``;
        ``mask`` = product, (H, W) in [0, 1]): ``colour``, ``spectrum_level``,
        ``spectrum_shape``, ``texture`` (the smaller spectrum fraction) and the judge's
        ``judge`` (with its views' fractions and ``judge_spread``; the judge measures at
        its own size, ``JUDGE_SIDE``). None if no measuring window fits in the
        background."""
        b, a = resize_long(before, MEASURE_SIDE), resize_long(after, MEASURE_SIDE)
        bg = None if mask is None else 1.0 - resize_long(mask.astype(np.float32), MEASURE_SIDE)
        d_in, d_out = self._distances(b, bg), self._distances(a, bg)
        if d_in is None or d_out is None:
            return None
        out = {
            "colour": fraction(d_in["colour"], d_out["colour"]),
            "spectrum_level": fraction(d_in["level"], d_out["level"]),
            "spectrum_shape": fraction(d_in["shape"], d_out["shape"]),
        }
        out["texture"] = min(out["spectrum_level"], out["spectrum_shape"])
        judge_bg = None if mask is None else 1.0 - mask.astype(np.float32)
        judge = judge_scores(
            self.judge, resize_long(before, JUDGE_SIDE), resize_long(after, JUDGE_SIDE), judge_bg
        )
        out.update(judge or {"judge": float("nan")})
        return out


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
    ``noise_*``, ``tint_*``); and (image, label) tiles for a sheet of ``SHEET_PHOTOS + 1``
    columns: the inputs, then a row per style (its reference, then its restyles). ``refs``
    are ``(index into style_ids, image)``."""
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
        target = StyleTarget(refs_by[sid])
        # Calibration pastes reference j and measures it against the other references
        # only: how an unseen image of the look scores (with one reference, itself).
        n_refs = len(refs_by[sid])
        unseen = [
            StyleTarget([r for i, r in enumerate(refs_by[sid]) if i != j]) if n_refs > 1 else target
            for j in range(n_refs)
        ]
        tiles.append((refs_by[sid][0], f"{sid} reference"))
        calib: dict[str, list[dict]] = {k: [] for k in CALIBRATIONS}
        style_rows = []
        for k, (name, item) in enumerate(zip(names, content, strict=True)):
            out = stylize(model, item.rgb, sid, noise_key=name, mask=item.mask)
            row = {"style": sid, "image_id": name}
            row.update(target.progress(item.rgb, out, item.mask) or {})
            row["edge_ssim_product"] = edge_ssim(item.rgb, out, item.mask)
            style_rows.append(row)
            if k < len(shown):
                tiles.append((out, sid))
            j = k % n_refs
            for kind, img in calibration_images(item.rgb, item.mask, refs_by[sid][j], k).items():
                calib[kind].append(unseen[j].progress(item.rgb, img, item.mask) or {})
        summary[sid] = {m: _mean(style_rows, m) for m in (*MEASURES, "edge_ssim_product")}
        summary[sid]["photos_measured"] = sum(1 for r in style_rows if "texture" in r)
        for kind, cal_rows in calib.items():
            summary[sid].update({f"{kind}_{m}": _mean(cal_rows, m) for m in MEASURES})
        rows += style_rows
    return rows, summary, tiles
