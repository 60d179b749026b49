"""The front door: what a person types first. Every bad input gets a message and its
documented exit code, never a traceback; `apply` is the nightly's own path; the manifest
reads as it is in pandas, pyarrow and DuckDB."""

from __future__ import annotations

import json
import os
import struct
import zlib

import pytest

from jobs.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STYLES_DEMO = os.path.join(ROOT, "configs", "styles-demo.yaml")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, idat: bytes) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def _pixel_bomb(side: int) -> bytes:
    """A real, valid PNG of side x side black pixels (side**2 bytes once decoded), a few
    hundred KB on disk: compressed row by row."""
    z = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + pixels
    chunks = [z.compress(row) for _ in range(side)]
    return _png(side, side, b"".join(chunks) + z.flush())


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, small_catalogue):
    d = tmp_path_factory.mktemp("bad")
    files = {
        "missing": str(d / "missing.jpg"),
        "empty": d / "empty.jpg",
        "text": d / "notes.jpg",
        "header_bomb": d / "header-bomb.png",
        "pixel_bomb": d / "pixel-bomb.png",
    }
    files["empty"].write_bytes(b"")
    files["text"].write_text("this is not a photo\n")
    # a header that claims 100000 x 100000 pixels, and almost no data
    files["header_bomb"].write_bytes(_png(100_000, 100_000, zlib.compress(b"\x00" * 64)))
    files["pixel_bomb"].write_bytes(_pixel_bomb(20_000))  # 400 MP, valid to the last byte
    good = os.path.join(small_catalogue, "images", "0000-bottle.jpg")
    empty_dir = d / "empty-folder"
    empty_dir.mkdir()
    return {k: str(v) for k, v in files.items()}, good, str(empty_dir)


def _cli(capsys, *argv, env=None, monkeypatch=None, debug=False):
    if env and monkeypatch:
        for k, v in env.items():
            monkeypatch.setenv(k, v)
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse's own errors
        code = e.code
    out = capsys.readouterr()
    text = out.out + out.err
    if not debug:  # at DEBUG a failure's traceback is logged on purpose
        assert "Traceback" not in text, text
    return code, out.out, out.err


def test_apply_goes_on_past_bad_files_and_names_each(bad_inputs, tmp_path, capsys):
    files, good, empty_dir = bad_inputs
    inputs = [files["missing"], files["empty"], good, files["text"], empty_dir]
    inputs += [files["header_bomb"], files["pixel_bomb"]]
    code, out, err = _cli(capsys, "-q", "apply", *inputs, "-o", str(tmp_path / "o"))
    assert code == 1
    assert "0000-bottle [wood]" in out  # the good photo was done, with the file's look
    for name in ("missing.jpg", "empty.jpg", "notes.jpg", "empty-folder", "header-bomb.png"):
        assert name in err, (name, err)
    assert "pixel-bomb.png" in err and "pixels" in err  # the limit, before any decode
    assert "6 of 7 inputs failed" in err


@pytest.mark.parametrize(
    "case",
    ["unknown_style", "bad_set_key", "bad_set_form", "missing_config", "broken_config",
     "styles_is_a_folder", "styles_and_model", "unwritable_out"],
)  # fmt: skip
def test_apply_config_errors(case, bad_inputs, tmp_path, capsys):
    _, good, empty_dir = bad_inputs
    broken = tmp_path / "broken.yaml"
    broken.write_text("transfer: [1, 2\n")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    extra, want = {
        "unknown_style": (["--style", "velvet"], (2, "velvet")),
        "bad_set_key": (["--set", "nokey=3"], (2, "nokey")),
        "bad_set_form": (["--set", "transfer.alpha"], (2, "KEY=VALUE")),
        "missing_config": (["--config", str(tmp_path / "no.yaml")], (2, "not found")),
        "broken_config": (["--config", str(broken)], (2, "not valid YAML")),
        "styles_is_a_folder": (["--styles", empty_dir], (2, "--styles")),
        "styles_and_model": (["--styles", STYLES_DEMO, "--model", "m"], (2, "not both")),
        "unwritable_out": ([], (1, "a-file")),
    }[case]
    out_dir = str(blocker / "sub") if case == "unwritable_out" else str(tmp_path / "o")
    code, _, err = _cli(capsys, "apply", good, "-o", out_dir, *extra)
    assert code == want[0], err
    assert want[1] in err, err
    assert not os.path.exists(tmp_path / "o" / "0000-bottle.wood.jpg")  # no work was done


