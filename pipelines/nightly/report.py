"""``report.html``: what a merchandiser opens in the morning. The run's counts and
consistency, a before/after sheet of published images with their scores, every rejected
image (up to a limit) with the gate's reasons, and every failure with its error. Each image
shows its product mask over the photo (backdrop dimmed, outline in red), so a reviewer sees
what was kept as product and why a photo was held back. Thumbnails are embedded, so the file
is self-contained wherever it is stored."""

from __future__ import annotations

import base64
import html
import json
import logging

import cv2
import numpy as np

from pipelines import storage
from pipelines.nightly import manifest
from stylecore.io.codec import decode_untrusted

log = logging.getLogger(__name__)

MAX_FAILURES_LISTED = 500
MAX_REJECTED_SHOWN = 200
_COLS = [
    "image_id",
    "status",
    "style_id",
    "source_uri",
    "output_uri",
    "error_type",
    "error_message",
    "reasons",
    "product_ssim",
    "judge",
    "colour_ratio",
    "mask_coverage",
    "mask_uri",
]


def _thumb(uri: str, side: int = 200) -> str:
    """A base64 JPEG data URI of the image at ``uri``, or "" when it cannot be read."""
    try:
        img = decode_untrusted(storage.read_bytes(uri)).image[..., :3]
    except Exception as e:
        log.warning("report: no thumbnail for %s: %s", storage.redact(uri), type(e).__name__)
        return ""
    h, w = img.shape[:2]
    s = side / max(h, w)
    small = cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), cv2.INTER_AREA)
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80]
    )
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode() if ok else ""


def _overlay(source_uri: str, mask_uri: str, side: int = 200) -> str:
    """The photo with its mask: backdrop dimmed, outline in red, as a data URI."""
    if not mask_uri:
        return ""
    try:
        img = decode_untrusted(storage.read_bytes(source_uri)).image[..., :3]
        mask = decode_untrusted(storage.read_bytes(mask_uri)).image
    except Exception as e:
        what = storage.redact(source_uri)
        log.warning("report: no mask overlay for %s: %s", what, type(e).__name__)
        return ""
    h, w = img.shape[:2]
    s = side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    small = cv2.resize(img, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    m = cv2.resize(mask[..., 0] if mask.ndim == 3 else mask, size, interpolation=cv2.INTER_AREA)
    a = (m.astype(np.float32) / 255.0)[..., None]
    shown = (small * (0.3 + 0.7 * a)).astype(np.uint8)
    binary = (m >= 128).astype(np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(shown, contours, -1, (255, 0, 0), 1)
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(shown, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80]
    )
    return "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode() if ok else ""


def _img(src: str, alt: str) -> str:
    return f'<img src="{src}" alt="{html.escape(alt)}">' if src else "<i>unavailable</i>"


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def _pair(r: dict) -> str:
    e = html.escape
    scores = (
        f"product SSIM {_fmt(r['product_ssim'])}, style judge {_fmt(r['judge'])}, "
        f"colour ratio {_fmt(r['colour_ratio'])}"
    )
    reasons = "; ".join(r["reasons"] or [])
    reasons = f"<div class=reasons>{e(reasons)}</div>" if reasons else ""
    return (
        f"<figure>{_img(_thumb(r['source_uri']), 'before')}"
        f"{_img(_thumb(r['output_uri']), 'after')}"
        f"{_img(_overlay(r['source_uri'], r.get('mask_uri') or ''), 'mask')}"
        f"<figcaption><b>{e(r['image_id'])}</b> [{e(r['style_id'])}]<br>{scores}{reasons}"
        "</figcaption></figure>"
    )


def render(summary: dict, ok: list[dict], rejected: list[dict], failed: list[dict]) -> str:
    e = html.escape
    c = summary["counts"]
    cons_rows = "".join(
        f"<tr><td>{e(style)}</td><td>{_fmt(v.get('judge', {}).get('median'))}</td>"
        f"<td>{_fmt(v.get('judge', {}).get('iqr'))}</td>"
        f"<td>{_fmt(v.get('colour_ratio', {}).get('median'))}</td>"
        f"<td>{_fmt(v.get('colour_ratio', {}).get('iqr'))}</td></tr>"
        for style, v in summary.get("consistency", {}).items()
    )
    fail_rows = "".join(
        f"<tr><td>{e(r['image_id'])}</td><td>{e(r['error_type'])}</td>"
        f"<td>{e(r['error_message'])}</td></tr>"
        for r in failed[:MAX_FAILURES_LISTED]
    )
    more = (
        f"<p>... and {c['failed'] - MAX_FAILURES_LISTED} more (see the manifest).</p>"
        if c["failed"] > MAX_FAILURES_LISTED
        else ""
    )
    rate = summary.get("images_per_s") or 0.0
    held_line = ", ".join(f"{e(k)}: {v}" for k, v in summary.get("held_back", {}).items())
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Restyle run {e(summary["run_id"])}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }}
figure {{ display: inline-block; margin: 8px; width: 624px; vertical-align: top; }}
figure img {{ width: 200px; height: 200px; object-fit: contain; background: #eee;
  margin-right: 4px; }}
