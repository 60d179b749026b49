"""Schedules what each cluster file in infra/ would run, on a ``ray.cluster_utils.Cluster``
with the same node shapes (fake GPU resources), and writes what happened to a JSON file.

Run by ``tests/test_infra_sim.py`` in its own process (a Cluster cannot share a process
with the session's Ray): ``python -m tests.cluster_sim OUT.json``.

Steps, on one cluster reshaped between them (nodes added or removed to match each file):
1. ``cluster-aws.yaml`` as `ray up` leaves it: the head alone, no workers. The nightly's
   placement reads the launcher file, asks the autoscaler for its GPU actors; this script
   then plays the autoscaler (adds the nodes the standing request needs, of the file's
   node types) and the actors must all start.
2. ``rayjob-nightly.yaml``: fused and split layouts, every actor placed.
3. ``rayjob-train.yaml``: the Train worker group's placement group plus a data task.
4. ``rayservice.yaml`` at its largest: every Serve replica placed.
5. ``raycluster.yaml`` as applied (2 GPU pods up of 8): asks for 6 more, then all placed.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import threading
import time

import ray
import yaml
from ray.cluster_utils import Cluster

from pipelines.nightly.run import actor_pool_args
from pipelines.placement.reserve import Reservation, reserve
from pipelines.placement.resources import ResourceConfig
from pipelines.placement.sizing import plan_for_cluster
from tests.infra_shapes import (
    INFRA,
    KUBERAY,
    head_env,
    kuberay_shape,
    launcher_shape,
    load,
    ray_cluster_spec,
)

OBJECT_STORE = 80 * 1024 * 1024


@ray.remote
class Probe:
    """Stands in for a stage's actor: same resources, same placement, no model."""

    def where(self):
        ctx = ray.get_runtime_context()
        return ctx.get_node_id(), [str(g) for g in ray.get_gpu_ids()]


class Sim:
    def __init__(self):
        self.cluster = Cluster(
            initialize_head=True,
            head_node_args={"num_cpus": 0, "object_store_memory": OBJECT_STORE},
        )
        self.workers: list = []  # (node, (cpus, gpus))
        ray.init(address=self.cluster.address, include_dashboard=False, log_to_driver=False)

    def shape(self) -> list[tuple[float, int]]:
        return sorted(
            (float(n["Resources"].get("CPU", 0)), int(n["Resources"].get("GPU", 0)))
            for n in ray.nodes()
            if n["Alive"]
        )

    def add(self, cpus: float, gpus: int) -> None:
        node = self.cluster.add_node(num_cpus=cpus, num_gpus=gpus, object_store_memory=OBJECT_STORE)
        self.workers.append((node, (cpus, gpus)))

    def reshape(self, alive) -> None:
        """Add or remove worker nodes until the cluster's nodes are ``alive``'s."""
        want = sorted((n.cpus, n.gpus) for n in alive)
        have = self.shape()
        for cpus, gpus in want:
            if (cpus, gpus) in have:
                have.remove((cpus, gpus))
            else:
                self.add(cpus, gpus)
        for extra in have:
            i = next(i for i, (_, s) in enumerate(self.workers) if s == extra)
            node, _ = self.workers.pop(i)
            self.cluster.remove_node(node)
        deadline = time.time() + 60
        while self.shape() != want:
            assert time.time() < deadline, f"cluster shape {self.shape()} != {want}"
            time.sleep(0.5)


def requested_bundles() -> list[dict]:
    """The standing autoscaler request (``request_resources``), as the autoscaler reads
    it from Ray's key-value store."""
    from ray.autoscaler._private.constants import AUTOSCALER_RESOURCE_REQUEST_CHANNEL
    from ray.experimental.internal_kv import _internal_kv_get

    raw = _internal_kv_get(AUTOSCALER_RESOURCE_REQUEST_CHANNEL)
    return json.loads(raw) if raw else []


