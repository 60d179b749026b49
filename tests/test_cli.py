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
