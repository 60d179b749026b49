"""The minimum-error cut that joins two overlapping patches (Efros & Freeman 2001), shared
by square-patch quilting (``synthesis``) and grain bands (``strips``)."""

from __future__ import annotations

import numpy as np


def vertical_cuts(err: np.ndarray) -> np.ndarray:
    """Minimum-error paths from top to bottom through each of ``err`` ``(n, h, w)``;
    returns ``(n, h, w)`` {0, 1} masks, 1 right of each path (the new patch's side). Ties
    go straight down, then to the left.

    The dynamic programme runs down the rows, all ``n`` at once: quilting a frame cuts a
    few hundred patches, several candidates each, and a row is a handful of NumPy
    operations whatever ``n`` is."""
    n, h, w = err.shape
    e = err.astype(np.float64)
    # predecessors of column x in the row above: straight (x), left (x - 1), right (x + 1)
    three = np.full((n, 3, w + 2), np.inf)
    step = np.empty((n, h, w), np.int8)  # 0 straight, 1 from the left, 2 from the right
    step[:, 0] = 0
    cost = e[:, 0]
    for y in range(1, h):
        three[:, 0, 1:-1] = cost
        three[:, 1, 2:-1] = cost[:, :-1]
        three[:, 2, 1:-2] = cost[:, 1:]
        mid = three[:, :, 1:-1]
        step[:, y] = mid.argmin(axis=1)
        cost = mid.min(axis=1) + e[:, y]
    move = np.array([0, -1, 1], np.int64)
    rows = np.arange(n)
    path = np.empty((n, h), np.int64)
    path[:, -1] = np.argmin(cost, axis=1)
    for y in range(h - 1, 0, -1):
        path[:, y - 1] = path[:, y] + move[step[rows, y, path[:, y]]]
    return (np.arange(w)[None, None, :] >= path[:, :, None]).astype(np.float32)


def vertical_cut(err: np.ndarray) -> np.ndarray:
    """``vertical_cuts`` of one ``(h, w)`` error map."""
    return vertical_cuts(err[None])[0]
