"""The nightly's placement, planned on the node shapes the cluster files in infra/ ask
for: every actor fits, GPU stages share GPUs without stranding each other, an autoscaling
cluster is asked for its GPUs, and what cannot fit is refused before anything starts."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from pipelines.nightly.runconfig import NightlyConfig
from pipelines.placement.cluster import (
    ClusterShape,
    Node,
    node_types_for,
    shape_from,
    types_from_launcher_yaml,
)
from pipelines.placement.fit import Fit, fit_on, pack
from pipelines.placement.resources import NodeType, ResourceConfig
from pipelines.placement.sizing import plan_placement
from stylecore.config import ConfigError, build
from tests.infra_shapes import INFRA, KUBERAY, kuberay_shape, launcher_shape, load

NIGHTLY = os.path.join(KUBERAY, "rayjob-nightly.yaml")
RAYCLUSTER = os.path.join(KUBERAY, "raycluster.yaml")
AWS = os.path.join(INFRA, "cluster-aws.yaml")


def _gpus(pl) -> float:
    return sum(b.get("GPU", 0.0) for b in pl.bundles())


def test_the_old_split_plan_cannot_fit_the_nightly_rayjob():
    """Issue 19's defect, as the packer sees it: 4 segmentation actors at 0.25 GPU plus 4
    transfer actors at 1 GPU need 5 GPUs; the RayJob has 4."""
    nodes = kuberay_shape(NIGHTLY).possible
    old = [{"CPU": 2.5, "GPU": 0.25}] * 4 + [{"CPU": 2.5, "GPU": 1.0}] * 4
    assert not pack(old, nodes)
    assert pack(old[4:], nodes)  # the transfer actors alone fit


SPLIT_8X1 = {"transfer": (2.5, 0.75), "segment": (2.5, 0.25), "check": (2.5, 0.0)}


def test_nightly_rayjob_pairs_transfer_and_segmentation_on_each_gpu():
    """The default with GPUs: per GPU one transfer actor (0.75), one segmentation actor
    (0.25) and a check actor, each with a third of what the node leaves after reads."""
    pl = plan_placement(ResourceConfig(), kuberay_shape(NIGHTLY))
    assert pl.layout == "split" and pl.reserve and not pl.scale_up
    got = {s.name: (s.actors, s.cpus, s.gpus) for s in pl.stages}
    assert got == {k: (4, *v) for k, v in SPLIT_8X1.items()}
    assert _gpus(pl) == 4 == pl.gpus and pl.threads == 2
    assert pack([*pl.bundles(), {"CPU": 0.25}], kuberay_shape(NIGHTLY).possible)


def test_fused_layout_gets_one_actor_per_gpu():
    pl = plan_placement(ResourceConfig(layout="fused"), kuberay_shape(NIGHTLY))
    (stage,) = pl.stages
    assert (stage.actors, stage.gpus, stage.cpus, pl.threads) == (4, 1.0, 7.5, 7)
    assert pl.reserve and _gpus(pl) == 4


def test_autoscaling_raycluster_plans_for_the_gpus_it_may_add():
    up_two = kuberay_shape(RAYCLUSTER)  # 2 GPU pods up, 8 at most
    pl = plan_placement(ResourceConfig(), up_two)
    assert pl.actors == 8 and _gpus(pl) == 8 and pl.scale_up and len(pl.bundles()) == 24
    capped = plan_placement(ResourceConfig(max_gpus=2), up_two)
    assert capped.actors == 2 and not capped.scale_up  # what is up is enough
    from_zero = kuberay_shape(RAYCLUSTER, start="minReplicas")
    assert [n for n in from_zero.alive if n.gpus] == []
    pl0 = plan_placement(ResourceConfig(), from_zero)
    assert pl0.actors == 8 and pl0.scale_up and pl0.stage("transfer").gpus == 0.75


def test_cluster_launcher_from_zero_workers_asks_for_its_gpu_workers():
    shape = launcher_shape(AWS)
    assert [n.cpus for n in shape.alive] == [0.0]  # the head only: no CPU, no GPU
    assert sum(n.gpus for n in shape.addable) == 8  # gpu_worker max_workers
    assert len(shape.addable) <= load(AWS)["max_workers"]
    pl = plan_placement(ResourceConfig(), shape)
    assert pl.scale_up and pl.actors == 8 and _gpus(pl) == 8
    assert {s.name: (s.cpus, s.gpus) for s in pl.stages} == SPLIT_8X1
    # a global cap lower than the GPU type's own bounds what may be added
    types, _ = types_from_launcher_yaml(load(AWS))
    assert sum(n.gpus for n in shape_from(list(shape.alive), types, 3).addable) == 3


def test_what_cannot_fit_is_refused_with_what_to_change():
    shape = kuberay_shape(NIGHTLY)
    with pytest.raises(ConfigError, match=r"5 transfer actor\(s\) x .* do not fit .*resources"):
        plan_placement(ResourceConfig(actors=5), shape)
    with pytest.raises(ConfigError, match=r"5 restyle actor\(s\) x .* do not fit"):
        plan_placement(ResourceConfig(actors=5, layout="fused"), shape)
    with pytest.raises(ConfigError, match="do not fit"):
        plan_placement(ResourceConfig(actor_cpus=9), shape)
    cpu_only = shape_from([Node("up", 2.0)], [])
    with pytest.raises(ConfigError, match="no GPU and can add none"):
        plan_placement(ResourceConfig(gpus_per_actor=1), cpu_only)
    with pytest.raises(ConfigError, match="no autoscaler node types known"):
        plan_placement(ResourceConfig(actors=3, actor_cpus=1), cpu_only)
    with pytest.raises(ConfigError, match="fraction 1/n"):
        build(NightlyConfig, {"resources": {"gpus_per_actor": 0.3}})


def test_fractional_gpus_pack_per_gpu_as_ray_places_them():
    two = [Node("g", 16, 2)]
    assert pack([{"CPU": 1, "GPU": 0.5}] * 4, two)
    assert not pack([{"CPU": 1, "GPU": 0.5}] * 5, two)
    assert not pack([{"CPU": 1, "GPU": 0.75}] * 3, two)  # 0.75 twice does not share a GPU
    assert pack([{"CPU": 1, "GPU": 2}], two) and not pack([{"CPU": 1, "GPU": 2}] * 2, two)
    assert not pack([{"CPU": 9, "GPU": 1}], [Node("g", 8, 1)])


def test_a_two_core_machine_keeps_its_measured_sizing():
    """No GPU, no autoscaler: two single-threaded actors sharing what reads leave (the
    layout bench/bench_pipeline.py measured)."""
    local = shape_from([Node("up", 2.0)], [])
    pl = plan_placement(ResourceConfig(), local)
    assert (pl.layout, pl.actors, pl.actor_cpus, pl.threads) == ("fused", 2, 0.75, 1)
    assert not pl.reserve and not pl.scale_up and pl.actor_gpus == 0
    split = plan_placement(ResourceConfig(layout="split"), local)
    assert [s.name for s in split.stages] == ["segment", "transfer", "check"]
    assert split.actor_cpus == 0.25


def test_node_types_come_from_config_env_or_the_launcher_file(monkeypatch):
    monkeypatch.delenv("RESTYLE_NODE_TYPES", raising=False)
    monkeypatch.setenv("RESTYLE_AUTOSCALER_CONFIG", AWS)
    types, cap, source = node_types_for(ResourceConfig())
    assert cap == 12 and AWS in source
    assert {t.name: (t.cpus, t.gpus, t.max) for t in types} == {
        "gpu_worker": (8.0, 1, 8),
        "cpu_worker": (16.0, 0, 4),
    }
    monkeypatch.setenv("RESTYLE_NODE_TYPES", json.dumps([{"name": "g", "cpus": 4, "gpus": 1}]))
    types, _, source = node_types_for(ResourceConfig())
    assert source == "RESTYLE_NODE_TYPES" and types == [NodeType("g", 4.0, 1)]
    res = build(ResourceConfig, {"node_types": [{"name": "x", "cpus": 2, "max": 3}]})
    assert node_types_for(res) == ([NodeType("x", 2.0, 0, 0.0, 3)], 0, "resources.node_types")
    monkeypatch.setenv("RESTYLE_NODE_TYPES", "{not json")
    with pytest.raises(ConfigError, match="RESTYLE_NODE_TYPES"):
        node_types_for(ResourceConfig())


@pytest.mark.usefixtures("ray_local")
def test_training_that_cannot_fit_the_largest_cluster_is_refused(monkeypatch):
    from pipelines.training.config import DistConfig
    from pipelines.training.runner import fit_to_cluster

    monkeypatch.setenv(
        "RESTYLE_NODE_TYPES", json.dumps([{"name": "gpu", "cpus": 8, "gpus": 1, "max": 4}])
    )
    fits = DistConfig(workers=4, cpus_per_worker=4, gpus_per_worker=1)
    assert fit_to_cluster(fits, cpus_given=True, local=False) == fits  # waits for the nodes
    with pytest.raises(ConfigError, match="cannot fit the cluster even at its largest"):
        fit_to_cluster(DistConfig(workers=5, cpus_per_worker=4, gpus_per_worker=1), True, False)
    with pytest.raises(ConfigError, match="even at its largest"):
        fit_to_cluster(DistConfig(workers=1, cpus_per_worker=9, gpus_per_worker=1), True, False)
    monkeypatch.delenv("RESTYLE_NODE_TYPES")  # no node types known: only a warning
    big = DistConfig(workers=5, cpus_per_worker=4, gpus_per_worker=1)
    assert fit_to_cluster(big, cpus_given=True, local=False) == big


def test_fit_on_now_and_at_the_largest():
    up = (Node("up", 4.0, 1),)
    grown = ClusterShape(up, (Node("gpu", 8.0, 1, alive=False),) * 2, source="test")
    one = [{"CPU": 4.0, "GPU": 1.0}]
    assert fit_on(one, grown) == Fit(True, True, grown)
    three = one * 3
    assert fit_on(three, grown).now is False and fit_on(three, grown).ever is True
    assert fit_on(one * 4, grown).ever is False
    # no node types known: nobody can say whether it will ever fit
    assert fit_on(three, ClusterShape(up)).ever is None


@pytest.mark.usefixtures("ray_local")
def test_serve_that_cannot_fit_the_largest_cluster_is_refused(monkeypatch):
    from pipelines.serve.config import ServeConfig, fit_to_cluster

    monkeypatch.setenv("RESTYLE_NODE_TYPES", json.dumps([{"name": "gpu", "cpus": 8, "max": 2}]))
    wide = ServeConfig(min_replicas=2, max_replicas=2, replica_cpus=8, replica_gpus=0)
    assert fit_to_cluster(wide, cpus_given=True, local=False) == wide  # waits for the nodes
    with pytest.raises(ConfigError, match="even at its largest"):
        fit_to_cluster(dataclasses.replace(wide, replica_cpus=9), True, local=False)