def play_autoscaler(sim: Sim, node_types: list[tuple[float, int]], limit: int) -> int:
    """Add nodes, the smallest of ``node_types`` that holds each requested bundle the
    cluster cannot place now, as Ray's autoscaler would. Returns how many were added."""
    from pipelines.placement.cluster import Node
    from pipelines.placement.fit import pack

    added = 0
    bundles = requested_bundles()
    while added < limit:
        nodes = [Node("n", c, g) for c, g in sim.shape()]
        if pack(bundles, nodes):
            break
        # the first bundle that does not fit beside those before it decides the type
        for k in range(1, len(bundles) + 1):
            if not pack(bundles[:k], nodes):
                b = bundles[k - 1]
                break
        fits = [t for t in node_types if t[0] >= b.get("CPU", 0) and t[1] >= b.get("GPU", 0)]
        sim.add(*min(fits))
        added += 1
    return added


def place(pl, reservation: Reservation, timeout: float = 180.0) -> dict:
    """Start every actor of every stage with the exact arguments the nightly gives Ray
    Data's actor pools; returns, per stage, where each one landed."""
    actors = {}
    for s in pl.stages:
        args = actor_pool_args(pl, s.name, reservation)
        opts = {"num_cpus": args["num_cpus"], "num_gpus": args["num_gpus"]}
        if "scheduling_strategy" in args:
            opts["scheduling_strategy"] = args["scheduling_strategy"]
        actors[s.name] = [Probe.options(**opts).remote() for _ in range(s.actors)]
    where = {
        name: ray.get([a.where.remote() for a in group], timeout=timeout)
        for name, group in actors.items()
    }
    for group in actors.values():
        for a in group:
            ray.kill(a)
    return where


