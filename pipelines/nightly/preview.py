"""The nightly's own stages, run in this process on a few photos: what `restyle apply` runs.

A preview has to be what the nightly would publish, byte for byte. So nothing here
restyles: the rows go through the same ``DecodeStage`` (``decode_untrusted``: sniffed
format, EXIF orientation, ICC to sRGB, pixel limits), ``SegmentStage`` (publish safety),
``TransferStage`` and ``CheckStage`` as on Ray, with the same resolved ``RunContext``, and
the result is encoded as the writer encodes it. Image ids are the nightly's too (see
``pipelines.nightly.plan.list_catalogue``), and the new background is seeded by the image id.

`restyle apply` runs ``preview_styles`` (its looks), ``start_preview`` (every check before
any work) and ``Preview.restyle`` per photo, which writes the image, its mask and its JSON
record.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import posixpath
from collections import Counter
from dataclasses import dataclass

from pipelines import storage
from pipelines.models import REPO_ROOT, load_style_model
from pipelines.nightly.manifest import held_back_reason
from pipelines.nightly.plan import CATALOGUE_EXTENSIONS, list_catalogue
from pipelines.nightly.rows import flag_list, new_row, reason_list
from pipelines.nightly.runconfig import NightlyConfig, RunContext, StylesFile, load_styles
from pipelines.nightly.stages.check import CheckStage
from pipelines.nightly.stages.decode import DecodeContext, DecodeStage
from pipelines.nightly.stages.segment import SegmentStage
from pipelines.nightly.stages.transfer import TransferStage
from pipelines.nightly.stages.write import mask_png
from stylecore.config import ConfigError
from stylecore.io.codec import encode_image

DEFAULT_STYLES = os.path.join(REPO_ROOT, "configs", "styles-demo.yaml")


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


def preview_styles(
    styles_file: str | None,
    model: str | None,
    region: str | None = None,
    alpha: float | None = None,
    preserve_colour: bool | None = None,
) -> StylesFile:
    """The looks `restyle apply` may use: ``styles_file``; or every look of ``model`` (also
    without either when ``DEFAULT_STYLES`` is missing); else ``DEFAULT_STYLES``. ``region``,
    ``alpha`` and ``preserve_colour``, where given, are folded into every entry."""
    if styles_file and model:
        raise ConfigError("give --styles or --model, not both")
    if model or not (styles_file or storage.exists(DEFAULT_STYLES)):
        looks = load_style_model(model).looks
        styles = styles_for_model(model or "", looks, looks[0])
    else:
        styles = load_styles(styles_file or DEFAULT_STYLES)
    changes = {
        k: v
        for k, v in (("region", region), ("alpha", alpha), ("preserve_colour", preserve_colour))
        if v is not None
    }
    if not changes:
        return styles
    entries = {n: dataclasses.replace(e, **changes) for n, e in styles.styles.items()}
    return dataclasses.replace(styles, styles=entries)


@dataclass(frozen=True)
class Previewed:
    """One photo's outcome: failed (``error``: the message naming it), or written to
    ``output`` with its mask and its ``record`` (ok, or held back / rejected)."""

    style_id: str
    status: str
    error: str | None = None
    output: str = ""
    record: dict | None = None


class Preview:
    """`restyle apply`'s photos (``items``; ``problems``: inputs that gave none), their
    looks (``style``, else the styles file's pick), and the stages that restyle them."""

    def __init__(
        self,
        ctx: RunContext,
        styles: StylesFile,
        items: list[Item],
        problems: list[str],
        style: str | None,
    ):
        self.ctx, self.styles, self.style = ctx, styles, style
        self.items, self.problems = items, problems
        self.stages = LocalStages(ctx)

    def restyle(self, item: Item) -> Previewed:
        """Restyle ``item`` with its look (the one asked for, else the styles file's pick)
        and write ``<id>.<style>.<ext>``, ``.mask.png`` and ``.json`` under the output root,
        or under ``rejected/`` when it was held back or rejected."""
        style_id = self.style or self.styles.style_for("", item.category)
        row = self.stages.run(item, style_id)
        if row["status"] == "failed":
            return Previewed(style_id, "failed", error=f"{item.uri}: {row['error_message']}")
        out = self.ctx.out
        base = out if row["status"] == "ok" else storage.join(out, "rejected")
        stem = f"{storage.safe_key(item.image_id)}.{style_id}"
        out_uri = storage.join(base, f"{stem}.{self.ctx.output.format}")
        mask_uri = storage.join(base, f"{stem}.mask.png")
        storage.write_bytes(mask_uri, mask_png(row["alpha"]))
        storage.write_bytes(out_uri, self.stages.encode(row))
        rec = preview_record(row, out_uri, mask_uri)
        storage.write_bytes(storage.join(base, f"{stem}.json"), json.dumps(rec, indent=2).encode())
        return Previewed(style_id, row["status"], output=out_uri, record=rec)


def start_preview(
    cfg: NightlyConfig, styles: StylesFile, out: str, inputs: list[str], style: str | None
) -> Preview:
    """Every check before any work: ``style`` is a look of ``styles``, ``out`` is writable,
    the inputs list (``list_inputs``), and every look exists in its model (the one asked
    for, when the generator has to draw it, is trained)."""
    if style and style not in styles.styles:
        known = ", ".join(sorted(styles.styles))
        raise ConfigError(f"--style {style!r}: not in the styles file; known: {known}")
    storage.check_writable(out)  # before any work
    items, problems = list_inputs(inputs)
    ctx = RunContext.create("apply", out, styles, cfg)
    models = {}
    for s in ctx.styles.values():  # every look must exist in its model, now
        if s.model_uri not in models:
            models[s.model_uri] = load_style_model(s.model_uri)
        models[s.model_uri].check_look(s.transfer.style)
        if style == s.name and not s.transfer.synthesises:
            models[s.model_uri].style_index(s.transfer.style)  # the generator needs training
    return Preview(ctx, styles, items, problems, style)


def preview_record(row: dict, out_uri: str, mask_uri: str) -> dict:
    """The JSON record `restyle apply` writes beside a photo's output: its source and
    output, look, model version and config hash, verdict and reasons, scores (finite
    ones), mask measures, size and stage timings."""
    scores = {
        k: v
        for k, v in json.loads(row["scores_json"] or "{}").items()
        if v is None or math.isfinite(v)
    }
    reasons = reason_list(row["reasons"])
    return {
        "image_id": row["image_id"],
        "source": row["source_uri"],
        "output": out_uri,
        "mask": mask_uri,
        "style": row["style_id"],
        "model_version": row["model_version"],
        "config_hash": row["config_hash"],
        "status": row["status"],
        "passed": bool(row["passed"]),
        "held_back": held_back_reason(reasons) if row["status"] == "rejected" else None,
        "reasons": reasons,
        "scores": scores,
        "mask_coverage": row["mask_coverage"],
        "mask_confidence": row["mask_confidence"],
        "mask_flags": flag_list(row["mask_flags"]),
        "source_format": row["source_format"],
        "width": row["width"],
        "height": row["height"],
        "timings_s": {
            s: row[f"t_{s}"]
            for s in ("decode", "segment", "transfer", "check")
            if math.isfinite(row[f"t_{s}"])
        },
    }
