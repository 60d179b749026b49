"""The nightly job end to end on a real local Ray, against local folders and a real
S3-compatible server: exactly one manifest row per planned image, whatever happens."""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time

import numpy as np
import pyarrow.parquet as pq
import pytest

from jobs.cli import main
from pipelines import storage
from pipelines.nightly import manifest
from pipelines.nightly.plan import read_plan
from stylecore.io.codec import encode_image
from stylecore.synth.products import ShotSpec, render_shot
from tests.conftest import TEST_KEY_ID, TEST_SECRET
from tests.corpus import bad_files, good_files

CATEGORIES = ("mug", "box", "bottle", "sneaker")
STYLES_YAML = """\
default: wood
categories:
  mug: watercolour
styles:
  wood: {}
  watercolour: {region: background, alpha: 0.9}
"""
FAST = ["--set", "resources.batch_size=2", "--set", "progress_every_s=1"]


def photo(i: int, seed: int = 0) -> bytes:
    cat = CATEGORIES[i % len(CATEGORIES)]
    w, h = 96 + 16 * (i % 3), 96 + 16 * ((i + 1) % 3)
    shot = render_shot(ShotSpec(cat, w, h, "white"), np.random.default_rng(seed * 1000 + i))
    return encode_image(shot.image, "jpg", 90)


def write_catalogue(root: str, n: int, seed: int = 0) -> list[str]:
    """``n`` small photos under ``root/<category>/NNNN.jpg``; returns the image ids."""
    ids = []
    for i in range(n):
        image_id = f"{CATEGORIES[i % len(CATEGORIES)]}/{i:04d}"
        storage.write_bytes(storage.join(root, image_id + ".jpg"), photo(i, seed))
        ids.append(image_id)
    return ids


@pytest.fixture
def styles_file(tmp_path) -> str:
    p = tmp_path / "styles.yaml"
    p.write_text(STYLES_YAML)
    return str(p)


def nightly(catalogue, styles, out, run_id, *extra) -> int:
    return main(
        [
            *("-q", "nightly", "--images", catalogue, "--styles", styles, "--out", out),
            *("--run-id", run_id, "--max-failure-ratio", "1", *FAST, *extra),
        ]
    )


def rows(out: str, run_id: str) -> dict[str, dict]:
    table = manifest.read_manifest(out, run_id).to_pylist()
    ids = [r["image_id"] for r in table]
    assert len(ids) == len(set(ids)), "an image has more than one manifest row"
    return {r["image_id"]: r for r in table}


def check_exactly_once(out: str, run_id: str) -> dict[str, dict]:
    """Every planned image has exactly one row, in the shard the plan gave it."""
    plan = read_plan(out, run_id).to_pylist()
    got = rows(out, run_id)
    assert set(got) == {p["image_id"] for p in plan}
    for p in plan:
        assert got[p["image_id"]]["shard"] == p["shard"]
    for shard in manifest.finished_shards(out, run_id):
        part = manifest.read_part(out, run_id, shard, ["shard"]).column("shard").to_pylist()
        assert set(part) == {shard}
    return got


