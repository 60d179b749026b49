"""The nightly's own stages, run in this process on a few photos: what `restyle apply` runs.

A preview has to be what the nightly would publish, byte for byte. So nothing here
restyles: the rows go through the same ``DecodeStage`` (``decode_untrusted``: sniffed
format, EXIF orientation, ICC to sRGB, pixel limits), ``SegmentStage`` (publish safety),
``TransferStage`` and ``CheckStage`` as on Ray, with the same resolved ``RunContext``, and
the result is encoded as the writer encodes it. Image ids are the nightly's too (see
``pipelines.nightly.plan.list_catalogue``), and the new background is seeded by the image id.
"""

from __future__ import annotations

import os
import posixpath
from collections import Counter
from dataclasses import dataclass

from pipelines import storage
from pipelines.nightly.plan import CATALOGUE_EXTENSIONS, list_catalogue
from pipelines.nightly.rows import new_row
from pipelines.nightly.runconfig import RunContext, StylesFile
from pipelines.nightly.stages.check import CheckStage
from pipelines.nightly.stages.decode import DecodeContext, DecodeStage
from pipelines.nightly.stages.segment import SegmentStage
from pipelines.nightly.stages.transfer import TransferStage
from stylecore.io.codec import encode_image


@dataclass(frozen=True)
class Item:
    image_id: str
    uri: str
    category: str = ""


def list_inputs(paths: list[str]) -> tuple[list[Item], list[str]]:
    """The photos named by ``paths`` (files, or folders/prefixes listed as the nightly
    lists a catalogue), with the nightly's image ids, and a message per folder with no
    images. A file's id is its name without the extension, or with it where two inputs
    would share an id. A path that does not exist is still an item: reading it fails,
    and that row says so. Raises ``ValueError`` when ids still collide."""
    items: list[Item] = []
    problems: list[str] = []
    for p in paths:
        if storage.is_dir(p):
            found = list_catalogue(p)
            if not found:
                problems.append(f"{p}: a folder with no images ({' '.join(CATALOGUE_EXTENSIONS)})")
            items += [Item(it["image_id"], it["uri"], it["category"]) for it in found]
            continue
        name = posixpath.basename(p.rstrip("/"))
        items.append(Item(os.path.splitext(name)[0], p))
    stems = Counter(i.image_id for i in items)
    out = []
    for it in items:
        if stems[it.image_id] > 1 and "/" not in it.image_id:
            ext = os.path.splitext(it.uri)[1]
            it = Item(it.image_id + ext, it.uri, it.category)
        out.append(it)
    dup = [k for k, n in Counter(i.image_id for i in out).items() if n > 1]
    if dup:
        raise ValueError(
            f"two inputs would write the same output: {', '.join(dup[:5])}; "
            "restyle them in separate runs or give the files different names"
        )
    return out, problems


class LocalStages:
    """Decode, segment, transfer and check for one photo at a time, in this process."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        self.decode = DecodeStage(DecodeContext.of(ctx), incremental=False)
        self.stages = [SegmentStage(ctx), TransferStage(ctx), CheckStage(ctx)]

    def run(self, item: Item, style_id: str) -> dict:
        """One finished row: status ok, rejected (with ``output``: the image to keep for
        review) or failed (``error_type``/``error_message``; never raises for bad input)."""
        style = self.ctx.styles.get(style_id)
        row = new_row(
            run_id=self.ctx.run_id,
            image_id=item.image_id,
            source_uri=item.uri,
            category=item.category,
            style_id=style_id,
            model_uri=style.model_uri if style else "",
            model_version=style.model_version if style else "",
            config_hash=style.config_hash if style else "",
            output_uri=item.image_id,  # decode refuses a row with no key; apply names files itself
        )
        rows = self.decode.run_rows([row])
        for stage in self.stages:
            rows = stage.run_rows(rows)
        return rows[0]

    def encode(self, row: dict) -> bytes:
        """The output's bytes, exactly as the nightly's writer encodes them."""
        return encode_image(row["output"], self.ctx.output.format, self.ctx.output.quality)


def styles_for_model(model: str, looks: list[str], default: str) -> StylesFile:
    """A styles file with every look of ``model`` (its own defaults), for `apply --model`
    without ``--styles``."""
    from pipelines.nightly.runconfig import StyleEntry

    return StylesFile(styles={k: StyleEntry(model=model) for k in looks}, default=default)
