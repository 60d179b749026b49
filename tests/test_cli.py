import os
import subprocess
import sys

BIN = os.path.join(os.path.dirname(sys.executable), "restyle")


def _run(*args, check=True):
    return subprocess.run([BIN, *args], capture_output=True, text=True, check=check, timeout=300)


def test_help_lists_subcommands():
    out = _run("--help").stdout
    assert "sample-catalogue" in out
    assert "restyle" in out.lower()


def test_sample_catalogue_help_explains_itself():
    out = _run("sample-catalogue", "--help").stdout
    for flag in ("--count", "--seed", "--config", "--set", "OUT"):
        assert flag in out
    assert "shadow" in out  # the mask convention is stated where users look


def test_sample_catalogue_runs_and_logs_with_context(tmp_path):
    res = _run(
        "sample-catalogue", str(tmp_path / "c"), "--count", "2", "--seed", "3", "--no-contact-sheet"
    )
    assert "wrote 2 photos" in res.stdout
    assert "INFO" in res.stderr
    assert sorted(os.listdir(tmp_path / "c" / "images")) == ["0000-bottle.jpg", "0001-mug.png"]
    assert not (tmp_path / "c" / "contact_sheet.png").exists()


def test_bad_config_key_exits_2_naming_it(tmp_path):
    res = _run("sample-catalogue", str(tmp_path / "c"), "--set", "cuont=3", check=False)
    assert res.returncode == 2
    assert "cuont" in res.stderr
    res = _run("sample-catalogue", str(tmp_path / "c"), "--count", "0", check=False)
    assert res.returncode == 2
    assert "count=0" in res.stderr


def test_segment_eval_and_train_segmenter_commands(small_catalogue, tmp_path):
    img = os.path.join(small_catalogue, "images", "0000-bottle.jpg")
    res = _run("-q", "segment", img, "-o", str(tmp_path / "seg"))
    assert "0000-bottle: coverage" in res.stdout
    assert sorted(os.listdir(tmp_path / "seg")) == [
        "0000-bottle.mask.png",
        "0000-bottle.overlay.jpg",
    ]

    res = _run(
        "-q",
        "eval-segmentation",
        "--images",
        os.path.join(small_catalogue, "catalogue.csv"),
        "--json",
        str(tmp_path / "e.json"),
    )
    assert "method edge: 14 images" in res.stdout
    for cat in ("bottle", "mug", "watch", "all"):
        assert cat in res.stdout
    assert (tmp_path / "e.json").exists()

    res = _run(
        "-q",
        "train-segmenter",
        "--images",
        os.path.join(small_catalogue, "images"),
        "--masks",
        os.path.join(small_catalogue, "masks"),
        "--out",
        str(tmp_path / "m"),
        "--steps",
        "3",
        "--batch-size",
        "2",
        "--set",
        "input_size=64",
        "--set",
        "base_channels=4",
        "--set",
        "depth=2",
        "--set",
        "crop=48",
    )
    assert "trained 3 steps" in res.stdout
    res = _run(
        "-q",
        "segment",
        img,
        "-o",
        str(tmp_path / "seg2"),
        "--method",
        "unet",
        "--model",
        str(tmp_path / "m"),
    )
    assert "0000-bottle: coverage" in res.stdout


def test_segment_reports_a_missing_model(tmp_path):
    res = _run(
        "segment",
        "x.jpg",
        "-o",
        str(tmp_path),
        "--method",
        "unet",
        "--model",
        str(tmp_path / "nope"),
        check=False,
    )
    assert res.returncode != 0
    assert "missing" in res.stderr