@pytest.mark.usefixtures("ray_local")
def test_nightly_local_prefix(tmp_path, styles_file, capsys):
    import skimage.data

    cat, out = str(tmp_path / "cat"), str(tmp_path / "out")
    ids = write_catalogue(cat, 10)
    # a real photograph that is not a product shot: held back, never restyled
    scene = skimage.data.chelsea()[::3, ::3]
    storage.write_bytes(storage.join(cat, "scene/cat.jpg"), encode_image(scene, "jpg", 90))
    ids.append("scene/cat")
    assert nightly(cat, styles_file, out, "r1", "--shards", "3") == 0
    got = check_exactly_once(out, "r1")
    assert set(got) == set(ids)
    for image_id, r in got.items():
        assert r["status"] in ("ok", "rejected"), (image_id, r["error_message"])
        style = "watercolour" if image_id.startswith("mug/") else "wood"
        assert r["style_id"] == style
        if r["status"] == "ok":
            expected = os.path.join(out, "images", style, r["model_version"], image_id + ".jpg")
            assert r["output_uri"] == expected
        assert os.path.exists(r["output_uri"])
        # every row keeps its mask for review: a small PNG under runs/<run_id>/masks/
        mask_uri = os.path.join(out, "runs", "r1", "masks", style, image_id + ".png")
        assert r["mask_uri"] == mask_uri and os.path.exists(mask_uri)
        if image_id != "scene/cat":
            assert r["t_transfer"] > 0
        assert r["width"] > 0 and r["node_id"] and r["worker_id"]
        assert r["started_at"] <= r["finished_at"]
    held = got["scene/cat"]
    assert held["status"] == "rejected" and held["held_back"] == "not_a_studio_shot"
    assert len(held["reasons"]) == 1 and held["reasons"][0].startswith("not_a_studio_shot: ")
    assert "/rejected/" in held["output_uri"] and not np.isfinite(held["t_transfer"] or np.nan)
    summary = json.loads(storage.read_bytes(os.path.join(out, "runs", "r1", "summary.json")))
    assert summary["planned"] == summary["rows"] == 11
    assert sum(summary["counts"].values()) == 11
    assert summary["held_back"]["not_a_studio_shot"] == 1
    report = storage.read_bytes(os.path.join(out, "runs", "r1", "report.html")).decode()
    assert "Before / after" in report and "data:image/jpeg;base64," in report
    assert "not_a_studio_shot" in report and 'alt="mask"' in report
    text = capsys.readouterr().out
    assert "report:" in text and "summary:" in text
    # The published set holds only ok images, at deterministic keys.
    published = {
        os.path.relpath(os.path.join(d, f), os.path.join(out, "images"))
        for d, _, fs in os.walk(os.path.join(out, "images"))
        for f in fs
    }
    assert len(published) == sum(r["status"] == "ok" for r in got.values())


@pytest.mark.usefixtures("ray_local")
def test_split_layout_runs_each_stage_in_its_own_pool(tmp_path, styles_file):
    cat, out = str(tmp_path / "cat"), str(tmp_path / "out")
    ids = write_catalogue(cat, 5)
    code = nightly(cat, styles_file, out, "s", "--shards", "2", "--set", "resources.layout=split")
    assert code == 0
    got = check_exactly_once(out, "s")
    assert set(got) == set(ids)
    assert all(r["status"] in ("ok", "rejected") and r["t_check"] > 0 for r in got.values())


@pytest.mark.usefixtures("ray_local")
def test_a_placement_that_cannot_fit_exits_2_before_anything_is_written(
    tmp_path, styles_file, capsys
):
    cat, out = str(tmp_path / "cat"), str(tmp_path / "out")
    write_catalogue(cat, 2)
    too_many = ("--set", "resources.actors=3", "--set", "resources.actor_cpus=1")
    assert nightly(cat, styles_file, out, "big", *too_many) == 2
    assert "3 restyle actor(s) x 1 CPU" in capsys.readouterr().err
    no_gpu = ("--set", "resources.gpus_per_actor=1")
    assert nightly(cat, styles_file, out, "gpu", *no_gpu) == 2
    assert "no GPU and can add none" in capsys.readouterr().err
    assert not os.path.exists(out)  # no run.json, no plan: nothing to clean up


