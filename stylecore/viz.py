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
