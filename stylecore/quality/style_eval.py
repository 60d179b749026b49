"""Whole-image style evaluation of a style model (what `restyle eval-style` reports): per
photo and style, the Gram distance to the references in a fixed judge network and the Lab
colour-statistics distance of the background, each before and after (as the cut), and the
SSIM of edge maps inside the product."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stylecore.features import FeatureConfig, RandomFeatureNet
from stylecore.models.style_model import StyleModel, stylize
from stylecore.quality.style_metrics import (
    edge_ssim,
    gram_distance,
    lab_stats,
    lab_stats_distance,
    reference_grams,
)
from stylecore.training.data import ContentItem

JUDGE_SEED = 20261126  # a fixed network that training never uses


def evaluate_style(
    model: StyleModel,
    content: Sequence[ContentItem],
    names: Sequence[str],
    style_ids: Sequence[str],
    refs: Sequence[tuple[int, np.ndarray]],
) -> tuple[list[dict], dict, list[tuple[np.ndarray, str]]]:
    """``(rows, summary, tiles)``: a row per (style, photo), the mean cuts and edge SSIM
    per style, and (image, label) tiles for a before/after sheet. ``refs`` are
    ``(index into style_ids, image)``."""
    judge = RandomFeatureNet(FeatureConfig(seed=JUDGE_SEED))
    refs_by = {sid: [img for k, img in refs if k == i] for i, sid in enumerate(style_ids)}
    rows, tiles = [], []
    for sid in style_ids:
        if sid not in model.style_ids:
            raise ValueError(f"style {sid!r} is not in the model ({model.style_ids})")
        target = reference_grams(judge, refs_by[sid])
        ref_lab = lab_stats(np.concatenate([r.reshape(-1, 3) for r in refs_by[sid]])[None])
        tiles.append((refs_by[sid][0], f"{sid} reference"))
        for name, item in zip(names, content, strict=True):
            out = stylize(model, item.rgb, sid, noise_key=name)
            bg = 1.0 - item.mask
            g_in, g_out = gram_distance(judge, item.rgb, target), gram_distance(judge, out, target)
            c_in = lab_stats_distance(lab_stats(item.rgb, bg), ref_lab)
            c_out = lab_stats_distance(lab_stats(out, bg), ref_lab)
            rows.append(
                {
                    "style": sid,
                    "image_id": name,
                    "gram_in": g_in,
                    "gram_out": g_out,
                    "gram_cut": 1 - g_out / g_in,
                    "colour_in": c_in,
                    "colour_out": c_out,
                    "colour_cut": 1 - c_out / c_in,
                    "edge_ssim_product": edge_ssim(item.rgb, out, item.mask),
                }
            )
            if len(tiles) % 6 != 5 and len([t for t in tiles if t[1].startswith(sid)]) < 5:
                tiles += [(item.rgb, f"{name}"), (out, f"{sid}")]
    summary = {
        sid: {
            k: float(np.mean([r[k] for r in rows if r["style"] == sid]))
            for k in ("gram_cut", "colour_cut", "edge_ssim_product")
        }
        for sid in style_ids
    }
    return rows, summary, tiles