@pytest.mark.usefixtures("ray_local")
def test_nightly_on_s3_incremental_then_shard_rerun(s3_bucket, styles_file, tmp_path, caplog):
    cat, out = f"{s3_bucket}/catalogue", f"{s3_bucket}/restyled"
    ids = write_catalogue(cat, 8)
    assert nightly(cat, styles_file, out, "night1", "--shards", "3") == 0
    first = check_exactly_once(out, "night1")
    assert all(r["status"] in ("ok", "rejected") for r in first.values())
    assert all(r["source_etag"] for r in first.values())  # S3 gives etags
    for r in first.values():
        assert storage.exists(r["output_uri"]) and r["output_uri"].startswith(out)

    # Night 2: one photo changed, one added, one removed from the catalogue.
    changed, removed = ids[1], ids[2]
    storage.write_bytes(storage.join(cat, changed + ".jpg"), photo(1, seed=9))
    storage.write_bytes(storage.join(cat, "box/new-0100.jpg"), photo(5, seed=3))
    storage.delete(storage.join(cat, removed + ".jpg"))
    assert nightly(cat, styles_file, out, "night2", "--shards", "3") == 0
    second = check_exactly_once(out, "night2")
    assert removed not in second
    ok_before = {i for i, r in first.items() if r["status"] == "ok"}
    for image_id, r in second.items():
        if image_id in (changed, "box/new-0100"):
            assert r["status"] in ("ok", "rejected")
        elif image_id in ok_before:
            assert r["status"] == "skipped", image_id
            assert r["output_uri"] == first[image_id]["output_uri"]
            assert r["prev_run_id"] == "night1"
            assert r["t_read"] is None  # unchanged by etag and size: not even read
        else:  # rejected last night: tried again
            assert r["status"] == "rejected"

    # Re-run one shard of night 2: exactly its images, same keys, no duplicates.
    shard = second[changed]["shard"]
    code = main(["-q", "rerun", "--out", out, "--run-id", "night2", "--shard", str(shard), *FAST])
    assert code == 0
    third = check_exactly_once(out, "night2")
    for image_id, r in third.items():
        if r["shard"] == shard:
            assert r["status"] in ("ok", "rejected")  # re-processed, never skipped
            assert r["finished_at"] > second[image_id]["finished_at"]
        else:
            assert r == second[image_id]
    keys = storage.list_files(storage.join(out, "images"))
    assert len(keys) == len({k.uri for k in keys})
    for run_id in ("night1", "night2"):  # every published object re-read, hash for hash
        assert main(["-q", "verify", "--out", out, "--run-id", run_id]) == 0
    # night 2 re-processed the changed photo at the same key: night 1's hash for it is
    # stale, and verify says so rather than calling it corrupt
    assert (
        main(
            ["-q", "verify", "--out", out, "--run-id", "night1", "--json", str(tmp_path / "v.json")]
        )
        == 0
    )
    v1 = json.loads((tmp_path / "v.json").read_text())
    assert v1["superseded"] == (first[changed]["status"] == "ok")
    # Credentials never appear in anything the runs wrote or logged.
    blobs = [caplog.text]
    for f in storage.list_files(storage.join(out, "runs")):
        data = storage.read_bytes(f.uri)
        if f.uri.endswith(".parquet"):
            data = str(pq.read_table(io.BytesIO(data)).to_pylist()).encode()
        blobs.append(data.decode("utf-8", "replace"))
    for text in blobs:
        assert TEST_SECRET not in text and TEST_KEY_ID not in text


@pytest.mark.usefixtures("ray_local")
def test_bad_inputs_become_rows_and_keys_cannot_escape(tmp_path, styles_file):
    src = tmp_path / "src"
    src.mkdir()
    lines = ["image_id,uri,category"]
    good, bad = good_files(), bad_files()
    for i, (name, (data, _)) in enumerate(sorted(good.items())):
        (src / name).write_bytes(data)
        lines.append(f'"good {i} {os.path.splitext(name)[0]}","{name}",')
    for name, (data, _) in sorted(bad.items()):
        (src / name).write_bytes(data)
        lines.append(f'"{os.path.splitext(name)[0]}","{name}",')
    (src / "gone.jpg").write_bytes(good["gray.png"][0])
    lines.append("gone,gone.jpg,")
    escapes = ["../../escaped", "/etc/escaped", "s3://other-bucket/escaped", "a/../../up"]
    for e in escapes:
        lines.append(f'"{e}",gray.png,')
    table = src / "catalogue.csv"
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")

    # Plan first, then delete an object between listing and reading.
    out = str(tmp_path / "out")
    from pipelines.nightly.plan import build_plan, write_plan
    from pipelines.nightly.run import execute
    from pipelines.nightly.runconfig import NightlyConfig, RunContext, load_styles

    cfg = NightlyConfig(shards=2, read_attempts=2)
    styles = load_styles(styles_file)
    ctx = RunContext.create("bad", out, styles, cfg)
    plan = build_plan(str(table), styles, ctx, cfg.shards)
    write_plan(out, "bad", plan)
    os.unlink(src / "gone.jpg")
    execute(plan, ctx, cfg, incremental=True)
    got = check_exactly_once(out, "bad")

    for i, name in enumerate(sorted(good)):
        r = got[f"good {i} {os.path.splitext(name)[0]}"]
        assert r["status"] in ("ok", "rejected"), (name, r["error_type"], r["error_message"])
    for name, (_, kind) in bad.items():
        r = got[os.path.splitext(name)[0]]
        assert r["status"] == "failed" and r["error_type"] == f"DecodeError:{kind}", name
        assert r["error_message"].startswith("decode: ")
    assert got["gone"]["status"] == "failed"
    assert got["gone"]["error_type"] == "FileNotFoundError"
    for e in escapes:
        assert got[e]["status"] == "failed" and "unsafe key" in got[e]["error_message"]
    # Nothing was written outside --out.
    assert not (tmp_path / "escaped").exists() and not os.path.exists("/etc/escaped")
    written = {os.path.join(d, f) for d, _, fs in os.walk(tmp_path) for f in fs}
    assert all(p.startswith((out, str(src))) for p in written if "escaped" in p)
    assert not any("escaped" in p for p in written)


