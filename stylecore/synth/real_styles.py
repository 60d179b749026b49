"""Looks learned from real photographs that a package ships (scikit-image's ``data``
module), beside the procedural sample styles: a real texture and a real colour photograph,
so benches and the demo model are not judged on synthetic renders alone.

- ``brick``: a photographed brick wall (``skimage.data.brick``, 512 x 512 grey): mortar
  courses, worn stone, uneven light;
- ``hubble``: the Hubble eXtreme Deep Field (``skimage.data.hubble_deep_field``, 872 x 1000
  colour; NASA, public domain): galaxies and stars on black.

Each image is cut into four non-overlapping quadrants, the look's four references, so a
reference held out of the statistics is a genuinely unseen part of the photograph.
"""

from __future__ import annotations

import numpy as np

REAL_LOOKS = {
    "brick": "skimage.data.brick: a photographed brick wall (grey)",
    "hubble": "skimage.data.hubble_deep_field: Hubble eXtreme Deep Field (colour)",
}


def _load(look: str) -> np.ndarray:
    try:
        from skimage import data
    except ImportError as e:
        raise ImportError(
            "the real-photograph looks need scikit-image (pip install scikit-image, or the "
            "project's dev extra: pip install -e '.[dev]')"
        ) from e
    if look == "brick":
        img = data.brick()
    elif look == "hubble":
        img = data.hubble_deep_field()
    else:
        raise ValueError(f"unknown real look {look!r}; known: {sorted(REAL_LOOKS)}")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


def real_style_refs(look: str) -> list[np.ndarray]:
    """The look's four references: the photograph's quadrants, uint8 RGB ``(H, W, 3)``."""
    img = _load(look)
    h, w = img.shape[0] // 2, img.shape[1] // 2
    return [np.ascontiguousarray(img[y : y + h, x : x + w]) for y in (0, h) for x in (0, w)]
