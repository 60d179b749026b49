"""Contact sheets: labelled thumbnail grids for people to look at. Pure NumPy/OpenCV.

Images are ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA uint8; RGBA is shown over a
checkerboard so transparency is visible.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def checkerboard(h: int, w: int, cell: int = 12) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    v = np.where(((yy // cell) + (xx // cell)) % 2 == 0, 235, 200).astype(np.uint8)
    return np.dstack([v, v, v])


def flatten_rgba(image: np.ndarray) -> np.ndarray:
    """RGBA over a checkerboard; RGB and gray pass through as RGB."""
    if image.ndim == 2:
        return np.dstack([image] * 3)
    if image.shape[2] == 3:
        return image
    a = image[..., 3:4].astype(np.float32) / 255.0
    bg = checkerboard(*image.shape[:2]).astype(np.float32)
    return np.clip(image[..., :3] * a + bg * (1 - a) + 0.5, 0, 255).astype(np.uint8)


def outline(image: np.ndarray, mask: np.ndarray, colour=(255, 0, 255), width: int = 2):
    """Draw ``mask``'s outline (mask > 127) over an RGB copy of ``image``."""
    out = np.ascontiguousarray(flatten_rgba(image).copy())
    cnts, _ = cv2.findContours((mask > 127).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, cnts, -1, colour, width, cv2.LINE_AA)
    return out


def fit(image: np.ndarray, size: int, pad: int = 255) -> np.ndarray:
    """Scale ``image`` to fit a ``size`` x ``size`` square (aspect kept), padded."""
    img = flatten_rgba(image)
    h, w = img.shape[:2]
    s = size / max(h, w)
    nh, nw = max(round(h * s), 1), max(round(w * s), 1)
    small = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
    out = np.full((size, size, 3), pad, np.uint8)
    y0, x0 = (size - nh) // 2, (size - nw) // 2
    out[y0 : y0 + nh, x0 : x0 + nw] = small
    return out


def contact_sheet(
    tiles: Sequence[tuple[np.ndarray, str]],
    tile: int = 220,
    cols: int = 6,
    title: str | None = None,
    gap: int = 6,
) -> np.ndarray:
    """A grid of ``(image, label)`` tiles with the label under each. Returns RGB uint8."""
    label_h = 18
    rows = max((len(tiles) + cols - 1) // cols, 1)
    title_h = 34 if title else 0
    H = title_h + rows * (tile + label_h + gap) + gap
    W = cols * (tile + gap) + gap
    sheet = np.full((H, W, 3), 250, np.uint8)
    if title:
        cv2.putText(
            sheet, title, (gap, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (20, 20, 20), 1, cv2.LINE_AA
        )
    for i, (img, label) in enumerate(tiles):
        r, c = divmod(i, cols)
        y = title_h + gap + r * (tile + label_h + gap)
        x = gap + c * (tile + gap)
        sheet[y : y + tile, x : x + tile] = fit(img, tile)
        cv2.putText(
            sheet,
            label[: tile // 7],
            (x + 2, y + tile + 13),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (40, 40, 40),
            1,
            cv2.LINE_AA,
        )
    return sheet


def stack_sheets(sheets: Sequence[np.ndarray]) -> np.ndarray:
    """Stack sheets vertically, padding narrower ones on the right."""
    w = max(s.shape[1] for s in sheets)
    padded = [np.pad(s, ((0, 0), (0, w - s.shape[1]), (0, 0)), constant_values=250) for s in sheets]
    return np.vstack(padded)


_PLOT_COLOURS = [
    (31, 119, 180),
    (214, 39, 40),
    (44, 160, 44),
    (148, 103, 189),
    (255, 127, 14),
    (23, 190, 207),
    (140, 86, 75),
    (127, 127, 127),
]


def line_plot(
    series: dict[str, Sequence[tuple[float, float]]],
    title: str = "",
    size: tuple[int, int] = (720, 420),
    log_y: bool = True,
) -> np.ndarray:
    """A simple line chart of named ``(x, y)`` series (log10 y by default, for losses that
    span decades), with a legend. Returns RGB uint8. No plotting library needed."""
    w, h = size
    left, right, top, bottom = 60, 150, 30 if title else 12, 30
    img = np.full((h, w, 3), 255, np.uint8)
    pts = {
        k: [(x, y) for x, y in v if np.isfinite(y) and (y > 0 or not log_y)]
        for k, v in series.items()
    }
    pts = {k: v for k, v in pts.items() if v}
    if not pts:
        return img
    ty = (lambda y: np.log10(y)) if log_y else (lambda y: y)
    xs = [x for v in pts.values() for x, _ in v]
    ys = [ty(y) for v in pts.values() for _, y in v]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1e-9)
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-9:
        y0, y1 = y0 - 0.5, y1 + 0.5

    def px(x, y):
        return (
            int(left + (x - x0) / (x1 - x0) * (w - left - right)),
            int(h - bottom - (ty(y) - y0) / (y1 - y0) * (h - top - bottom)),
        )

    font, grey = cv2.FONT_HERSHEY_SIMPLEX, (90, 90, 90)
    cv2.rectangle(img, (left, top), (w - right, h - bottom), (200, 200, 200), 1)
    for frac in (0.0, 0.5, 1.0):
        yv = y0 + frac * (y1 - y0)
        yp = int(h - bottom - frac * (h - top - bottom))
        label = f"{10**yv:.3g}" if log_y else f"{yv:.3g}"
        cv2.putText(img, label, (4, yp + 4), font, 0.38, grey, 1, cv2.LINE_AA)
        xv = x0 + frac * (x1 - x0)
        xp = int(left + frac * (w - left - right))
        cv2.putText(img, f"{xv:.0f}", (xp - 10, h - 10), font, 0.38, grey, 1, cv2.LINE_AA)
    if title:
        cv2.putText(img, title, (left, 20), font, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
    for i, (name, v) in enumerate(pts.items()):
        colour = _PLOT_COLOURS[i % len(_PLOT_COLOURS)]
        poly = np.array([px(x, y) for x, y in v], np.int32)
        cv2.polylines(img, [poly], False, colour, 2, cv2.LINE_AA)
        ly = top + 14 + 18 * i
        cv2.line(img, (w - right + 10, ly - 4), (w - right + 30, ly - 4), colour, 2)
        cv2.putText(img, name, (w - right + 35, ly), font, 0.42, (30, 30, 30), 1, cv2.LINE_AA)
    return img
