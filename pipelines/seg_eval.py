"""`restyle eval-segmentation` as calls: each photo's mask measured against its ground
truth (IoU, boundary F, time, the publish-safety verdict), then the summary and the
per-category table the command prints."""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict

import numpy as np

from pipelines import datasets
from stylecore.segmentation import boundary_f, iou
from stylecore.segmentation.integrity import IntegrityConfig, screen

log = logging.getLogger(__name__)


def measure(seg, refs: list, integrity: IntegrityConfig) -> list[dict]:
    """One row per photo of ``refs`` (each with a mask): the segmenter's scores and the
    publish-safety verdict on its mask."""
    rows = []
    for k, (ref, img, mask) in enumerate(datasets.iter_loaded(refs), 1):
        t = time.perf_counter()
        m = seg.segment(img)
        ms = (time.perf_counter() - t) * 1000
        safety = screen(img, m, integrity)
        rows.append(
            {
                "image_id": ref.image_id,
                "category": ref.category or "-",
                "iou": iou(m.alpha, mask),
                "boundary_f": boundary_f(m.alpha, mask),
                "ms": ms,
                "flags": list(m.flags),
                "method": m.method,
                "held_back": safety.reason,
                "signals": {k: round(float(v), 4) for k, v in safety.scores.items()},
            }
        )
        log.info("%d/%d %s iou=%.3f", k, len(refs), ref.image_id, rows[-1]["iou"])
    return rows


def summarise(rows: list[dict], method: str) -> dict:
    held = Counter(r["held_back"] for r in rows if r["held_back"])
    return {
        "method": method,
        "images": len(rows),
        "mean_iou": float(np.mean([r["iou"] for r in rows])),
        "mean_boundary_f": float(np.mean([r["boundary_f"] for r in rows])),
        "min_iou": float(np.min([r["iou"] for r in rows])),
        "held_back": dict(held),
    }


def report_text(rows: list[dict], summary: dict) -> str:
    """The table the command prints: per category, all photos, and publish safety."""
    by_cat = defaultdict(list)
    for r in rows:
        by_cat[r["category"]].append(r)
    lines = [
        f"method {summary['method']}: {len(rows)} images",
        f"{'category':<14}{'n':>4}{'IoU':>8}{'BF@3px':>9}{'ms':>8}",
    ]
    for cat in sorted(by_cat):
        rs = by_cat[cat]
        lines.append(
            f"{cat:<14}{len(rs):>4}{np.mean([r['iou'] for r in rs]):>8.3f}"
            f"{np.mean([r['boundary_f'] for r in rs]):>9.3f}"
            f"{np.median([r['ms'] for r in rs]):>8.0f}"
        )
    lines.append(
        f"{'all':<14}{len(rows):>4}{summary['mean_iou']:>8.3f}{summary['mean_boundary_f']:>9.3f}"
    )
    held = summary["held_back"]
    kept = [r["iou"] for r in rows if not r["held_back"]]
    lines.append(
        f"publish safety: {sum(held.values())} of {len(rows)} held back "
        f"({', '.join(f'{k} {v}' for k, v in held.items()) or 'none'}); "
        f"IoU of the rest {np.mean(kept) if kept else float('nan'):.3f}"
    )
    return "\n".join(lines)
