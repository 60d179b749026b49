"""The sample catalogue with ground truth, written through the storage layer (what
`restyle sample-catalogue` writes).

Layout of OUT (a local path or any URI the storage layer accepts):

    catalogue.csv            image_id, uri, category, width, height, mask_uri, format,
                             background, tags   (uris relative to this file)
    images/<image_id>.jpg|png   product photos (RGBA PNG for cut-outs)
    masks/<image_id>.png        ground truth, 0/255, product only (shadow is background)
    styles/<style_id>/ref-N.jpg style references; styles/styles.csv lists them
    contact_sheet.png        every photo with its mask outline, then the style sets
    sample.json              seed, count and the generator version
"""

from __future__ import annotations

import csv
import io
import json
import logging
from dataclasses import asdict, dataclass

from pipelines import storage
from stylecore.io.codec import encode_image
from stylecore.synth.catalogue import plan_item, plan_styles, render_item, render_style
from stylecore.synth.real_styles import REAL_LOOKS, real_style_refs
from stylecore.viz import contact_sheet, outline, stack_sheets

log = logging.getLogger(__name__)

GENERATOR_VERSION = "1"


@dataclass(frozen=True)
class SampleCatalogueConfig:
    count: int = 24
    seed: int = 0
    contact_sheet: bool = True
    real_styles: bool = False  # also write the looks from real photographs (scikit-image)

    def __post_init__(self) -> None:
        if not 1 <= self.count <= 100_000:
            raise ValueError(f"count={self.count}: must be between 1 and 100000")
        if self.seed < 0:
            raise ValueError(f"seed={self.seed}: must be >= 0")


def write_sample_catalogue(out: str, cfg: SampleCatalogueConfig) -> dict:
    """Render and write everything; returns counts."""
    rows, thumbs = _write_photos(out, cfg)
    _write_csv(storage.join(out, "catalogue.csv"), rows)
    style_rows, style_thumbs = _write_styles(out, cfg)
    _write_csv(storage.join(out, "styles", "styles.csv"), style_rows)
    meta = {
        "generator_version": GENERATOR_VERSION,
        **asdict(cfg),
        "images": len(rows),
        "style_refs": len(style_rows),
        "style_sets": sorted(style_thumbs),
        "mask_convention": "product only; the contact shadow is background",
    }
    storage.write_bytes(
        storage.join(out, "sample.json"),
        (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode(),
    )
    if cfg.contact_sheet:
        _write_contact_sheet(out, cfg.seed, thumbs, style_thumbs)
    return {"images": len(rows), "style_refs": len(style_rows)}


def _photo_format(item) -> str:
    if item.kind == "rgba":
        return "png-rgba"
    return "png" if item.kind == "png" else f"jpg-q{item.quality}"


def _write_photos(out: str, cfg: SampleCatalogueConfig) -> tuple[list[dict], list]:
    """Every product photo and its mask; the table's rows and (with a contact sheet) the
    photos' thumbnails with their mask outlines."""
    rows = []
    thumbs = []
    for i in range(cfg.count):
        item = plan_item(i)
        shot = render_item(item, cfg.seed)
        if item.kind == "rgba":
            data = encode_image(shot.cutout_rgba(), "png")
        elif item.kind == "png":
            data = encode_image(shot.image, "png")
        else:
            data = encode_image(shot.image, "jpg", item.quality)
        uri = f"images/{item.image_id}.{item.extension}"
        mask_uri = f"masks/{item.image_id}.png"
        storage.write_bytes(storage.join(out, uri), data)
        storage.write_bytes(storage.join(out, mask_uri), encode_image(shot.mask, "png"))
        fmt = _photo_format(item)
        rows.append(
            {
                "image_id": item.image_id,
                "uri": uri,
                "category": item.category,
                "width": item.width,
                "height": item.height,
                "mask_uri": mask_uri,
                "format": fmt,
                "background": item.background,
                "tags": ";".join(shot.tags),
            }
        )
        if cfg.contact_sheet:
            shown = shot.cutout_rgba() if item.kind == "rgba" else shot.image
            thumbs.append((outline(shown, shot.mask), f"{item.image_id} {fmt}"))
        log.info(
            "photo %d/%d %s %dx%d %s", i + 1, cfg.count, item.image_id, item.width, item.height, fmt
        )
    return rows, thumbs


def _write_styles(out: str, cfg: SampleCatalogueConfig) -> tuple[list[dict], dict[str, list]]:
    """Every style reference (the procedural sets, and the real looks when asked for); the
    styles table's rows and each set's thumbnails."""
    styles = [(r.style_id, r.name, r.look, render_style(r, cfg.seed)) for r in plan_styles()]
    if cfg.real_styles:
        for look, source in REAL_LOOKS.items():
            for k, img in enumerate(real_style_refs(look)):
                styles.append((look, f"ref-{k + 1}", source, img))
    style_rows = []
    style_thumbs: dict[str, list] = {}
    for style_id, name, look, img in styles:
        uri = f"styles/{style_id}/{name}.jpg"
        storage.write_bytes(storage.join(out, uri), encode_image(img, "jpg", 92))
        style_rows.append(
            {
                "style_id": style_id,
                "uri": uri,
                "look": look,
                "width": img.shape[1],
                "height": img.shape[0],
            }
        )
        style_thumbs.setdefault(style_id, []).append((img, f"{style_id}/{name}"))
        log.info("style reference %s/%s", style_id, name)
    return style_rows, style_thumbs


def _write_csv(uri: str, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    storage.write_bytes(uri, buf.getvalue().encode())


def _write_contact_sheet(out: str, seed: int, thumbs: list, style_thumbs: dict) -> None:
    sheets = [
        contact_sheet(
            thumbs,
            tile=200,
            cols=6,
            title=f"sample catalogue seed={seed}: photos, mask outline",
        )
    ]
    for style_id, tiles in style_thumbs.items():
        sheets.append(contact_sheet(tiles, tile=200, cols=6, title=f"style set: {style_id}"))
    storage.write_bytes(
        storage.join(out, "contact_sheet.png"), encode_image(stack_sheets(sheets), "png")
    )