def test_log_levels_by_name_and_bad_ones(monkeypatch, capsys, tmp_path):
    import logging

    code, _, err = _cli(capsys, "verify", "-o", str(tmp_path), "--run-id", "x",
                        env={"RESTYLE_LOG_LEVEL": "LOUD"}, monkeypatch=monkeypatch)  # fmt: skip
    assert code == 2 and "RESTYLE_LOG_LEVEL" in err and "DEBUG" in err
    monkeypatch.setenv("RESTYLE_LOG_LEVEL", "debug")
    code, _, err = _cli(capsys, "verify", "-o", str(tmp_path), "--run-id", "x", debug=True)
    assert code == 1 and "no run.json" in err
    assert logging.getLogger().level == logging.DEBUG
    monkeypatch.delenv("RESTYLE_LOG_LEVEL")
    _cli(capsys, "-v", "verify", "-o", str(tmp_path), "--run-id", "x", debug=True)
    assert logging.getLogger().level == logging.DEBUG
    _cli(capsys, "-q", "verify", "-o", str(tmp_path), "--run-id", "x")
    assert logging.getLogger().level == logging.WARNING


def test_nightly_checks_its_inputs_before_starting_ray(
    tmp_path, capsys, small_catalogue, monkeypatch
):
    import pipelines.ray_session

    started = []
    monkeypatch.setattr(pipelines.ray_session, "init_ray", lambda address: started.append(1))
    cat = os.path.join(small_catalogue, "catalogue.csv")
    cases = [
        (["--images", str(tmp_path / "nope"), "--styles", STYLES_DEMO], 1, "nope"),
        (["--images", cat, "--styles", str(tmp_path / "no.yaml")], 2, "no.yaml"),
        (["--images", cat, "--styles", STYLES_DEMO, "--set", "shards=0"], 2, "shards"),
    ]
    for extra, want, text in cases:
        code, _, err = _cli(capsys, "nightly", *extra, "-o", str(tmp_path / "out"))
        assert code == want and text in err, (extra, err)
    code, _, err = _cli(capsys, "rerun", "--run-id", "r0", "--failed-only", "-o", str(tmp_path))
    assert code == 1 and "no run.json" in err
    assert not started  # each was refused before Ray was asked for
    assert not os.path.exists(tmp_path / "out")


def test_one_cli(capsys):
    """--version; one name per concept, old spellings warn; every flag has help; the
    --set example each command prints works for it."""
    from jobs.cli import build_parser

    code, out, _ = _cli(capsys, "--version")
    assert code == 0 and out.startswith("restyle ")
    import argparse

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, p in sub.choices.items():
        shown = [a for a in p._actions if a.help != argparse.SUPPRESS]
        flags = {o for a in shown for o in a.option_strings}
        for a in shown:
            assert a.help, f"{name}: {a.option_strings or a.dest} has no help"
        for old in ("--catalogue", "--content", "--method"):
            assert old not in flags, f"{name} still shows {old}"
        if "--out" in flags:
            assert "-o" in flags, f"{name}: --out without -o"
        if name not in ("train", "add-style", "eval-style"):
            assert "--references" not in flags
        set_help = next((a.help for a in p._actions if "--set" in a.option_strings), None)
        assert set_help is None or "e.g. --set " in set_help, name