figcaption {{ font-size: 12px; }} .reasons {{ color: #a30; }}
.verdict-ok {{ color: #070; }} .verdict-bad {{ color: #b00; }}
</style></head><body>
<h1>Restyle run {e(summary["run_id"])}</h1>
<p class="{"verdict-ok" if summary.get("verdict") == "ok" else "verdict-bad"}">
Verdict: <b>{e(str(summary.get("verdict", "")))}</b></p>
<table><tr><th>planned</th><th>ok (published)</th><th>rejected</th><th>failed</th>
<th>skipped (unchanged)</th><th>images/s</th><th>wall</th></tr>
<tr><td>{summary["planned"]}</td><td>{c["ok"]}</td><td>{c["rejected"]}</td>
<td>{c["failed"]}</td><td>{c["skipped"]}</td><td>{rate:.2f}</td>
<td>{summary["wall_s"]:.1f} s</td></tr></table>
<h2>Does the catalogue read as one campaign?</h2>
<p>Style and colour distance ratios of published images (after / before; lower is closer
to the references). A small interquartile range means a consistent look.</p>
<table><tr><th>style</th><th>style judge, median</th><th>IQR</th>
<th>colour ratio, median</th><th>IQR</th></tr>{cons_rows}</table>
<h2>Before / after (a sample of published images)</h2>
{"".join(_pair(r) for r in ok) or "<p>none</p>"}
<h2>Rejected (not published): kept for review with their masks</h2>
<p>{held_line}</p>
<p>Reasons: <code>not_a_studio_shot</code> (no backdrop to restyle; the photo is not
restyled), <code>segmentation_doubtful</code> (the product mask looks broken; not
restyled), otherwise the quality gate's failed checks.</p>
{"".join(_pair(r) for r in rejected) or "<p>none</p>"}
<h2>Failures ({c["failed"]})</h2>
<table><tr><th>image</th><th>error</th><th>message</th></tr>{fail_rows}</table>{more}
<h2>Run details</h2><pre>{e(json.dumps(summary, indent=2, sort_keys=True))}</pre>
</body></html>
"""


def write_report(out: str, run_id: str, summary: dict, samples: int = 12) -> str:
    """Collect the samples part by part (bounded memory) and write the report."""
    ok, rejected, failed = [], [], []
    for shard in sorted(manifest.finished_shards(out, run_id)):
        for r in manifest.read_part(out, run_id, shard, _COLS).to_pylist():
            if r["status"] == "ok" and len(ok) < samples:
                ok.append(r)
            elif r["status"] == "rejected" and len(rejected) < MAX_REJECTED_SHOWN:
                rejected.append(r)
            elif r["status"] == "failed" and len(failed) < MAX_FAILURES_LISTED:
                failed.append(r)
    uri = storage.join(manifest.run_dir(out, run_id), "report.html")
    storage.write_bytes(uri, render(summary, ok, rejected, failed).encode("utf-8"))
    return uri
