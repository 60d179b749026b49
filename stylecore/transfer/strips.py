"""Grain looks (wood planks, brushed metal, stripes) quilted in strips along the grain.

Quilting lays square patches, so some cuts always run *across* the texture. Where the
texture has no direction that is invisible; across wood grain every ring and fibre
steps at the cut, whatever path the cut takes, and the planks look patched. A texture
whose gradients all point one way (``grain_axis``: the structure tensor's coherence) is
rebuilt instead from bands as long as the frame, taken whole from the reference and
stacked across the grain (``quilt_strips``): each band's position is chosen by its error
on the overlap with the band before, and the two join along the minimum-error cut,
which runs *along* the grain, between rings, where a cut does not show.

Deterministic per ``seed``; images are ``(H, W, 3)`` uint8 RGB.
"""

from __future__ import annotations

import cv2
import numpy as np

from stylecore.transfer.cuts import vertical_cut

GRAIN_COHERENCE = 0.8  # wood 0.97-0.99 on the demo references; marble at most 0.45
GRAIN_TILT = 15.0  # degrees: the grain must run within this of a frame axis


def grain_axis(ref: np.ndarray) -> int | None:
    """0 if ``ref``'s texture runs along its rows (horizontal grain), 1 along its
    columns, None if it has no single direction (or a tilted one): the coherence
    ``(l1 - l2) / (l1 + l2)`` of the luminance structure tensor summed over the image must
    reach ``GRAIN_COHERENCE``, with the gradients within ``GRAIN_TILT`` of an axis."""
    g = cv2.cvtColor(ref, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    g = cv2.GaussianBlur(g, (0, 0), 1.0)
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    a, b, c = float((gx * gx).mean()), float((gx * gy).mean()), float((gy * gy).mean())
    if a + c <= 1e-12:
        return None
    coherence = float(np.hypot(a - c, 2 * b)) / (a + c)
    angle = abs(float(np.degrees(0.5 * np.arctan2(2 * b, a - c))))  # gradient direction
    if coherence < GRAIN_COHERENCE:
        return None
    if angle >= 90.0 - GRAIN_TILT:  # gradients vertical: the grain runs along the rows
        return 0
    if angle <= GRAIN_TILT:
        return 1
    return None


def quilt_strips(
    ref: np.ndarray,
    frame_hw: tuple[int, int],
    seed: int,
    band: float = 0.45,
    overlap: float = 0.25,
    tolerance: float = 0.05,
    seam_px: float = 1.0,
    candidates: int = 8,
) -> np.ndarray | None:
    """A ``frame_hw`` texture from ``ref`` (horizontal grain, already at its scale) in
    full-width bands of ``band`` x its height, overlapping by ``overlap`` of a band.

    Each band is taken at one of ``candidates`` random column offsets and at the row
    whose overlap error (on a copy reduced to about 256 px wide) is within
    ``tolerance`` of the best; it joins along the minimum-error cut, blurred by
    ``seam_px``. None if the reference is narrower than the frame."""
    H, W = frame_hw
    h, w = ref.shape[:2]
    if w < W or h < 16:
        return None
    P = max(int(round(band * h)), 8)
    o = max(int(round(P * overlap)), 2)
    s = P - o
    n = max(1, -(-(H - o) // s))
    f = max(1, W // 256)  # search reduction
    rng = np.random.default_rng(seed)
    small = cv2.resize(ref, (w // f, h // f), interpolation=cv2.INTER_AREA).astype(np.float32)
    out = np.zeros((n * s + o, W, 3), np.uint8)
    for i in range(n):
        y0 = i * s
        xs = rng.integers(w - W + 1, size=candidates)
        if i == 0:
            y, x = int(rng.integers(h - P + 1)), int(xs[0])
        else:
            y, x = _choose(small, out[y0 : y0 + o], xs, P, f, tolerance, rng)
            y = min(y, h - P)
        strip = ref[y : y + P, x : x + W]
        if i == 0:
            out[:P] = strip
            continue
        old = out[y0 : y0 + o].astype(np.float32)
        new = strip[:o].astype(np.float32)
        cut = vertical_cut(((old - new) ** 2).sum(2).T).T  # 1 below the path: the new band
        if seam_px >= 0.5:
            cut = cv2.GaussianBlur(cut, (0, 0), seam_px)
        out[y0 : y0 + o] = np.clip(cut[..., None] * new + (1 - cut[..., None]) * old + 0.5, 0, 255)
        out[y0 + o : y0 + P] = strip[o:]
    return np.ascontiguousarray(out[:H])


def _choose(small, overlap_rows, xs, P, f, tolerance, rng) -> tuple[int, int]:
    """The (row, column) of the next band: the overlap error of every row at each
    candidate column, on the reduced copy; one within ``tolerance`` of the best."""
    o, W = overlap_rows.shape[:2]
    of, wf, pf = max(o // f, 1), max(W // f, 1), max(P // f, 1)
    tmpl = cv2.resize(overlap_rows, (wf, of), interpolation=cv2.INTER_AREA).astype(np.float32)
    rows = small.shape[0] - pf + 1
    errs = np.empty((len(xs), rows), np.float64)
    for j, x in enumerate(xs):
        cols = small[:, x // f : x // f + wf]
        win = np.lib.stride_tricks.sliding_window_view(cols, of, axis=0)[:rows]
        # win: (rows, wf, 3, of) -> compare with tmpl (of, wf, 3)
        errs[j] = ((win - tmpl.transpose(1, 2, 0)[None]) ** 2).sum(axis=(1, 2, 3))
    ok = np.argwhere(errs <= errs.min() * (1.0 + tolerance) + 1e-6)
    j, yy = ok[int(rng.integers(len(ok)))]
    return int(yy) * f, int(xs[j])