class Tag:
    """A stand-in stage for Ray Data's actor pools: notes where each batch ran."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, batch):
        gpus = ",".join(str(g) for g in ray.get_gpu_ids())
        batch[self.name] = [f"{ray.get_runtime_context().get_node_id()}/{gpus}"] * len(batch["id"])
        return batch


def stream(pl, reservation: Reservation, rows: int = 16) -> list[dict]:
    """Rows through Ray Data with each stage's actor pool built from the nightly's own
    ``actor_pool_args`` (inside the reserved placement groups)."""
    ds = ray.data.from_items([{"id": i} for i in range(rows)], override_num_blocks=rows // 2)
    ds = ds.map_batches(lambda b: b, batch_size=2, num_cpus=pl.read_cpus)
    for s in pl.stages:
        ds = ds.map_batches(
            Tag,
            fn_constructor_kwargs={"name": s.name},
            batch_size=2,
            **actor_pool_args(pl, s.name, reservation),
        )
    return ds.take_all()


def nightly_step(
    sim: Sim, res: ResourceConfig, autoscale: list | None = None, data: bool = False
) -> dict:
    pl = plan_for_cluster(res)
    out = {
        "layout": pl.layout,
        "stages": {s.name: [s.actors, s.cpus, s.gpus] for s in pl.stages},
        "scale_up": pl.scale_up,
        "source": pl.source,
    }
    box: dict = {}
    t = threading.Thread(target=lambda: box.setdefault("r", reserve(pl, 240, "sim", 5)))
    t.start()
    if pl.scale_up:
        deadline = time.time() + 30
        while not requested_bundles() and time.time() < deadline:
            time.sleep(0.2)
        out["requested"] = requested_bundles()
        out["added"] = play_autoscaler(sim, autoscale or [], 16)
    t.join(300)
    assert "r" in box, "the reservation did not finish"
    reservation = box["r"]
    try:
        out["placed"] = place(pl, reservation)
        if data:
            out["data"] = stream(pl, reservation)
    finally:
        reservation.release()
    out["request_after"] = requested_bundles()
    out["shape"] = sim.shape()
    return out


def train_step() -> dict:
    from jobs.cli import build_parser
    from pipelines.training.config import DATA_TASK_CPUS, DistConfig, worker_resources
    from pipelines.training.runner import fit_to_cluster

    doc = load(os.path.join(KUBERAY, "rayjob-train.yaml"))
    args = build_parser().parse_args(shlex.split(doc["spec"]["entrypoint"])[1:])
    d = DistConfig(
        workers=args.workers,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.gpus_per_worker,
    )
    fit_to_cluster(d, cpus_given=True, local=False)  # raises when it cannot fit
    from ray.util.placement_group import placement_group, remove_placement_group

    # the worker group as Ray Train places it: one bundle per worker, packed
    pg = placement_group([worker_resources(d)] * d.workers, strategy="PACK")
    ready = pg.wait(timeout_seconds=120)
    data = ray.get(ray.remote(num_cpus=DATA_TASK_CPUS)(lambda: 1).remote(), timeout=120)
    remove_placement_group(pg)
    return {"workers": d.workers, "bundle": worker_resources(d), "ready": ready, "data": data}


def serve_step() -> dict:
    from jobs.config import load_config
    from pipelines.serve.app import deployment_options
    from pipelines.serve.config import ServeJobConfig, replica_gpus

    doc = load(os.path.join(KUBERAY, "rayservice.yaml"))
    (app,) = yaml.safe_load(doc["spec"]["serveConfigV2"])["applications"]
    cfg = load_config(ServeJobConfig, None, app["args"]["set"], {}).serve
    opts = deployment_options(cfg, replica_gpus(cfg, ray.cluster_resources().get("GPU", 0)))
    replicas = [
        Probe.options(**opts["ray_actor_options"]).remote() for _ in range(cfg.max_replicas)
    ]
    where = ray.get([a.where.remote() for a in replicas], timeout=180)
    for a in replicas:
        ray.kill(a)
    return {"replicas": cfg.max_replicas, "options": opts["ray_actor_options"], "placed": where}


def main(out_path: str) -> None:
    os.environ.pop("RESTYLE_NODE_TYPES", None)
    result: dict = {}
    sim = Sim()
    try:
        # 1. cluster-aws.yaml from zero workers, node types from the launcher file
        aws = launcher_shape(os.path.join(INFRA, "cluster-aws.yaml"))
        sim.reshape(aws.alive)
        os.environ["RESTYLE_AUTOSCALER_CONFIG"] = os.path.join(INFRA, "cluster-aws.yaml")
        types = sorted({(n.cpus, n.gpus) for n in aws.addable})
        result["cluster-aws"] = nightly_step(sim, ResourceConfig(), types)
        del os.environ["RESTYLE_AUTOSCALER_CONFIG"]

        # 2-4. the RayJobs and the RayService, node types from their heads' env
        for name in ("rayjob-nightly.yaml", "rayjob-train.yaml", "rayservice.yaml"):
            path = os.path.join(KUBERAY, name)
            start = "maxReplicas" if name == "rayservice.yaml" else "replicas"
            sim.reshape(kuberay_shape(path, start).alive)
            env = head_env(path, "RESTYLE_NODE_TYPES")
            if env:
                os.environ["RESTYLE_NODE_TYPES"] = env
            else:
                os.environ.pop("RESTYLE_NODE_TYPES", None)
            if name == "rayjob-nightly.yaml":
                result[name] = {
                    "fused": nightly_step(sim, ResourceConfig(layout="fused"), data=True),
                    "split": nightly_step(sim, ResourceConfig(), data=True),
                }
            elif name == "rayjob-train.yaml":
                result[name] = train_step()
            else:
                result[name] = serve_step()
            result[name]["shape"] = sim.shape()

        # 5. raycluster.yaml as applied: 2 GPU pods up, up to 8
        path = os.path.join(KUBERAY, "raycluster.yaml")
        shape = kuberay_shape(path)
        sim.reshape(shape.alive)
        os.environ["RESTYLE_NODE_TYPES"] = head_env(path, "RESTYLE_NODE_TYPES")
        groups = ray_cluster_spec(load(path))["workerGroupSpecs"]
        assert groups, path
        types = sorted({(n.cpus, n.gpus) for n in shape.addable})
        result["raycluster.yaml"] = nightly_step(sim, ResourceConfig(), types)
    finally:
        with open(out_path, "w") as f:
            json.dump(result, f, indent=1)
        ray.shutdown()
        sim.cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
