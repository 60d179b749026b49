"""The node shapes the cluster files in infra/ ask for, read from the files themselves, so
that the placement tests plan and schedule on exactly what would be deployed."""

from __future__ import annotations

import json
import os
import re

import yaml

from pipelines.placement.cluster import ClusterShape, Node, shape_from, types_from_launcher_yaml
from pipelines.placement.resources import NodeType

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INFRA = os.path.join(ROOT, "infra")
KUBERAY = os.path.join(INFRA, "kuberay")


def load_docs(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def load(path: str) -> dict:
    (doc,) = load_docs(path)
    return doc


def ray_cluster_spec(doc: dict) -> dict:
    """The RayCluster spec inside a RayCluster, RayJob or RayService."""
    key = {"RayJob": "rayClusterSpec", "RayService": "rayClusterConfig"}.get(doc["kind"])
    return doc["spec"][key] if key else doc["spec"]


def _quantity_gib(q: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(Gi|Mi)?", str(q))
    assert m, f"memory quantity {q!r}"
    return float(m.group(1)) / (1024 if m.group(2) == "Mi" else 1)


def pod_shape(group: dict) -> tuple[float, int, float]:
    """(CPUs, GPUs, memory GiB) Ray sees on one pod of a head or worker group: the
    rayStartParams when set, else the container's limits (what KubeRay passes)."""
    container = group["template"]["spec"]["containers"][0]
    limits = container["resources"]["limits"]
    params = group.get("rayStartParams") or {}
    cpus = float(params.get("num-cpus", limits["cpu"]))
    gpus = int(params.get("num-gpus", limits.get("nvidia.com/gpu", 0)))
    return cpus, gpus, _quantity_gib(limits["memory"])


def kuberay_shape(path: str, start: str = "replicas") -> ClusterShape:
    """The cluster a KubeRay manifest makes: the head and each group's ``start`` count of
    pods (``replicas`` or ``minReplicas``) up, each group addable up to ``maxReplicas``."""
    spec = ray_cluster_spec(load(path))
    hc, hg, _ = pod_shape(spec["headGroupSpec"])
    alive = [Node("head", hc, hg)]
    types = []
    for g in spec.get("workerGroupSpecs", []):
        c, gp, mem = pod_shape(g)
        alive += [Node(g["groupName"], c, gp)] * int(g[start])
        types.append(NodeType(g["groupName"], c, gp, mem, int(g["maxReplicas"])))
    return shape_from(alive, types, 0, os.path.basename(path))


def launcher_shape(path: str) -> ClusterShape:
    """A cluster launcher file's cluster as `ray up` starts it: the head and each worker
    type's ``min_workers``, the rest addable (within the global ``max_workers``)."""
    doc = load(path)
    head = doc["available_node_types"][doc["head_node_type"]]["resources"]
    alive = [Node("head", float(head.get("CPU", 0)), int(head.get("GPU", 0)))]
    for name, t in doc["available_node_types"].items():
        if name != doc["head_node_type"]:
            r = t["resources"]
            alive += [Node(name, float(r.get("CPU", 0)), int(r.get("GPU", 0)))] * t["min_workers"]
    types, cap = types_from_launcher_yaml(doc)
    return shape_from(alive, types, cap, os.path.basename(path))


def head_env(path: str, name: str) -> str | None:
    spec = ray_cluster_spec(load(path))
    for e in spec["headGroupSpec"]["template"]["spec"]["containers"][0].get("env", []):
        if e["name"] == name:
            return e["value"]
    return None


def declared_node_types(path: str) -> list[dict] | None:
    """The RESTYLE_NODE_TYPES a KubeRay manifest gives its head, parsed."""
    value = head_env(path, "RESTYLE_NODE_TYPES")
    return None if value is None else json.loads(value)
