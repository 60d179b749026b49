"""Mask quality measures: IoU and boundary F-score.

Masks are ``(H, W)`` arrays; anything >= 0.5 (float) or >= 128 (uint8) is product.
"""

from __future__ import annotations

import cv2
import numpy as np


def _bool(mask: np.ndarray) -> np.ndarray:
    if mask.dtype == np.bool_:
        return mask
    if mask.dtype == np.uint8:
        return mask >= 128
    return mask >= 0.5


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union; 1.0 when both masks are empty."""
    p, t = _bool(pred), _bool(truth)
    if p.shape != t.shape:
        raise ValueError(f"iou: shapes differ {p.shape} vs {t.shape}")
    union = np.logical_or(p, t).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(p, t).sum() / union)


def _boundary(m: np.ndarray) -> np.ndarray:
    u8 = m.astype(np.uint8)
    return (u8 - cv2.erode(u8, np.ones((3, 3), np.uint8))) > 0


def boundary_f(pred: np.ndarray, truth: np.ndarray, tolerance: float = 3.0) -> float:
    """Boundary F-score: precision and recall of outline pixels matched within
    ``tolerance`` pixels (as in the DAVIS benchmark's F measure)."""
    p, t = _bool(pred), _bool(truth)
    if p.shape != t.shape:
        raise ValueError(f"boundary_f: shapes differ {p.shape} vs {t.shape}")
    bp, bt = _boundary(p), _boundary(t)
    if not bp.any() and not bt.any():
        return 1.0
    if not bp.any() or not bt.any():
        return 0.0
    # Distance from every pixel to the nearest outline pixel of the other mask.
    dt_t = cv2.distanceTransform((~bt).astype(np.uint8), cv2.DIST_L2, 3)
    dt_p = cv2.distanceTransform((~bp).astype(np.uint8), cv2.DIST_L2, 3)
    precision = float((dt_t[bp] <= tolerance).mean())
    recall = float((dt_p[bt] <= tolerance).mean())
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)
