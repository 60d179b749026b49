"""Reading image sets for the segmentation jobs: a folder (or prefix) of images with an
optional folder of masks matched by file stem, or a catalogue table (CSV / Parquet) with
``image_id, uri`` and optional ``mask_uri, category`` columns. Relative URIs in a table
resolve against the table's own location."""

from __future__ import annotations

import csv
import io
import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from pipelines import storage
from stylecore.io.codec import decode_image, decode_mask

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp")
TABLE_EXTENSIONS = (".csv", ".parquet")


@dataclass(frozen=True)
class ImageRef:
    image_id: str
    uri: str
    mask_uri: str | None = None
    category: str = ""


def file_stem(path: str) -> str:
    """A file name without its folder and extension: the image id of a listed file."""
    return os.path.splitext(posixpath.basename(path.rstrip("/")))[0]


def list_images(uri: str) -> list[str]:
    """Image files directly under ``uri`` (a folder or prefix), sorted."""
    proto, _ = storage.split_uri(uri)
    fs, root = storage.fresh_fs(uri)
    if not fs.isdir(root):
        raise FileNotFoundError(f"{uri}: not a folder or prefix")
    names = sorted(p for p in fs.ls(root, detail=False) if p.lower().endswith(IMAGE_EXTENSIONS))
    if proto == "file":
        return names
    return [f"{proto}://{p}" for p in names]


def read_table(uri: str) -> list[dict]:
    """Rows of a CSV or Parquet catalogue table, as dicts of strings."""
    data = storage.read_bytes(uri)
    if uri.lower().endswith(".parquet"):
        import pyarrow.parquet as pq

        return [
            {k: ("" if v is None else str(v)) for k, v in row.items()}
            for row in pq.read_table(io.BytesIO(data)).to_pylist()
        ]
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def refs_from(images: str, masks: str | None = None) -> list[ImageRef]:
    """Image references from a table or a folder (+ optional masks folder)."""
    if images.lower().endswith(TABLE_EXTENSIONS):
        base = storage.dirname(images)
        rows = read_table(images)
        if rows and not {"image_id", "uri"} <= set(rows[0]):
            raise ValueError(f"{images}: a catalogue table needs image_id and uri columns")
        return [
            ImageRef(
                r["image_id"],
                storage.resolve(base, r["uri"]),
                storage.resolve(base, r["mask_uri"]) if r.get("mask_uri") else None,
                r.get("category", ""),
            )
            for r in rows
        ]
    files = list_images(images)
    mask_by_stem = {file_stem(m): m for m in list_images(masks)} if masks else {}
    refs = []
    for f in files:
        stem = file_stem(f)
        if masks and stem not in mask_by_stem:
            raise FileNotFoundError(f"no mask for image {stem!r} in {masks}")
        refs.append(ImageRef(stem, f, mask_by_stem.get(stem)))
    return refs


def load(ref: ImageRef) -> tuple[np.ndarray, np.ndarray | None]:
    """Decode an image (RGB or RGBA uint8) and its mask (uint8) if it has one."""
    img = decode_image(storage.read_bytes(ref.uri))
    mask = decode_mask(storage.read_bytes(ref.mask_uri)) if ref.mask_uri else None
    return img, mask


def iter_loaded(refs: list[ImageRef]) -> Iterator[tuple[ImageRef, np.ndarray, np.ndarray | None]]:
    for ref in refs:
        img, mask = load(ref)
        yield ref, img, mask
