"""`restyle segment` as a call: each photo's product mask and overlay preview written through
the storage layer, with the mask's publish-safety verdict."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from pipelines import datasets, storage
from pipelines.models import load_segmenter
from stylecore.io.codec import encode_image
from stylecore.segmentation import SegmenterConfig
from stylecore.segmentation.integrity import Verdict, screen
from stylecore.viz import outline


@dataclass(frozen=True)
class Segmented:
    """One photo's outcome: its id, the mask (coverage, confidence, flags, method), the
    time segmentation took and the publish-safety verdict."""

    image_id: str
    mask: object
    ms: float
    safety: Verdict


def segment_images(
    uris: list[str], out: str, cfg: SegmenterConfig, model: str | None
) -> Iterator[Segmented]:
    """Segment each photo of ``uris`` with the configured segmenter (the U-Net from
    ``model``, default the demo model) and write ``<id>.mask.png`` (0-255 soft alpha) and
    ``<id>.overlay.jpg`` (the background dimmed, the outline drawn) under ``out``; yields
    each photo's outcome once its files are written."""
    seg = load_segmenter(cfg, model)
    for uri in uris:
        ref = datasets.ImageRef(datasets.file_stem(uri), uri)
        img, _ = datasets.load(ref)
        t = time.perf_counter()
        m = seg.segment(img)
        ms = (time.perf_counter() - t) * 1000
        alpha8 = np.clip(m.alpha * 255 + 0.5, 0, 255).astype(np.uint8)
        rgb = img[..., :3]
        dim = (rgb * (0.35 + 0.65 * m.alpha[..., None])).astype(np.uint8)
        storage.write_bytes(
            storage.join(out, f"{ref.image_id}.mask.png"), encode_image(alpha8, "png")
        )
        storage.write_bytes(
            storage.join(out, f"{ref.image_id}.overlay.jpg"),
            encode_image(outline(dim, m.binary), "jpg", 90),
        )
        yield Segmented(ref.image_id, m, ms, screen(img, m, cfg.integrity))
