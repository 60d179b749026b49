"""The minimum-error cut that joins two overlapping patches (Efros & Freeman 2001), shared
by square-patch quilting (``synthesis``) and grain bands (``strips``)."""

from __future__ import annotations

import numpy as np


def vertical_cut(err: np.ndarray) -> np.ndarray:
    """Minimum-error path from top to bottom through ``err`` ``(h, w)``; returns a ``(h, w)``
    {0, 1} mask, 1 right of the path (the new patch's side)."""
    h, w = err.shape
    cost = err[0].astype(np.float64)
    step = np.zeros((h, w), np.int64)  # -1, 0 or +1: where row y's path came from
    for y in range(1, h):
        best, move = cost.copy(), np.zeros(w, np.int64)
        left = cost[:-1] < best[1:]
        best[1:][left], move[1:][left] = cost[:-1][left], -1
        right = cost[1:] < best[:-1]
        best[:-1][right], move[:-1][right] = cost[1:][right], 1
        cost = best + err[y]
        step[y] = move
    path = np.empty(h, np.int64)
    path[-1] = int(np.argmin(cost))
    for y in range(h - 1, 0, -1):
        path[y - 1] = path[y] + step[y, path[y]]
    return (np.arange(w)[None, :] >= path[:, None]).astype(np.float32)
