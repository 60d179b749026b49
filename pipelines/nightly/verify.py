"""`restyle verify`: re-read what a run published and check it against its manifest.

Checks, for run R under OUT:

* **rows**: every image of the plan has exactly one manifest row, in the shard the plan
  gave it, and no row is there that the plan does not have (``lost``, ``duplicated``,
  ``unplanned``);
* **published objects**: every ``ok`` row's ``output_uri`` exists, and its bytes hash to
  the manifest's ``output_sha256`` (``missing``, ``corrupt``); every ``skipped`` row's
  earlier output likewise, where that run recorded a hash; a row with no recorded hash is
  counted ``unverifiable`` (a run from before hashes were recorded), not passed silently;
* **masks**: every ``ok`` row's mask PNG exists (``mask_missing``).

Output keys are deterministic (style, model version, image id), so a later run that
re-processed an image (its photo changed) rewrites the same key. An object whose bytes
match the hash the last finished run (``runs/LATEST``) recorded for that key is counted
``superseded``, not corrupt.

Objects are read in parallel threads, with the storage layer's retries for transient
errors. The result is a JSON-able dict; the CLI prints it and exits 4 when anything is
lost, duplicated, unplanned, missing or corrupt.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from pipelines import storage
from pipelines.nightly import manifest
from pipelines.nightly.plan import read_plan

log = logging.getLogger(__name__)

PROBLEMS = ("lost", "duplicated", "unplanned", "wrong_shard", "missing", "corrupt", "mask_missing")


def _check_object(uri: str, sha256: str, attempts: int, later: dict[str, str]) -> str:
    """``ok``, ``missing``, ``superseded`` or ``corrupt`` for one published object."""
    try:
        data = storage.with_retries(storage.read_bytes, uri, attempts=attempts, what="verify")
    except FileNotFoundError:
        return "missing"
    digest = hashlib.sha256(data).hexdigest()
    if digest == sha256:
        return "ok"
    return "superseded" if later.get(uri) == digest else "corrupt"


def _later_hashes(out: str, run_id: str) -> dict[str, str]:
    """``{output_uri: output_sha256}`` of the last finished run, when that is not
    ``run_id``: what a later run legitimately wrote at the same keys."""
    latest = storage.join(out, "runs", "LATEST")
    if not storage.exists(latest):
        return {}
    last = storage.read_bytes(latest).decode().strip()
    if last == run_id:
        return {}
    t = manifest.read_manifest(out, last, ["output_uri", "output_sha256"]).to_pylist()
    return {r["output_uri"]: r["output_sha256"] for r in t if r["output_sha256"]}


def verify_run(
    out: str, run_id: str, threads: int = 16, attempts: int = 4, progress_every_s: float = 10.0
) -> dict:
    t0 = time.time()
    plan = read_plan(out, run_id).select(["image_id", "shard"]).to_pylist()
    cols = ["image_id", "shard", "status", "output_uri", "output_sha256", "mask_uri"]
    rows = manifest.read_manifest(out, run_id, cols).to_pylist()
    planned = {p["image_id"]: p["shard"] for p in plan}
    seen = Counter(r["image_id"] for r in rows)
    problems: dict[str, list[str]] = {k: [] for k in PROBLEMS}
    problems["lost"] = sorted(set(planned) - set(seen))
    problems["duplicated"] = sorted(i for i, n in seen.items() if n > 1)
    problems["unplanned"] = sorted(set(seen) - set(planned))
    problems["wrong_shard"] = sorted(
        r["image_id"]
        for r in rows
        if r["image_id"] in planned and r["shard"] != planned[r["image_id"]]
    )
    later = _later_hashes(out, run_id)
    superseded: list[str] = []
    unverifiable: list[str] = []
    checks: list[tuple[str, str, str]] = []  # (image_id, uri, sha256 or "" for existence)
    for r in rows:
        if r["status"] not in ("ok", "skipped"):
            continue
        if r["output_sha256"]:
            checks.append((r["image_id"], r["output_uri"], r["output_sha256"]))
        else:
            unverifiable.append(r["image_id"])
            checks.append((r["image_id"], r["output_uri"], ""))
        if r["status"] == "ok" and r["mask_uri"]:
            checks.append((r["image_id"], r["mask_uri"], "mask"))

    def one(item: tuple[str, str, str]) -> tuple[str, str, str]:
        image_id, uri, sha = item
        if sha == "mask" or not sha:
            found = storage.with_retries(storage.exists, uri, attempts=attempts, what="verify")
            kind = "mask_missing" if sha == "mask" else "missing"
            return image_id, uri, "ok" if found else kind
        return image_id, uri, _check_object(uri, sha, attempts, later)

    done, last = 0, time.time()
    with ThreadPoolExecutor(max(1, threads)) as pool:
        for image_id, uri, verdict in pool.map(one, checks):
            done += 1
            if verdict == "superseded":
                superseded.append(image_id)
            elif verdict != "ok":
                problems[verdict].append(image_id)
                log.warning("%s: %s (%s)", verdict, image_id, storage.redact(uri))
            if time.time() - last >= progress_every_s:
                log.info("verified %d/%d objects", done, len(checks))
                last = time.time()
    counts = Counter(r["status"] for r in rows)
    bad = {k: len(v) for k, v in problems.items()}
    return {
        "run_id": run_id,
        "out": storage.redact(out),
        "planned": len(planned),
        "rows": len(rows),
        "counts": dict(counts),
        "objects_checked": len(checks),
        "problems": bad,
        "examples": {k: v[:20] for k, v in problems.items() if v},
        "unverifiable": len(unverifiable),
        "superseded": len(superseded),
        "ok": not any(bad.values()),
        "wall_s": time.time() - t0,
    }
