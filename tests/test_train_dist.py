"""`restyle train --workers`: data-parallel training on Ray Train with 2 CPU workers,
checkpoints on a real S3-compatible server, a worker fault survived, --resume, and the
exported model used by `restyle apply`. (Two Ray Train fits: the CI budget allows it.)"""

from __future__ import annotations

import io
import os

import pytest
import torch

from jobs.cli import main
from pipelines import storage
from pipelines.models import load_style_model

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.join(HERE, "data", "tiny_train.yaml")


def checkpoint_steps(models: str) -> list[int]:
    """The step of every checkpoint Ray Train kept, in the order they were written."""
    run = storage.join(models, "multi", "ray-train", "multi-train")
    names = sorted(d for d in storage.list_dirs(run) if d.startswith("checkpoint_"))
    return [int(storage.read_bytes(storage.join(run, n, "step.txt"))) for n in names]


@pytest.fixture(scope="module")
def trained(small_catalogue, s3_endpoint, ray_local, tmp_path_factory):
    """One run to step 8 whose last worker's process is SIGKILLed at step 5 (as the OOM
    killer would), checkpoints to s3."""
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=s3_endpoint, skip_instance_cache=True)
    fs.mkdir("train-models")
    models = "s3://train-models/models"
    styles = [os.path.join(small_catalogue, "styles", s) for s in ("wood", "marble")]
    args = ["-q", "train", "--workers", "2", "--images"]
    args += [os.path.join(small_catalogue, "catalogue.csv"), "--references", *styles]
    args += ["--out", models, "--steps", "8", "--checkpoint-every", "2", "--config", TINY]
    args += ["--max-failures", "1", "--set", "dist.fault_kind=sigkill"]
    args += ["--set", "dist.fault_at_step=5"]
    args += ["--set", "dist.keep_checkpoints=0"]
    code = main(args)
    return code, models, args, styles


def test_two_workers_survive_a_fault_and_checkpoint_to_s3(trained):
    code, models, _, _ = trained
    assert code == 0
    # The fault really happened (its marker), and training went on from the step-4
    # checkpoint: every checkpoint number once, none skipped.
    marker = storage.join(models, "multi", "ray-train", "multi-train.fault-injected")
    assert storage.read_bytes(marker) == b"sigkill"
    assert checkpoint_steps(models) == [2, 4, 6, 8]
    model = load_style_model(storage.join(models, "multi"))
    assert model.version.startswith("s8-")
    assert model.style_ids == ["wood", "marble"]
    assert model.card["workers"] == 2 and model.card["global_batch"] == 4
    # TensorBoard events travel next to the model.
    events = storage.list_files(storage.join(models, "multi", "tensorboard"))
    assert events and all("tfevents" in f.uri for f in events)


def test_a_killed_worker_ends_where_an_uninterrupted_run_does(trained):
    """The run that lost a worker process at step 5 and restarted from the step-4
    checkpoint ends with the losses of the same training run undisturbed."""
    code, models, args, _ = trained
    assert code == 0
    clean = "s3://train-models/clean"
    plain = [a for a in args if a not in ("dist.fault_at_step=5", "dist.fault_kind=sigkill")]
    plain = [a for i, a in enumerate(plain) if not (a == "--set" and plain[i + 1] == "--set")]
    plain[plain.index("--out") + 1] = clean
    assert main(plain) == 0
    assert not storage.exists(
        storage.join(clean, "multi", "ray-train", "multi-train.fault-injected")
    )
    faulty = load_style_model(storage.join(models, "multi")).card["final_losses"]
    undisturbed = load_style_model(storage.join(clean, "multi")).card["final_losses"]
    print("final losses, killed worker vs undisturbed:", faulty, undisturbed)
    # Bit-identical: each rank always has the same photos (RankedImages), and every rank's
    # data position and RNG are in the checkpoint.
    assert faulty == undisturbed


def test_the_exported_model_works_in_apply(trained, small_catalogue, tmp_path):
    _, models, _, _ = trained
    out = str(tmp_path / "apply")
    photo = os.path.join(small_catalogue, "images", "0000-bottle.jpg")
    code = main(
        ["-q", "apply", photo, "--model", f"{models}/multi", "--style", "marble", "-o", out]
    )
    assert code == 0
    assert os.path.exists(os.path.join(out, "0000-bottle.marble.jpg"))


def test_resume_continues_a_stopped_run(trained):
    code, models, args, _ = trained
    assert code == 0
    # Without --resume an existing run is refused, not silently continued or restarted.
    assert main([*args[:-4], "--steps", "10"]) == 1
    more = [a for a in args if a not in ("dist.fault_at_step=5",)]
    more = [*more[: more.index("--set")], "--set", "dist.keep_checkpoints=0"]
    more[more.index("--steps") + 1] = "10"
    assert main([*more, "--resume"]) == 0
    assert checkpoint_steps(models) == [2, 4, 6, 8, 10]
    assert load_style_model(storage.join(models, "multi")).version.startswith("s10-")
    run = storage.join(models, "multi", "ray-train", "multi-train")
    last = sorted(d for d in storage.list_dirs(run) if d.startswith("checkpoint_"))[-1]
    saved = torch.load(
        io.BytesIO(storage.read_bytes(storage.join(run, last, "state.pt"))), weights_only=True
    )
    assert saved["step"] == 10 and len(saved["ranks"]) == 2  # every rank's data position


@pytest.mark.usefixtures("ray_local")
def test_segmenter_trains_on_two_workers_and_loads(small_catalogue, tmp_path):
    out = str(tmp_path / "seg")
    table = os.path.join(small_catalogue, "catalogue.csv")
    args = ["-q", "train-segmenter", "--images", table, "--out", out, "--workers", "2"]
    args += ["--cpus-per-worker", "0.5", "--steps", "4", "--batch-size", "2"]
    args += ["--checkpoint-every", "2", "--set", "crop=64", "--set", "input_size=96"]
    args += ["--set", "base_channels=4", "--set", "depth=2"]
    assert main(args) == 0
    run = storage.join(out, "ray-train", "segmenter-train")
    names = sorted(d for d in storage.list_dirs(run) if d.startswith("checkpoint_"))
    assert [int(storage.read_bytes(storage.join(run, n, "step.txt"))) for n in names][-1] == 4
    masks = str(tmp_path / "masks")
    photo = os.path.join(small_catalogue, "images", "0000-bottle.jpg")
    assert main(["-q", "segment", photo, "-o", masks, "--segmenter", "unet", "--model", out]) == 0
    assert os.listdir(masks)
