"""Every cluster file's resource shape schedules all of its actors and workers, on a
``ray.cluster_utils.Cluster`` built to the same node shapes (fake GPUs), and a cluster
that starts with no workers gets the nightly's GPU request. The steps are in
``tests/cluster_sim.py``, run in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("sim") / "result.json"
    env = {**os.environ, "PYTHONPATH": ROOT, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "tests.cluster_sim", str(out)],
        capture_output=True, text=True, timeout=900, cwd=ROOT, env=env,
    )  # fmt: skip
    result = json.loads(out.read_text()) if out.exists() else {}
    assert proc.returncode == 0, (result, proc.stderr[-4000:])
    return result


def _all_placed(step: dict) -> None:
    for name, (actors, _, gpus) in step["stages"].items():
        placed = step["placed"][name]
        assert len(placed) == actors, name
        if gpus:
            assert all(gpu_ids for _, gpu_ids in placed), name  # each got its GPU
            per_gpu = {}
            for node, gpu_ids in placed:
                for g in gpu_ids:
                    per_gpu[(node, g)] = per_gpu.get((node, g), 0) + gpus
            assert max(per_gpu.values()) <= 1.0 + 1e-9


pytestmark = pytest.mark.slow

# The default on 8-CPU, 1-GPU nodes: per GPU a transfer, a segmentation and a check actor.
SPLIT_8 = {"transfer": [8, 2.5, 0.75], "segment": [8, 2.5, 0.25], "check": [8, 2.5, 0.0]}
REQUEST_8 = [{"CPU": 2.5, "GPU": 0.75}] * 8 + [{"CPU": 2.5, "GPU": 0.25}] * 8 + [{"CPU": 2.5}] * 8


def test_zero_worker_launcher_cluster_asks_for_gpus_and_places_them(sim):
    step = sim["cluster-aws"]
    assert step["scale_up"] and "cluster-aws.yaml" in step["source"]
    assert step["stages"] == SPLIT_8
    assert step["requested"] == REQUEST_8  # in the channel the autoscaler reads
    assert step["added"] == 8
    _all_placed(step)
    assert len({node for node, _ in step["placed"]["transfer"]}) == 8  # one per GPU node
    assert step["request_after"] == []  # the standing request is cleared after the run


@pytest.mark.parametrize("layout", ["fused", "split"])
def test_nightly_rayjob_places_every_actor(sim, layout):
    step = sim["rayjob-nightly.yaml"][layout]
    assert not step["scale_up"] and step["source"] == "RESTYLE_NODE_TYPES"
    assert step["shape"] == [[0.0, 0]] + [[8.0, 1]] * 4
    _all_placed(step)
    # rows through Ray Data's actor pools, built with the nightly's own arguments
    assert sorted(r["id"] for r in step["data"]) == list(range(16))
    for name, (_, _, gpus) in step["stages"].items():
        ran_on = {r[name] for r in step["data"]}
        assert all(not gpus or not w.endswith("/") for w in ran_on), (name, ran_on)
    if layout == "split":
        # each GPU holds exactly one transfer and one segmentation actor
        t = sorted(map(tuple, step["placed"]["transfer"]))
        s = sorted(map(tuple, step["placed"]["segment"]))
        assert [(n, tuple(g)) for n, g in t] == [(n, tuple(g)) for n, g in s]
        assert len(set(map(tuple, (x[0] for x in t)))) == 4


def test_training_rayjob_worker_group_is_placed(sim):
    step = sim["rayjob-train.yaml"]
    assert step["ready"] and step["data"] == 1
    assert step["workers"] == 4 and step["bundle"] == {"CPU": 4.0, "GPU": 1.0}


def test_rayservice_places_its_most_replicas(sim):
    step = sim["rayservice.yaml"]
    assert len(step["placed"]) == step["replicas"] == 4
    assert step["options"]["num_gpus"] == 1
    assert len({node for node, _ in step["placed"]}) == 4


def test_autoscaling_raycluster_gets_the_gpus_it_may_add(sim):
    step = sim["raycluster.yaml"]
    assert step["scale_up"] and step["stages"] == SPLIT_8
    assert step["requested"] == REQUEST_8
    assert step["added"] == 6  # 2 GPU pods were up
    _all_placed(step)
