"""`restyle eval-style` as calls: restyle whole catalogue photos with a model and score them
(``stylecore.quality.style_eval``), then write the before/after sheet and the scores."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pipelines import datasets, storage
from pipelines.models import load_style_model
from pipelines.style_data import CONTENT_SIDE, STYLE_SIDE, load_content, load_style_sets
from stylecore.io.codec import encode_image
from stylecore.quality.style_eval import evaluate_style
from stylecore.viz import contact_sheet

SHEET = "before_after.png"
SCORES = "scores.json"


@dataclass(frozen=True)
class StyleEval:
    """The scores per photo (``rows``) and per style (``summary``: each measure and its
    calibration), the sheet's tiles, and the model's version."""

    rows: list
    summary: dict
    tiles: list
    version: str


def evaluate(model_uri: str, images: str, references: list[str], limit: int) -> StyleEval:
    """Restyle the first ``limit`` photos of ``images`` with the model at ``model_uri`` and
    score them against one folder of ``references`` per look."""
    model = load_style_model(model_uri)
    ids, refs, _ = load_style_sets(references, STYLE_SIDE)
    content = load_content(images, CONTENT_SIDE, limit=limit)
    names = [r.image_id for r in datasets.refs_from(images)][:limit]
    rows, summary, tiles = evaluate_style(model, content, names, ids, refs)
    return StyleEval(rows, summary, tiles, model.version)


def write_eval(out: str, ev: StyleEval) -> str:
    """Write ``before_after.png`` and ``scores.json`` under ``out``; returns the sheet's URI."""
    cols = len(ev.tiles) // (len(ev.summary) + 1)
    sheet = contact_sheet(ev.tiles, tile=200, cols=cols, title=f"restyled whole: {ev.version}")
    storage.write_bytes(storage.join(out, SHEET), encode_image(sheet, "png"))
    storage.write_bytes(
        storage.join(out, SCORES),
        json.dumps({"summary": ev.summary, "images": ev.rows}, indent=2).encode(),
    )
    return storage.join(out, SHEET)