@pytest.mark.usefixtures("ray_local")
def test_failed_only_rerun_and_resume(tmp_path, styles_file):
    cat, out = str(tmp_path / "cat"), str(tmp_path / "out")
    ids = write_catalogue(cat, 6)
    broken = ids[3]
    good_bytes = photo(3)
    storage.write_bytes(storage.join(cat, broken + ".jpg"), good_bytes[: len(good_bytes) // 3])
    assert nightly(cat, styles_file, out, "r", "--shards", "3") == 0
    before = check_exactly_once(out, "r")
    assert before[broken]["status"] == "failed"
    assert before[broken]["error_type"] == "DecodeError:truncated"

    # The file is fixed upstream; re-run only the failures.
    storage.write_bytes(storage.join(cat, broken + ".jpg"), good_bytes)
    assert main(["-q", "rerun", "--out", out, "--run-id", "r", "--failed-only", *FAST]) == 0
    after = check_exactly_once(out, "r")
    assert after[broken]["status"] in ("ok", "rejected")
    for image_id in ids:
        if image_id != broken:
            assert after[image_id] == before[image_id]

    # A driver that died before writing two shards: --resume does only those shards.
    shards = sorted(manifest.finished_shards(out, "r"))
    lost = shards[:2]
    for s in lost:
        storage.delete(manifest.part_uri(out, "r", s))
    assert nightly(cat, styles_file, out, "r", "--resume") == 0
    resumed = check_exactly_once(out, "r")
    for image_id, r in resumed.items():
        if r["shard"] in lost:
            assert r["finished_at"] > after[image_id]["finished_at"]
        else:
            assert r == after[image_id]


@pytest.mark.usefixtures("ray_local")
def test_an_actor_killed_mid_run_loses_no_row(tmp_path, styles_file):
    import signal

    import ray
    from ray._private import state

    cat, out = str(tmp_path / "cat"), str(tmp_path / "out")
    write_catalogue(cat, 12)
    result = {}

    def run():
        result["code"] = nightly(cat, styles_file, out, "k", "--shards", "2")

    t = threading.Thread(target=run)
    t.start()
    killed = None
    deadline = time.time() + 240
    while killed is None and t.is_alive() and time.time() < deadline:
        outputs = storage.list_files(out) if os.path.isdir(out) else []
        if sum("/images/" in f.uri for f in outputs) >= 2:
            for info in state.actors().values():
                if "FusedStage" in info["ActorClassName"] and info["State"] == "ALIVE":
                    os.kill(info["Pid"], signal.SIGKILL)
                    killed = info["Pid"]
                    break
        time.sleep(0.2)
    t.join(300)
    assert killed is not None, "the run ended before an actor could be killed"
    assert result["code"] == 0
    got = check_exactly_once(out, "k")
    assert all(r["status"] in ("ok", "rejected") for r in got.values())
    assert ray.is_initialized()
    # the same outputs as a run nobody disturbed, and every published object intact
    clean_out = str(tmp_path / "clean")
    assert nightly(cat, styles_file, clean_out, "k0", "--shards", "2") == 0
    clean = check_exactly_once(clean_out, "k0")
    assert {i: (r["status"], r["output_sha256"]) for i, r in got.items()} == {
        i: (r["status"], r["output_sha256"]) for i, r in clean.items()
    }
    assert main(["-q", "verify", "--out", out, "--run-id", "k"]) == 0


def test_retries_transient_errors_but_not_missing_objects():
    calls = []

    def flaky(x):
        calls.append(x)
        if len(calls) < 3:
            raise ConnectionError("connection reset by peer")
        return x * 2

    assert storage.with_retries(flaky, 21, attempts=4, base_delay_s=0.001) == 42
    assert len(calls) == 3
    calls.clear()

    def missing(x):
        calls.append(x)
        raise FileNotFoundError(x)

    with pytest.raises(FileNotFoundError):
        storage.with_retries(missing, "k", attempts=4, base_delay_s=0.001)
    assert len(calls) == 1
    calls.clear()

    def down(x):
        calls.append(x)
        raise TimeoutError("read timed out")

    with pytest.raises(TimeoutError):
        storage.with_retries(down, "k", attempts=3, base_delay_s=0.001)
    assert len(calls) == 3


def test_styles_file_errors_are_clear(tmp_path, capsys):
    bad = tmp_path / "styles.yaml"
    bad.write_text("default: nope\nstyles:\n  wood: {}\n")
    code = main(["nightly", "--images", str(tmp_path), "--styles", str(bad), "--out", "x"])
    assert code == 2
    assert "style 'nope' is not defined" in capsys.readouterr().err
    code = main(
        [
            *("nightly", "--images", str(tmp_path)),
            *("--styles", str(tmp_path / "no.yaml"), "--out", "x"),
        ]
    )
    assert code == 2
    assert "file not found" in capsys.readouterr().err


@pytest.mark.usefixtures("ray_local")
def test_a_killed_driver_is_resumed(tmp_path, styles_file):
    """A real driver process, connected to the session's Ray, killed with SIGKILL after its
    first shard is written; ``--resume`` keeps that shard and finishes the rest."""
    import signal
    import subprocess
    import sys

    import ray

    cat, out = str(tmp_path / "cat"), str(tmp_path / "out")
    write_catalogue(cat, 12)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    address = ray.get_runtime_context().gcs_address
    cmd = [sys.executable, "-m", "jobs.cli", "-q", "nightly", "--images", cat]
    cmd += ["--styles", styles_file, "--out", out, "--run-id", "kd", "--shards", "6"]
    cmd += ["--address", address, *FAST]
    proc = subprocess.Popen(cmd, cwd=root, env={**os.environ, "PYTHONPATH": root})
    manifest_dir = os.path.join(out, "runs", "kd", "manifest")
    deadline = time.time() + 240
    try:
        while time.time() < deadline and proc.poll() is None:
            if os.path.isdir(manifest_dir) and manifest.finished_shards(out, "kd"):
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the driver finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    kept = manifest.finished_shards(out, "kd")
    assert 0 < len(kept) < 6
    before = {s: manifest.read_part(out, "kd", s).to_pylist() for s in kept}
    assert not storage.exists(os.path.join(out, "runs", "kd", "summary.json"))

    assert nightly(cat, styles_file, out, "kd", "--resume") == 0
    got = check_exactly_once(out, "kd")
    assert len(got) == 12
    for s, part in before.items():
        assert manifest.read_part(out, "kd", s).to_pylist() == part  # finished shards kept
    assert all(r["status"] in ("ok", "rejected") for r in got.values())


@pytest.mark.usefixtures("ray_local")
def test_too_many_failures_exit_3_with_every_row_written(tmp_path, styles_file, capsys):
    cat, out = str(tmp_path / "cat"), str(tmp_path / "out")
    write_catalogue(cat, 3)
    storage.write_bytes(storage.join(cat, "box", "empty.jpg"), b"")
    code = nightly(cat, styles_file, out, "bad", "--max-failure-ratio", "0.1")
    assert code == 3
    got = check_exactly_once(out, "bad")
    assert got["box/empty"]["status"] == "failed"
    assert got["box/empty"]["error_type"] == "DecodeError:empty"
    summary = json.loads(storage.read_bytes(os.path.join(out, "runs", "bad", "summary.json")))
    assert summary["verdict"] == "too many failures" and summary["counts"]["failed"] == 1
    assert "FAILED: 25.0% of images failed" in capsys.readouterr().out


@pytest.mark.usefixtures("ray_local")
def test_verify_finds_lost_missing_and_corrupt_outputs(tmp_path, styles_file, capsys):
    cat, out = str(tmp_path / "cat"), str(tmp_path / "out")
    write_catalogue(cat, 8)
    assert nightly(cat, styles_file, out, "v1", "--shards", "2") == 0
    got = check_exactly_once(out, "v1")
    ok = sorted(i for i, r in got.items() if r["status"] == "ok")
    assert len(ok) >= 3, got
    for r in got.values():  # the hash is of the bytes that were written
        if r["status"] in ("ok", "rejected"):
            data = storage.read_bytes(r["output_uri"])
            assert r["output_sha256"] == hashlib.sha256(data).hexdigest()
            assert r["output_size"] == len(data)
        else:
            assert not r["output_sha256"]
    capsys.readouterr()
    assert main(["-q", "verify", "--out", out, "--run-id", "v1"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["ok"] and res["rows"] == 8 and res["objects_checked"] >= 2 * len(ok)

    # one output corrupted in place, one deleted, one manifest row lost
    corrupt, missing, lost = ok[:3]
    data = bytearray(storage.read_bytes(got[corrupt]["output_uri"]))
    data[len(data) // 2] ^= 0xFF
    storage.write_bytes(got[corrupt]["output_uri"], bytes(data))
    storage.delete(got[missing]["output_uri"])
    shard = got[lost]["shard"]
    keep = [r for r in manifest.read_part(out, "v1", shard).to_pylist() if r["image_id"] != lost]
    manifest.write_part(out, "v1", shard, keep)
    assert main(["-q", "verify", "--out", out, "--run-id", "v1"]) == 4
    captured = capsys.readouterr()
    res = json.loads(captured.out)
    assert res["problems"] == {
        "lost": 1, "duplicated": 0, "unplanned": 0, "wrong_shard": 0,
        "missing": 1, "corrupt": 1, "mask_missing": 0,
    }  # fmt: skip
    assert res["examples"] == {"lost": [lost], "missing": [missing], "corrupt": [corrupt]}
    assert "VERIFY FAILED" in captured.err


@pytest.mark.usefixtures("ray_local")
def test_an_unwritable_output_fails_the_run_loudly(tmp_path, styles_file, capsys):
    """Writes that fail for good (here: the images folder is a file, so every write under
    it fails with NotADirectoryError, as a read-only or full volume would) fail the run
    with exit code 5 and a clear message, whatever --max-failure-ratio allows, and no row
    claims ok for an image that was not written."""
    cat, out = str(tmp_path / "cat"), str(tmp_path / "out")
    write_catalogue(cat, 6)
    os.makedirs(out)
    with open(os.path.join(out, "images"), "w") as f:
        f.write("not a folder")
    assert nightly(cat, styles_file, out, "w1") == 5  # --max-failure-ratio 1
    err = capsys.readouterr().err
    assert "could not be written" in err and "NotADirectoryError" in err
    got = check_exactly_once(out, "w1")
    assert not [r for r in got.values() if r["status"] == "ok"]
    failed = [r for r in got.values() if r["status"] == "failed"]
    assert failed and all(r["error_message"].startswith("write:") for r in failed)
    assert all(not r["output_sha256"] for r in failed)
    summary = json.loads(storage.read_bytes(os.path.join(out, "runs", "w1", "summary.json")))
    assert summary["verdict"] == "output not written"
    assert summary["write_failures"] == len(failed)
    assert main(["-q", "verify", "--out", out, "--run-id", "w1"]) == 0  # nothing published
