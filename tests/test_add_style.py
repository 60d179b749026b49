"""`restyle add-style`: a new look on top of a trained model, shared weights frozen, old
styles byte-identical, bad input refused before training."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest
import torch

from pipelines.models import load_style_model
from stylecore.io.codec import decode_image, encode_image
from stylecore.models.generator import Generator, GeneratorConfig, with_adapters
from stylecore.models.style_model import stylize
from stylecore.training.add_style import NewStyles, merge
from tests.test_cli import TINY_STYLE_SETS, cli


def _text(*parts: str) -> str:
    with open(os.path.join(*parts)) as f:
        return f.read().strip()


def _photos(small_catalogue: str, n: int = 2):
    out = []
    for name in sorted(os.listdir(os.path.join(small_catalogue, "images")))[:n]:
        with open(os.path.join(small_catalogue, "images", name), "rb") as f:
            img = decode_image(f.read())[..., :3]
        mask_path = os.path.join(small_catalogue, "masks", name.rsplit(".", 1)[0] + ".png")
        with open(mask_path, "rb") as f:
            mask = decode_image(f.read())
        out.append((name, img, (mask[..., 0] if mask.ndim == 3 else mask) / 255.0))
    return out


def _outputs(model, style: str, photos) -> list[bytes]:
    return [
        encode_image(stylize(model, img, style, noise_key=name, mask=m), "png")
        for name, img, m in photos
    ]


@pytest.mark.parametrize("decoder", [False, True])
def test_merge_keeps_old_rows_and_outputs_bit_for_bit(decoder):
    torch.manual_seed(0)
    cfg = GeneratorConfig(widths=(8, 16, 16), n_res=2, n_styles=2, style_dim=8, residual=True)
    cfg = GeneratorConfig(**{**cfg.__dict__, "mask_input": True, "noise_scales": (1, 4)})
    base = Generator(cfg).eval()
    with torch.no_grad():  # a trained-looking output layer (it starts at zero)
        base.out.weight.normal_(0, 0.1)
        base.tone.weight.normal_(0, 0.1)
    new = NewStyles(base, 1, decoder_adapters=decoder)
    with torch.no_grad():
        new.codes.normal_()
        new.adapter.normal_(0, 0.1)
    merged = merge(base, new, [2])
    assert merged.cfg.n_styles == 3 and merged.cfg.adapters
    assert merged.cfg.decoder_adapters == decoder
    assert torch.equal(merged.codes.weight[:2], base.codes.weight)
    assert torch.count_nonzero(merged.adapter[:2]) == 0
    x, noise = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(2, 1, 32, 32)
    mask = (torch.rand(2, 1, 32, 32) > 0.5).float()
    with torch.no_grad():
        for sid in (0, 1):
            s = torch.tensor([sid, sid])
            assert torch.equal(merged(x, noise, s, mask=mask), base(x, noise, s, mask=mask))
        s = torch.tensor([0, 0])
        learned = new(x, noise, s, mask=mask)
        assert torch.equal(merged(x, noise, torch.tensor([2, 2]), mask=mask), learned)
        assert not torch.equal(learned, base(x, noise, s, mask=mask))
        # a batch mixing old and new styles: each row as when alone
        mixed = merged(x, noise, torch.tensor([1, 2]), mask=mask)
        assert torch.equal(mixed[0], base(x, noise, torch.tensor([1, 1]), mask=mask)[0])
        assert torch.equal(mixed[1], learned[1])
    # replacing style 1 changes only its row
    replaced = merge(base, new, [1])
    assert replaced.cfg.n_styles == 2
    assert torch.equal(replaced.codes.weight[0], base.codes.weight[0])
    assert torch.equal(replaced.codes.weight[1], new.codes[0])


def test_add_style_flow(small_catalogue, tmp_path):
    table = os.path.join(small_catalogue, "catalogue.csv")
    styles = os.path.join(small_catalogue, "styles")
    models = str(tmp_path / "models")
    cli(
        "-q", "train", "--local", "--images", table, "--references", os.path.join(styles, "marble"),
        os.path.join(styles, "geometric"), "--out", models, "--name", "shop", "--steps", "2",
        *TINY_STYLE_SETS,
    )  # fmt: skip
    root = os.path.join(models, "shop")
    base_version = _text(root, "LATEST")
    add = ["-q", "add-style", "--model", root, "--images", table, "--out", root]
    res = cli(
        *add,
        "--references",
        os.path.join(styles, "wood"),
        "--steps",
        "2",
        "--checkpoint-every",
        "1",
    )
    assert "added wood to " + base_version in res.stdout
    version = _text(root, "LATEST")
    assert version.startswith(base_version + "_a")
    card = json.loads(_text(root, version, "model.json"))
    assert card["style_ids"] == ["marble", "geometric", "wood"]
    added = card["added_styles"][-1]
    assert added["base_version"] == base_version and added["steps"] == 2
    assert added["style_ids"] == ["wood"] and len(added["reference_sha256"]["wood"]) >= 3
    assert added["train_minutes"] >= 0 and added["replaced"] == []

    base = load_style_model(os.path.join(root, base_version))
    new = load_style_model(root)  # LATEST
    assert new.version == version and set(new.stats) == {"marble", "geometric", "wood"}
    photos = _photos(small_catalogue)
    for sid in ("marble", "geometric"):  # old styles: byte-identical outputs
        assert _outputs(new, sid, photos) == _outputs(base, sid, photos)
    assert _outputs(new, "wood", photos) != _outputs(new, "marble", photos)
    # the shared weights did not move
    shared = {k: v for k, v in base.generator.state_dict().items() if k != "codes.weight"}
    now = new.generator.state_dict()
    assert all(torch.equal(v, now[k]) for k, v in shared.items())
    size = lambda v: os.path.getsize(os.path.join(root, v, "generator.safetensors"))  # noqa: E731
    assert size(version) <= 1.05 * size(base_version)

    # resume continues from the checkpoint (step 2) to step 3
    res = cli(*add, "--references", os.path.join(styles, "wood"), "--steps", "3", "--resume",
               "--model", os.path.join(root, base_version))  # fmt: skip
    assert "(3 steps)" in res.stdout

    # an existing id is refused unless --replace; nothing is written
    latest = _text(root, "LATEST")
    res = cli(*add, "--references", os.path.join(styles, "wood"), "--steps", "1", check=False)
    assert res.returncode == 2 and "already in model" in res.stderr and "--replace" in res.stderr
    assert _text(root, "LATEST") == latest
    res = cli(*add, "--references", os.path.join(styles, "wood"), "--steps", "1", "--replace")
    replaced = load_style_model(root)
    assert replaced.style_ids == ["marble", "geometric", "wood"]
    assert _outputs(replaced, "marble", photos) == _outputs(base, "marble", photos)

    # the new version restyles at once (apply reads LATEST)
    img = os.path.join(small_catalogue, "images", sorted(os.listdir(
        os.path.join(small_catalogue, "images")))[0])  # fmt: skip
    res = cli("-q", "apply", img, "--model", root, "--style", "wood", "-o", str(tmp_path / "ap"))
    assert "[wood]" in res.stdout


def test_bad_references_are_refused_before_training(small_catalogue, tmp_path):
    table = os.path.join(small_catalogue, "catalogue.csv")
    root = os.path.join(os.path.dirname(__file__), "..", "models", "style", "multi")
    wood = os.path.join(small_catalogue, "styles", "wood")
    refs = sorted(os.listdir(wood))

    def folder(name: str, files: dict[str, bytes]) -> str:
        d = tmp_path / name
        d.mkdir()
        for f, data in files.items():
            (d / f).write_bytes(data)
        return str(d)

    def read(f: str) -> bytes:
        with open(os.path.join(wood, f), "rb") as fh:
            return fh.read()

    out = str(tmp_path / "out")
    cases = {
        "tiny": (
            folder(
                "tiny",
                {
                    refs[0]: read(refs[0]),
                    refs[1]: read(refs[1]),
                    "small.png": encode_image(np.full((40, 90, 3), 120, np.uint8), "png"),
                },
            ),
            "at least 64 px",
        ),
        "broken": (
            folder("broken", {refs[0]: read(refs[0]), "bad.jpg": read(refs[1])[:200]}),
            "cannot be decoded",
        ),
    }
    for name, (path, message) in cases.items():
        res = cli("-q", "add-style", "--model", root, "--images", table, "--references", path,
                   "--out", out, "--steps", "1", check=False)  # fmt: skip
        assert res.returncode == 1 and message in res.stderr, (name, res.stderr)
    assert not os.path.exists(out)  # nothing trained, nothing written
    # one reference is enough: training sees crops, flips and scales of it
    one = folder("one", {refs[0]: read(refs[0])})
    res = cli("-q", "add-style", "--model", root, "--images", table, "--references", one,
               "--out", out, "--steps", "1", check=False)  # fmt: skip
    assert res.returncode == 0, res.stderr
    shutil.rmtree(tmp_path / "one")


def test_decoder_adapters_change_the_palette_and_widen_older_adapters_exactly():
    """The decoder-norm offsets reach the output's colours (so add-style can learn a
    palette), and an added-styles model of the older layout (adapters without decoder
    offsets) widens to the new one with every style's output unchanged."""
    torch.manual_seed(1)
    cfg = GeneratorConfig(widths=(8, 16, 16), n_res=2, n_styles=2, style_dim=8, residual=True)
    old = Generator(dataclasses.replace(cfg, adapters=True)).eval()
    with torch.no_grad():
        old.out.weight.normal_(0, 0.1)
        old.adapter.normal_(0, 0.1)
    wide = with_adapters(old, decoder=True)
    assert wide.adapter_dim == old.adapter_dim + 2 * (16 + 8)
    x, noise = torch.rand(2, 3, 32, 32) * 2 - 1, torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        for sid in (0, 1):
            s = torch.tensor([sid, sid])
            assert torch.equal(wide(x, noise, s), old(x, noise, s))
        # shifting one decoder channel's norm moves the output's mean colour
        before = wide(x, noise, torch.tensor([0, 0])).mean(dim=(0, 2, 3))
        wide.adapter[0, old.adapter_dim + 2 * 16 + 8 :] += 1.0  # the last norm's shifts
        after = wide(x, noise, torch.tensor([0, 0])).mean(dim=(0, 2, 3))
    assert (after - before).abs().max() > 1e-3
    with pytest.raises(ValueError, match="needs adapters"):
        GeneratorConfig(decoder_adapters=True)