def test_every_set_example_is_a_key_of_its_command():
    """The `--set` example each command's --help prints is accepted by that command's
    config (both examples where --workers switches the config)."""
    import argparse
    import re

    from jobs.cli import build_parser
    from jobs.config import load_config
    from pipelines.nightly.runconfig import NightlyConfig
    from pipelines.sample_catalogue import SampleCatalogueConfig
    from pipelines.serve.config import ServeJobConfig
    from pipelines.training.config import (
        DistAddStyleConfig,
        DistTrainConfig,
        TrainSegmenterConfig,
    )
    from stylecore.segmentation import SegmenterConfig
    from stylecore.training.add_style import AddStyleConfig
    from stylecore.training.style_gan import StyleTrainConfig

    configs = {
        "sample-catalogue": [SampleCatalogueConfig],
        "segment": [SegmenterConfig],
        "eval-segmentation": [SegmenterConfig],
        "train-segmenter": [TrainSegmenterConfig],
        "train": [StyleTrainConfig, DistTrainConfig],
        "add-style": [AddStyleConfig, DistAddStyleConfig],
        "apply": [NightlyConfig],
        "nightly": [NightlyConfig],
        "rerun": [NightlyConfig],
        "serve": [ServeJobConfig],
    }
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    seen = set()
    for name, p in sub.choices.items():
        text = next((a.help for a in p._actions if "--set" in a.option_strings), None)
        if text is None:
            continue
        examples = re.findall(r"--set ([\w.]+=[^\s,;)]+)", text) + re.findall(
            r"with --workers: ([\w.]+=[^\s,;)]+)", text
        )
        assert len(examples) == len(configs[name]), (name, text)
        for cls, example in zip(configs[name], examples, strict=True):
            load_config(cls, None, [example])  # raises on an unknown key or a bad value
        seen.add(name)
    assert seen == set(configs)


def test_set_examples_work(small_catalogue, tmp_path, capsys):
    """The --set example of `apply`, `segment` and `sample-catalogue` is accepted."""
    good = os.path.join(small_catalogue, "images", "0000-bottle.jpg")
    code, _, err = _cli(capsys, "-q", "segment", good, "-o", str(tmp_path / "m"),
                        "--set", "edge.working_size=768")  # fmt: skip
    assert code == 0, err
    code, _, err = _cli(capsys, "-q", "sample-catalogue", "-o", str(tmp_path / "c"),
                        "--count", "1", "--no-contact-sheet", "--set", "seed=3")  # fmt: skip
    assert code == 0, err
    # an old spelling still works, with a warning that names the new one
    code, _, err = _cli(capsys, "-q", "segment", good, "-o", str(tmp_path / "m2"),
                        "--method", "edge")  # fmt: skip
    assert code == 0 and "--segmenter" in err


def test_apply_is_the_nightlys_path(small_catalogue, tmp_path, ray_local):
    """Same photo, style and model: the same bytes from `apply` and `nightly`; outputs
    never collide (x.jpg and x.png); a folder is taken as the nightly takes it."""
    import shutil

    import cv2

    from pipelines.nightly import manifest

    src = tmp_path / "photos"
    src.mkdir()
    for n in ("0000-bottle.jpg", "0002-sneaker.jpg"):
        shutil.copy(os.path.join(small_catalogue, "images", n), src / n)
    # the same stem twice: x.jpg and x.png
    img = cv2.imread(os.path.join(small_catalogue, "images", "0002-sneaker.jpg"))
    cv2.imwrite(str(src / "0000-bottle.png"), img)
    assert main(["-q", "apply", str(src), "-o", str(tmp_path / "a")]) == 0
    written = sorted(p for p in os.listdir(tmp_path / "a") if p.endswith(".jpg"))
    rejected = tmp_path / "a" / "rejected"
    if rejected.exists():
        written += sorted(f"rejected/{p}" for p in os.listdir(rejected) if p.endswith(".jpg"))
    names = {w.rsplit("/", 1)[-1] for w in written}
    assert {"0000-bottle.jpg.wood.jpg", "0000-bottle.png.wood.jpg"} <= names, names
    out = str(tmp_path / "n")
    assert main(["-q", "nightly", "--images", str(src), "--styles", STYLES_DEMO, "-o", out,
                 "--run-id", "r1", "--shards", "2"]) == 0  # fmt: skip
    rows = manifest.read_manifest(out, "r1").to_pylist()
    assert len(rows) == 3
    for r in rows:
        if r["status"] != "ok":
            continue
        mine = tmp_path / "a" / f"{r['image_id']}.{r['style_id']}.jpg"
        with open(r["output_uri"], "rb") as f, open(mine, "rb") as g:
            assert f.read() == g.read(), r["image_id"]
    recs = [json.loads(p.read_text()) for p in (tmp_path / "a").rglob("0002-sneaker.*.json")]
    assert [r["style"] for r in recs] == ["wood"]  # the styles file's default
    assert recs[0]["status"] in ("ok", "rejected") and isinstance(recs[0]["reasons"], list)


