"""Sizing the nightly's actor pools for a cluster shape (pure), and planning on the
cluster this process is connected to."""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

from pipelines.placement.cluster import EPS, ClusterShape, Node, discover_cluster
from pipelines.placement.fit import pack
from pipelines.placement.resources import ResourceConfig
from stylecore.config import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    """One actor pool: how many actors and what each takes."""

    name: str  # restyle (fused) | transfer | segment | check
    actors: int
    cpus: float
    gpus: float

    @property
    def bundle(self) -> dict[str, float]:
        b = {"CPU": self.cpus}
        if self.gpus:
            b["GPU"] = self.gpus
        return b


@dataclass(frozen=True)
class Placement:
    layout: str
    actors: int
    actor_cpus: float
    actor_gpus: float  # per transfer (or fused) actor
    segment_gpus: float  # per segment actor in the split layout
    threads: int
    read_cpus: float
    gpus: int  # GPUs the plan uses
    stages: tuple[Stage, ...] = ()
    scale_up: bool = False  # the nodes up now are not enough: ask the autoscaler
    reserve: bool = False  # reserve the stages in placement groups (GPU layouts)
    cluster: str = ""  # the shape it was planned on, for logs and errors
    source: str = ""

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    def bundles(self) -> list[dict[str, float]]:
        return [s.bundle for s in self.stages for _ in range(s.actors)]


# ---------------------------------------------------------------------------- discovery


def _floor_quarter(x: float) -> float:
    return math.floor(x * 4 + EPS) / 4


@dataclass(frozen=True)
class _Pools:
    """The actor pools a plan sizes, and the nodes they must fit on."""

    stages: tuple[Stage, ...]
    actors: int
    actor_cpus: float
    gpus: float  # GPUs the plan uses
    segment_gpus: float
    transfer_gpus: float
    nodes: list[Node]


def _gpu_pools(res: ResourceConfig, possible: list[Node], layout: str) -> _Pools:
    """Per GPU (``gpus_per_actor``) one transfer actor (3/4 of it), one segmentation actor
    (1/4) and a CPU check actor (split), or one fused actor taking it all; each with its
    share of the smallest GPU node's CPUs, less room for a read and a write task."""
    stages_per_actor = 3 if layout == "split" else 1
    gpu_each = res.gpus_per_actor if res.gpus_per_actor > 0 else 1.0
    order = sorted(range(len(possible)), key=lambda i: not possible[i].alive)
    used: list[int] = []  # indices of the GPU nodes the plan uses, those up now first
    gpus = 0
    for i in order:
        n = possible[i]
        if n.gpus == 0 or (res.max_gpus and gpus >= res.max_gpus):
            continue
        used.append(i)
        gpus += min(n.gpus, res.max_gpus - gpus) if res.max_gpus else n.gpus
    actors = res.actors or max(1, int(gpus / gpu_each + EPS))
    if res.actor_cpus > 0:
        actor_cpus = res.actor_cpus
    else:
        share = min(
            (possible[i].cpus - 2 * res.read_cpus) / max(possible[i].gpus / gpu_each, 1)
            for i in used
        )
        actor_cpus = max(0.25, _floor_quarter(share / stages_per_actor))
    if layout == "split":
        stages = (
            Stage("transfer", actors, actor_cpus, gpu_each * 0.75),
            Stage("segment", actors, actor_cpus, gpu_each * 0.25),
            Stage("check", actors, actor_cpus, 0.0),
        )
        seg_gpus, transfer_gpus = gpu_each * 0.25, gpu_each * 0.75
    else:
        stages = (Stage("restyle", actors, actor_cpus, gpu_each),)
        seg_gpus, transfer_gpus = 0.0, gpu_each
    nodes = [n for i, n in enumerate(possible) if n.gpus == 0 or i in used]
    return _Pools(stages, actors, actor_cpus, gpus, seg_gpus, transfer_gpus, nodes)