@pytest.mark.usefixtures("ray_local")
def test_add_style_on_two_ray_train_workers(small_catalogue, tmp_path, s3_bucket):
    """`add-style --workers 2`: data-parallel on Ray Train, a worker process killed at step
    3 and restarted from the step-2 checkpoint, the new version written to object storage
    with the old styles byte-identical, and --resume extending the run."""
    from jobs.cli import main
    from pipelines import storage
    from pipelines.add_style import run_name

    table = os.path.join(small_catalogue, "catalogue.csv")
    styles = os.path.join(small_catalogue, "styles")
    models = str(tmp_path / "models")
    base_styles = [os.path.join(styles, "marble"), os.path.join(styles, "geometric")]
    train = ["-q", "train", "--local", "--images", table, "--references", *base_styles]
    assert main([*train, "--out", models, "--name", "shop", "--steps", "2", *TINY_STYLE_SETS]) == 0
    base = load_style_model(os.path.join(models, "shop"))
    out = f"{s3_bucket}/shop"
    add = ["-q", "add-style", "--model", os.path.join(models, "shop"), "--images", table,
           "--references", os.path.join(styles, "wood"), "--out", out, "--workers", "2",
           "--checkpoint-every", "2", "--cpus-per-worker", "0.5", "--set",
           "dist.keep_checkpoints=0", "--set", "dist.no_progress_timeout_s=300"]  # fmt: skip
    faulty = ["--max-failures", "1", "--set", "dist.fault_at_step=3"]
    assert main([*add, "--steps", "4", *faulty, "--set", "dist.fault_kind=sigkill"]) == 0

    run = storage.join(out, "ray-train", run_name(base.version, ["wood"]))
    assert storage.read_bytes(run + ".fault-injected") == b"sigkill"

    def steps() -> list[int]:
        names = sorted(d for d in storage.list_dirs(run) if d.startswith("checkpoint_"))
        return [int(storage.read_bytes(storage.join(run, n, "step.txt"))) for n in names]

    assert steps() == [2, 4]
    new = load_style_model(out)
    assert new.style_ids == ["marble", "geometric", "wood"]
    added = new.card["added_styles"][-1]
    assert added["steps"] == 4 and added["workers"] == 2 and added["global_batch"] == 4
    assert added["base_version"] == base.version and added["style_ids"] == ["wood"]
    photos = _photos(small_catalogue)
    for sid in ("marble", "geometric"):
        assert _outputs(new, sid, photos) == _outputs(base, sid, photos)
    assert _outputs(new, "wood", photos) != _outputs(new, "marble", photos)
    shared = {k: v for k, v in base.generator.state_dict().items() if k != "codes.weight"}
    now = new.generator.state_dict()
    assert all(torch.equal(v, now[k]) for k, v in shared.items())

    # an existing run is not silently restarted; --resume extends it to step 6
    assert main([*add, "--steps", "6"]) == 1
    assert main([*add, "--steps", "6", "--resume"]) == 0
    assert steps() == [2, 4, 6]
    extended = load_style_model(out)
    assert extended.card["added_styles"][-1]["steps"] == 6
    assert extended.version != new.version
    assert _outputs(extended, "marble", photos) == _outputs(base, "marble", photos)