def test_manifest_reads_as_it_is(tmp_path, ray_local, small_catalogue):
    """pandas, pyarrow.dataset and DuckDB read a run's manifest with no options beyond
    hive partitioning, with the right types; README's three queries run on it."""
    import duckdb
    import pandas as pd
    import pyarrow as pa
    import pyarrow.dataset as ds

    cat = os.path.join(small_catalogue, "catalogue.csv")
    out = str(tmp_path / "out")
    strict = tmp_path / "strict.yaml"  # a gate nothing passes: every row is rejected
    strict.write_text(
        "default: wood\nstyles:\n  wood: {quality: {min_judge: 5.0, max_judge_spread: 0.0}}\n"
    )
    args = ["-q", "nightly", "--images", cat, "-o", out, "--shards", "3"]
    assert main([*args, "--styles", str(strict), "--run-id", "q1"]) in (0, 3)
    folder = os.path.join(out, "runs", "q1", "manifest")
    df = pd.read_parquet(folder)
    with open(cat) as f:
        planned = sum(1 for _ in f) - 1
    assert len(df) == planned and str(df["shard"].dtype) == "int32"
    t = ds.dataset(folder).to_table()
    assert t.schema.field("reasons").type == pa.list_(pa.string())
    assert t.schema.field("mask_flags").type == pa.list_(pa.string())
    assert t.schema.metadata[b"restyle.manifest.schema"] == b"2"
    assert all(r["error_type"] is None for r in t.to_pylist())  # NULL, not ""
    rej = [r for r in t.to_pylist() if r["status"] == "rejected"]
    assert len(rej) == planned
    assert all(r["held_back"] in ("not_a_studio_shot", "segmentation_doubtful", "quality_gate")
               and r["reasons"] for r in rej)  # fmt: skip
    con = duckdb.connect()
    q = f"read_parquet('{folder}/*.parquet', hive_partitioning=true)"
    row = con.execute(f"SELECT typeof(shard), typeof(reasons), typeof(mask_flags) FROM {q}")
    assert row.fetchall()[0] == ("INTEGER", "VARCHAR[]", "VARCHAR[]")
    assert main([*args, "--styles", STYLES_DEMO, "--run-id", "q2", "--full"]) in (0, 3)
    # README's queries, run as README prints them, in DuckDB and in pandas
    runs = os.path.join(out, "runs")
    sql, py = _readme_queries()

    def here(text: str) -> str:
        text = text.replace("out/runs/RUN", "@")
        return text.replace("out/runs", runs).replace("@", f"{runs}/q1")

    by_reason, stages, history = (con.execute(here(q)).fetchall() for q in sql)
    n_rejected = len(rej)
    assert sum(row[-1] for row in by_reason) >= n_rejected
    assert {row[0] for row in by_reason} == {"quality_gate"}
    assert {row[0] for row in stages} >= {"t_decode", "t_segment", "t_transfer", "t_check"}
    assert len(history) == 2 and {row[0] for row in history} == {"q1", "q2"}
    scope: dict = {}
    exec(here(py), scope)
    assert len(scope["history"]) == 2 and scope["stages"].shape[0] >= 4
    assert list(scope["history"].run_id) == ["q1", "q2"]
    assert list(scope["history"].status) == ["rejected", "ok"]
    assert int(scope["by_reason"].sum()) >= n_rejected