def _cpu_pools(res: ResourceConfig, shape: ClusterShape, layout: str) -> _Pools:
    """About one single-threaded actor (or stage trio) per core, keeping a quarter of the
    cores for reads: on 2 cores two 1-thread actors restyle ~40% faster than one 2-thread
    actor (bench/bench_pipeline.py). Capped at ~2 GiB of memory per actor (a 6000x4000
    photo needs about that much)."""
    stages_per_actor = 3 if layout == "split" else 1
    cpu_nodes = [n for n in shape.possible if n.cpus > 0]
    cpus = sum(n.cpus for n in cpu_nodes) or 1.0
    node_cpus = max([n.cpus for n in cpu_nodes] or [cpus])
    if res.actors:
        actors = res.actors
    else:
        actors = max(1, int(cpus) - int(cpus) // 4)
        if shape.memory_gib > 0 and not shape.addable:
            actors = max(1, min(actors, int(shape.memory_gib // 2)))
    if res.actor_cpus > 0:
        actor_cpus = res.actor_cpus
    else:
        actor_cpus = (cpus - 2 * res.read_cpus) / (actors * stages_per_actor)
        actor_cpus = max(0.25, min(actor_cpus, node_cpus - res.read_cpus))
    names = ("segment", "transfer", "check") if layout == "split" else ("restyle",)
    stages = tuple(Stage(s, actors, actor_cpus, 0.0) for s in names)
    return _Pools(stages, actors, actor_cpus, 0, 0.0, 0.0, cpu_nodes)


def plan_placement(res: ResourceConfig, shape: ClusterShape) -> Placement:
    """Size the actor pools for ``shape``: with GPUs (up now or addable) ``_gpu_pools``,
    without ``_cpu_pools``. Raises ``ConfigError`` when the actors and a read task cannot
    all fit the nodes the cluster can have."""
    possible = list(shape.possible)
    gpu_nodes = [n for n in possible if n.gpus > 0]
    if res.gpus_per_actor > 0 and not gpu_nodes:
        raise ConfigError(
            f"resources.gpus_per_actor={res.gpus_per_actor:g}, but the cluster has no GPU "
            f"and can add none ({shape.describe()}); use resources.gpus_per_actor=0 or a "
            "cluster with GPU nodes"
        )
    use_gpu = res.gpus_per_actor != 0 and bool(gpu_nodes)
    # auto: with GPUs, split (segmentation, transfer and checks pipelined in their own
    # pools, one of each per GPU); without, fused (no image copies between stages)
    layout = res.layout if res.layout != "auto" else ("split" if use_gpu else "fused")
    pools = _gpu_pools(res, possible, layout) if use_gpu else _cpu_pools(res, shape, layout)
    pl = Placement(
        layout=layout,
        actors=pools.actors,
        actor_cpus=pools.actor_cpus,
        actor_gpus=pools.transfer_gpus,
        segment_gpus=pools.segment_gpus,
        threads=res.torch_threads or max(1, int(pools.actor_cpus)),
        read_cpus=res.read_cpus,
        gpus=int(pools.gpus),
        stages=pools.stages,
        reserve=use_gpu,
        cluster=shape.describe(),
        source=shape.source,
    )
    need = [*pl.bundles(), {"CPU": res.read_cpus}]
    if not pack(need, pools.nodes):
        want = ", ".join(stage_text(s) for s in pools.stages)
        raise ConfigError(
            f"resources: {want}, plus {res.read_cpus:g} CPU for reads, do not fit the "
            f"cluster ({shape.describe()}"
            + (f"; node types from {shape.source}" if shape.source else "; no autoscaler node "
               "types known: set resources.node_types or RESTYLE_NODE_TYPES if it has one")
            + "); lower resources.actors, resources.actor_cpus or resources.gpus_per_actor"
        )  # fmt: skip
    scale_up = not pack(need, [n for n in pools.nodes if n.alive])
    return dataclasses.replace(pl, scale_up=scale_up)


def stage_text(s: Stage) -> str:
    return f"{s.actors} {s.name} actor(s) x {s.cpus:g} CPU" + (
        f" + {s.gpus:g} GPU" if s.gpus else ""
    )


def plan_for_cluster(res: ResourceConfig, local: bool = False) -> Placement:
    shape = discover_cluster(res, local)
    pl = plan_placement(res, shape)
    log.info(
        "placement: layout %s, %s; planned on %s%s",
        pl.layout,
        "; ".join(stage_text(s) for s in pl.stages),
        pl.cluster,
        f" (node types from {pl.source})" if pl.source else "",
    )
    return pl


# ---------------------------------------------------------------------------- reserving
