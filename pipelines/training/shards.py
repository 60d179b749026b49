"""Each rank's photos: read from object storage and decoded on Ray Data, a fixed part per rank."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from pipelines import datasets
from pipelines.style_data import CONTENT_SIDE

log = logging.getLogger(__name__)


def load_content_row(row: dict, long_side: int) -> dict:
    from pipelines.style_data import content_item

    ref = datasets.ImageRef(row["image_id"], row["uri"], row["mask_uri"] or None)
    img, mask = datasets.load(ref)
    item = content_item(img, mask, long_side)
    h, w = item.rgb.shape[:2]
    return {
        "image_id": row["image_id"],
        "h": h,
        "w": w,
        "rgb": item.rgb.tobytes(),
        "mask": item.mask.astype(np.float32).tobytes(),
    }


@dataclass(frozen=True)
class RankedImages:
    """Photos (``image_id, uri, mask_uri`` rows) to decode on Ray Data with ``load``, split
    among ranks by a fixed rule: sorted by image id, rank ``r`` of ``world`` gets rows
    ``r, r + world, ...``. Each rank reads only its own dataset (``rank_rows``)."""

    rows: tuple[dict, ...]
    load: object  # (row, long_side) -> dict with image_id
    long_side: int

    @classmethod
    def of(cls, refs, load, long_side: int, what: str) -> RankedImages:
        if not refs:
            raise ValueError(f"--images {what}: no images")
        rows = sorted(
            ({"image_id": r.image_id, "uri": r.uri, "mask_uri": r.mask_uri or ""} for r in refs),
            key=lambda r: r["image_id"],
        )
        return cls(tuple(rows), load, long_side)

    def datasets(self, world: int) -> dict:
        """One Ray Data dataset per rank (``images_<rank>``), read lazily: a rank's photos
        are decoded only when that rank iterates its dataset."""
        import ray

        if len(self.rows) < world:
            raise ValueError(
                f"{len(self.rows)} photos for {world} workers: every worker needs at least "
                "one; use fewer workers"
            )
        return {
            f"images_{r}": ray.data.from_items(list(self.rows[r::world])).map(
                self.load, fn_kwargs={"long_side": self.long_side}, num_cpus=0.25
            )
            for r in range(world)
        }


def rank_rows(rank: int) -> list[dict]:
    """This rank's decoded photos, in image-id order (inside a Ray Train worker)."""
    import ray.train

    rows = list(ray.train.get_dataset_shard(f"images_{rank}").iter_rows())
    return sorted(rows, key=lambda r: r["image_id"])


def content_dataset(content_uri: str) -> RankedImages:
    """The catalogue's photos and masks at ``CONTENT_SIDE``, for the style model."""
    return RankedImages.of(
        datasets.refs_from(content_uri), load_content_row, CONTENT_SIDE, content_uri
    )


def items_from_rows(rows) -> list:
    from stylecore.training.data import ContentItem

    items = []
    for r in rows:
        h, w = int(r["h"]), int(r["w"])
        rgb = np.frombuffer(r["rgb"], np.uint8).reshape(h, w, 3).copy()
        mask = np.frombuffer(r["mask"], np.float32).reshape(h, w).copy()
        items.append(ContentItem(rgb, mask))
    return items


def load_seg_row(row: dict, long_side: int) -> dict:
    from stylecore.segmentation.data import prepare_example

    ref = datasets.ImageRef(row["image_id"], row["uri"], row["mask_uri"] or None)
    img, mask = datasets.load(ref)
    ex = prepare_example(img, mask, long_side)
    h, w = ex.alpha.shape
    return {
        "image_id": row["image_id"],
        "h": h,
        "w": w,
        "rgb": ex.rgb.tobytes(),
        "alpha": ex.alpha.astype(np.float32).tobytes(),
        "has_backdrop": bool(ex.has_backdrop),
    }


def segmenter_dataset(images: str, masks: str | None, long_side: int) -> RankedImages:
    """Image and mask pairs (or cut-outs) at ``long_side``, for the U-Net."""
    return RankedImages.of(datasets.refs_from(images, masks), load_seg_row, long_side, images)
