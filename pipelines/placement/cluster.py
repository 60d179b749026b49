"""The cluster's shape: the nodes up now and those its autoscaler may add, discovered from
``resources.node_types``, ``RESTYLE_NODE_TYPES``, Ray's GCS or the launcher's config."""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass

from pipelines.placement.resources import NodeType, ResourceConfig
from stylecore.config import ConfigError, build

EPS = 1e-9


@dataclass(frozen=True)
class Node:
    """One node: up now (``alive``) or one the autoscaler may add."""

    kind: str
    cpus: float
    gpus: int = 0
    alive: bool = True


@dataclass(frozen=True)
class ClusterShape:
    alive: tuple[Node, ...]
    addable: tuple[Node, ...] = ()  # GPU kinds first
    source: str = ""  # where the node types came from; "" = none known
    memory_gib: float = 0.0  # memory of the nodes up now (0 = unknown)

    @property
    def possible(self) -> tuple[Node, ...]:
        return self.alive + self.addable

    @property
    def cpus_up(self) -> float:
        return float(sum(n.cpus for n in self.alive))

    @property
    def gpus_up(self) -> float:
        return float(sum(n.gpus for n in self.alive))

    def describe(self, which: str = "possible") -> str:
        nodes = self.possible if which == "possible" else self.alive
        kinds = Counter((n.kind, n.cpus, n.gpus, n.alive) for n in nodes)
        parts = [
            f"{k} {name} ({c:g} CPU" + (f", {g} GPU" if g else "") + ")"
            + ("" if alive else " to add")
            for (name, c, g, alive), k in sorted(kinds.items(), key=lambda kv: kv[0][0])
        ]  # fmt: skip
        return ", ".join(parts) or "no nodes"


def shape_from(
    alive: list[Node],
    types: list[NodeType],
    max_workers: int = 0,
    source: str = "",
    memory_gib: float = 0.0,
) -> ClusterShape:
    """The nodes up now plus, for each node type, the nodes the autoscaler may still add
    (its ``max`` less those of its shape already up; ``max_workers`` > 0 caps the added
    nodes of all types together). GPU types are added first."""
    up = Counter()
    for n in alive:
        for t in types:
            if abs(t.cpus - n.cpus) < EPS and t.gpus == n.gpus:
                up[t.name] += 1
                break
    budget = max_workers - sum(up.values()) if max_workers > 0 else math.inf
    addable: list[Node] = []
    for t in sorted(types, key=lambda t: (-t.gpus, t.name)):
        k = int(max(0, min(t.max - up[t.name], budget)))
        budget -= k
        addable += [Node(t.name, t.cpus, t.gpus, alive=False)] * k
    return ClusterShape(tuple(alive), tuple(addable), source if types else "", memory_gib)


def types_from_launcher_yaml(doc: dict) -> tuple[list[NodeType], int]:
    """Worker node types and the global ``max_workers`` of a cluster launcher config."""
    head = doc.get("head_node_type")
    cap = int(doc.get("max_workers") or 0)
    types = []
    for name, t in (doc.get("available_node_types") or {}).items():
        if name == head:
            continue
        r = t.get("resources") or {}
        types.append(
            NodeType(
                name=name,
                cpus=float(r.get("CPU", 0)),
                gpus=int(r.get("GPU", 0)),
                memory_gib=float(r.get("memory", 0)) / 2**30,
                max=int(t.get("max_workers", cap)),
            )
        )
    return types, cap


def _types_from_gcs() -> list[NodeType]:
    """Node groups an autoscaler reported to Ray's GCS (what Ray Data reads too)."""
    try:
        import ray._private.state as state

        config = state.state.get_cluster_config()
    except Exception:  # not reported, or an older GCS
        return []
    if config is None:
        return []
    types = []
    for g in config.node_group_configs:
        r = dict(g.resources)
        if not r.get("CPU") and not r.get("GPU"):
            continue
        types.append(
            NodeType(
                name=g.name or "group",
                cpus=float(r.get("CPU", 0)),
                gpus=int(r.get("GPU", 0)),
                memory_gib=float(r.get("memory", 0)) / 2**30,
                max=64 if g.max_count < 0 else int(g.max_count),
            )
        )
    return types


def node_types_for(res: ResourceConfig) -> tuple[list[NodeType], int, str]:
    """The node types the autoscaler may add, the global cap on worker nodes (0 = none)
    and where they came from; ``([], 0, "")`` when nothing says."""
    if res.node_types:
        return list(res.node_types), 0, "resources.node_types"
    env = os.environ.get("RESTYLE_NODE_TYPES", "").strip()
    if env:
        try:
            items = json.loads(env)
            if not isinstance(items, list):
                raise ValueError("expected a JSON list")
        except ValueError as e:
            raise ConfigError(f"RESTYLE_NODE_TYPES: not a JSON list of node types: {e}") from e
        types = [
            build(NodeType, d, prefix=f"RESTYLE_NODE_TYPES[{i}].") for i, d in enumerate(items)
        ]
        return types, 0, "RESTYLE_NODE_TYPES"
    types = _types_from_gcs()
    if types:
        return types, 0, "the autoscaler (Ray GCS cluster config)"
    path = os.environ.get("RESTYLE_AUTOSCALER_CONFIG") or os.path.expanduser(
        "~/ray_bootstrap_config.yaml"
    )
    if os.path.exists(path):
        import yaml

        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
        types, cap = types_from_launcher_yaml(doc)
        return types, cap, f"the autoscaler config {path}"
    return [], 0, ""


def discover_cluster(res: ResourceConfig, local: bool = False) -> ClusterShape:
    """The cluster this process is connected to. A local Ray this process started
    (``local``) has no autoscaler: only its own node counts."""
    import ray

    alive = []
    memory = 0.0
    for n in ray.nodes():
        if not n.get("Alive"):
            continue
        r = n.get("Resources", {})
        memory += float(r.get("memory", 0.0)) / 2**30
        alive.append(Node("up", float(r.get("CPU", 0.0)), int(r.get("GPU", 0))))
    types, cap, source = ([], 0, "") if local else node_types_for(res)
    return shape_from(alive, types, cap, source, memory)


# ---------------------------------------------------------------------------- planning
