"""The sample catalogue's plan: which photos and style references exist, deterministically.

Item ``i`` depends only on ``(seed, i)``, so a larger ``count`` extends a smaller one and
never changes its first items. The plan cycles through categories, backgrounds, sizes,
aspect ratios, formats and the hard cases on different periods, so that every 24
consecutive items cover all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from stylecore.synth.products import BACKGROUNDS, CATEGORIES, ProductShot, ShotSpec, render_shot
from stylecore.synth.styles import STYLE_LOOKS

FileKind = Literal["jpg", "png", "rgba"]

LONG_SIDES: tuple[int, ...] = (384, 512, 640, 768, 1024, 1280, 1600, 2048)
ASPECTS: tuple[tuple[int, int], ...] = ((1, 1), (4, 3), (3, 4))  # width : height
FORMATS: tuple[tuple[FileKind, int], ...] = (
    ("jpg", 92),
    ("png", 0),
    ("jpg", 75),
    ("rgba", 0),
    ("jpg", 85),
    ("jpg", 62),
)


@dataclass(frozen=True)
class CatalogueItem:
    index: int
    image_id: str
    category: str
    width: int
    height: int
    kind: FileKind
    quality: int
    background: str
    light_product: bool
    touch_border: bool

    @property
    def extension(self) -> str:
        return "jpg" if self.kind == "jpg" else "png"


def plan_item(index: int) -> CatalogueItem:
    """The ``index``-th catalogue item (independent of the seed: the seed drives pixels)."""
    if index < 0:
        raise ValueError(f"index {index}: must be >= 0")
    category = CATEGORIES[index % len(CATEGORIES)]
    light = index % 4 == 1
    background = "white" if light else BACKGROUNDS[(index + index // 7) % len(BACKGROUNDS)]
    long_side = LONG_SIDES[(index * 3) % len(LONG_SIDES)]
    aw, ah = ASPECTS[(2 * index + index // 3) % len(ASPECTS)]
    if aw >= ah:
        width, height = long_side, round(long_side * ah / aw)
    else:
        width, height = round(long_side * aw / ah), long_side
    kind, quality = FORMATS[index % len(FORMATS)]
    return CatalogueItem(
        index=index,
        image_id=f"{index:04d}-{category}",
        category=category,
        width=width,
        height=height,
        kind=kind,
        quality=quality,
        background=background,
        light_product=light,
        touch_border=index % 6 == 4,
    )


def render_item(item: CatalogueItem, seed: int) -> ProductShot:
    """Render ``item``'s photo and ground truth for ``seed``."""
    rng = np.random.default_rng([seed, item.index])
    spec = ShotSpec(
        category=item.category,
        width=item.width,
        height=item.height,
        background=item.background,
        light_product=item.light_product,
        touch_border=item.touch_border,
    )
    return render_shot(spec, rng)


@dataclass(frozen=True)
class StyleRef:
    style_id: str
    look: str
    variant: int
    width: int
    height: int

    @property
    def name(self) -> str:
        return f"ref-{self.variant + 1}"


# style_id -> (look, number of references). 3 to 5 references per set.
STYLE_SETS: dict[str, tuple[str, int]] = {
    "marble": ("marble", 4),
    "watercolour": ("watercolour", 3),
    "wood": ("wood", 4),
    "geometric": ("geometric", 5),
    "autumn-bokeh": ("bokeh", 4),
}
_STYLE_SIZES = ((768, 512), (640, 640), (1024, 768), (576, 768), (896, 640))


def plan_styles() -> list[StyleRef]:
    refs = []
    for s, (style_id, (look, n)) in enumerate(STYLE_SETS.items()):
        for v in range(n):
            w, h = _STYLE_SIZES[(s + v) % len(_STYLE_SIZES)]
            refs.append(StyleRef(style_id, look, v, w, h))
    return refs


def render_style(ref: StyleRef, seed: int) -> np.ndarray:
    """Render one style reference: ``(H, W, 3)`` uint8 RGB."""
    salt = sum(ord(c) for c in ref.style_id)
    rng = np.random.default_rng([seed, 1_000_003, salt, ref.variant])
    return STYLE_LOOKS[ref.look](ref.height, ref.width, rng, ref.variant)
