"""No silent hangs: a training job checks that its workers and its data loading fit the
cluster before it starts, and README's example runs with its default resources."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipelines.training.config import DistConfig
from pipelines.training.runner import fit_to_cluster
from stylecore.config import ConfigError

BIN = os.path.join(os.path.dirname(sys.executable), "restyle")


@pytest.mark.usefixtures("ray_local")
def test_workers_are_sized_to_fit_or_refused_with_what_to_change():
    import ray

    assert ray.cluster_resources()["CPU"] == 2
    default = DistConfig(workers=2)  # 2 x 1 CPU + 0.25 for data > 2: the README hang
    fitted = fit_to_cluster(default, cpus_given=False, local=True)
    assert fitted.workers == 2 and fitted.cpus_per_worker == 0.75
    with pytest.raises(ConfigError, match=r"--cpus-per-worker 0.75 or --workers 1"):
        fit_to_cluster(default, cpus_given=True, local=True)
    with pytest.raises(ConfigError, match=r"GPU"):
        fit_to_cluster(DistConfig(workers=1, gpus_per_worker=1), cpus_given=False, local=True)
    with pytest.raises(ConfigError, match=r"a cluster"):
        fit_to_cluster(DistConfig(workers=8, cpus_per_worker=4), cpus_given=True, local=True)
    # on an existing cluster more nodes may be coming (an autoscaler): warn, do not change
    assert fit_to_cluster(default, cpus_given=True, local=False) == default
    fits = DistConfig(workers=2, cpus_per_worker=0.5)
    assert fit_to_cluster(fits, cpus_given=True, local=True) is fits


TINY_TRAIN = [
    *("--set", "train.crop=32", "--set", "train.batch_size=2", "--set", "train.gram_samples=2"),
    *("--set", "train.generator.widths=[8, 16, 16]", "--set", "train.generator.n_res=1"),
    *("--set", "train.generator.style_dim=8", "--set", "train.reverse.widths=[4, 8, 8]"),
    *("--set", "train.reverse.n_res=1", "--set", "train.reverse.style_dim=8"),
    *("--set", "train.discriminator.base=8", "--set", "train.discriminator.n_scales=1"),
]


def test_readme_train_example_runs_with_its_default_resources(small_catalogue, tmp_path):
    """`restyle train --workers 2 ...` as README gives it, on this machine's own local Ray
    (started by the command, default --cpus-per-worker): it used to wait forever."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    style = os.path.join(small_catalogue, "styles", "wood")
    res = subprocess.run(
        [BIN, "train", "--workers", "2", "--images", os.path.join(small_catalogue, "images"),
         "--references", style, "--out", str(tmp_path / "models"), "--steps", "2", *TINY_TRAIN],
        capture_output=True, text=True, timeout=900, env=env,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert "trained to step 2 on 2 worker(s)" in res.stdout
    assert "using --cpus-per-worker 0.75" in res.stderr or os.cpu_count() > 2


@pytest.mark.usefixtures("ray_local")
def test_the_training_watchdog_stops_a_run_that_makes_no_progress():
    """The watchdog around ``trainer.fit()``: silence for longer than the timeout interrupts
    the main thread with a message; steps reported through the beacon keep it quiet."""
    import time

    from pipelines.training.watchdog import Watchdog, beat

    t0 = time.time()
    with pytest.raises(KeyboardInterrupt), Watchdog(3.0, "training t") as dog:
        while time.time() - t0 < 60:  # stands for a fit() that never gets to step 1
            time.sleep(0.05)
    assert time.time() - t0 < 30
    assert "no progress for" in dog.fired and "before the first step" in dog.fired

    t0 = time.time()
    with Watchdog(4.0, "training t") as dog:
        for step in range(12):  # a run that reports a step every half second
            beat({"beacon": dog.name}, step)
            time.sleep(0.5)
    assert not dog.fired