def _readme_queries() -> tuple[list[str], str]:
    """The SQL statements and the pandas block of README's "Querying the manifest"."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    section = text.split("### Querying the manifest", 1)[1].split("\n## ", 1)[0]
    sql = section.split("```sql\n", 1)[1].split("```", 1)[0]
    py = section.split("```python\n", 1)[1].split("```", 1)[0]
    return [q.strip() for q in sql.split(";") if q.strip()], py


def _to_schema_1(out: str, run_id: str) -> list[int]:
    """Rewrite a run's manifest as a version before schema 2 wrote it: one hive folder per
    shard, reasons joined with "; ", mask flags with ",", "" for missing, no held_back."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipelines.nightly import manifest

    shards = sorted(manifest.finished_shards(out, run_id))
    for shard in shards:
        rows = manifest.read_part(out, run_id, shard).to_pylist()
        for r in rows:
            r["reasons"] = "; ".join(r["reasons"])
            r["mask_flags"] = ",".join(r["mask_flags"])
            del r["held_back"]
            for k, v in r.items():
                if v is None and manifest.SCHEMA.field(k).type == pa.string():
                    r[k] = ""
        fields = [f for f in manifest.SCHEMA if f.name != "held_back"]
        fields = [pa.field(f.name, pa.string()) if f.name in ("reasons", "mask_flags") else f
                  for f in fields]  # fmt: skip
        legacy = manifest.legacy_part_uri(out, run_id, shard)
        os.makedirs(os.path.dirname(legacy))
        pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema(fields)), legacy)
        os.remove(manifest.part_uri(out, run_id, shard))
    return shards


def test_older_runs_still_read_verify_and_rerun(tmp_path, ray_local, small_catalogue):
    from pipelines.nightly import manifest

    out = str(tmp_path / "out")
    cat = os.path.join(small_catalogue, "images")
    args = ["--images", cat, "--styles", STYLES_DEMO, "-o", out, "--shards", "2"]
    assert main(["-q", "nightly", *args, "--run-id", "old"]) == 0
    new_rows = manifest.read_manifest(out, "old").to_pylist()
    shards = _to_schema_1(out, "old")
    assert manifest.finished_shards(out, "old") == set(shards)
    old_rows = manifest.read_manifest(out, "old").to_pylist()  # read back in schema 2
    key = lambda r: r["image_id"]  # noqa: E731
    assert sorted(old_rows, key=key) == sorted(new_rows, key=key)
    assert main(["-q", "verify", "-o", out, "--run-id", "old"]) == 0
    assert main(["-q", "rerun", "-o", out, "--run-id", "old", "--shard", str(shards[0])]) == 0
    assert os.path.exists(manifest.part_uri(out, "old", shards[0]))  # rewritten as schema 2
    assert not os.path.exists(os.path.dirname(manifest.legacy_part_uri(out, "old", shards[0])))
    assert len(manifest.read_manifest(out, "old")) == len(new_rows)
    assert main(["-q", "verify", "-o", out, "--run-id", "old"]) == 0


def test_no_address_starts_a_local_ray_even_beside_another_cluster():
    """Without --address, a command starts its own Ray, even when the machine's
    ray_current_cluster file names another cluster (a `ray start` head, or a test's
    cluster_utils.Cluster). Ray's own default would attach to that cluster, and the
    command would plan on it and shut it down as its own."""
    import shutil
    import subprocess
    import sys
    import tempfile

    root = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # short: Ray's socket paths
    try:
        os.makedirs(os.path.join(root, "ray"))
        with open(os.path.join(root, "ray", "ray_current_cluster"), "w") as f:
            f.write("127.0.0.1:9")  # nothing listens there
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        env["RAY_TMPDIR"] = root
        code = (
            "import ray\n"
            "from pipelines.ray_session import init_ray\n"
            "assert init_ray(None)\n"
            "print('gcs', ray.get_runtime_context().gcs_address)\n"
            "ray.shutdown()\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180
        )
        assert out.returncode == 0, out.stderr[-2000:]
        gcs = [line for line in out.stdout.splitlines() if line.startswith("gcs ")]
        assert gcs and not gcs[0].endswith(":9"), out.stdout
    finally:
        shutil.rmtree(root, ignore_errors=True)
