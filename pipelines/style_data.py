"""Loading training and evaluation data for the style model through the storage layer."""

from __future__ import annotations

import hashlib
import posixpath

import cv2
import numpy as np

from pipelines import datasets, storage
from stylecore.segmentation import EdgeSegmenter
from stylecore.segmentation.base import working_size
from stylecore.training.data import ContentItem

# The sizes training reads at: catalogue photos (content) and style references, long side.
CONTENT_SIDE, STYLE_SIDE = 256, 384


def _resize(img: np.ndarray, long_side: int) -> np.ndarray:
    h, w = working_size(*img.shape[:2], long_side)
    return img if (h, w) == img.shape[:2] else cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)


def content_item(
    img: np.ndarray, mask: np.ndarray | None, long_side: int, seg: EdgeSegmenter | None = None
) -> ContentItem:
    """One catalogue photo with its product mask, scaled to ``long_side``. The mask is the
    given one, else the RGBA alpha, else the edge segmenter's."""
    if img.shape[2] == 4:
        a = img[..., 3:4].astype(np.float32) / 255.0
        rgb = (img[..., :3] * a + 255 * (1 - a) + 0.5).astype(np.uint8)
        m = a[..., 0]
    else:
        rgb = img
        if mask is not None:
            m = mask.astype(np.float32) / 255.0
        else:
            m = (seg or EdgeSegmenter()).segment(img).alpha
    return ContentItem(_resize(rgb, long_side), _resize(m, long_side))


def load_content(uri: str, long_side: int, limit: int | None = None) -> list[ContentItem]:
    """Catalogue photos with product masks, scaled to ``long_side``. Masks come from the
    table's ``mask_uri`` when given, else from an RGBA alpha, else from the edge segmenter."""
    refs = datasets.refs_from(uri)[:limit]
    seg = EdgeSegmenter()
    return [content_item(img, mask, long_side, seg) for _, img, mask in datasets.iter_loaded(refs)]


class BadReferenceError(ValueError):
    """A style folder's references cannot be used (too few, unreadable, too small)."""


def load_style_sets(uris: list[str], long_side: int, min_refs: int = 1, min_side: int = 0):
    """Each folder is one style; its name is the style id. Returns
    ``(style_ids, [(style_index, image)], {style_id: [sha256 of each file]})``.

    Every file is checked before any is used: a folder with fewer than ``min_refs`` images,
    a file that does not decode, or an image whose short side is under ``min_side`` px
    raises ``ValueError`` naming the folder or file."""
    ids, refs, hashes = [], [], {}
    for k, uri in enumerate(uris):
        sid = posixpath.basename(uri.rstrip("/")) or f"style{k}"
        files = datasets.list_images(uri)
        if not files:
            raise FileNotFoundError(f"style folder {uri}: no images")
        if len(files) < min_refs:
            raise BadReferenceError(
                f"style folder {uri}: {len(files)} reference image(s); a look needs at "
                f"least {min_refs} (3-10 work best)"
            )
        ids.append(sid)
        hashes[sid] = []
        for f in files:
            data = storage.read_bytes(f)
            hashes[sid].append(hashlib.sha256(data).hexdigest())
            try:
                img = datasets.decode_image(data)[..., :3]
            except Exception as e:
                raise BadReferenceError(f"style reference {f}: cannot be decoded ({e})") from e
            if min(img.shape[:2]) < min_side:
                raise BadReferenceError(
                    f"style reference {f}: {img.shape[1]}x{img.shape[0]} px; references "
                    f"must be at least {min_side} px on each side"
                )
            refs.append((k, _resize(np.ascontiguousarray(img), long_side)))
    return ids, refs, hashes
