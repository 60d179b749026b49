"""Where the nightly's actors go: planned from the nodes the cluster has now *and* the
nodes its autoscaler may add, checked to fit before anything starts, and reserved in an
order that cannot strand an actor.

- ``discover_cluster`` reads the nodes up now (``ray.nodes()``) and the kinds of node the
  autoscaler may add, from the first of: ``resources.node_types``; ``RESTYLE_NODE_TYPES``
  (a JSON list, set on the head node by the KubeRay manifests); the cluster config an
  autoscaler reported to Ray's GCS; the cluster launcher's ``~/ray_bootstrap_config.yaml``
  on the head node (``RESTYLE_AUTOSCALER_CONFIG`` names another file).
- ``plan_placement`` (pure) sizes the actor pools: with GPUs, one transfer and one
  segmentation actor sharing each GPU (3/4 and 1/4) and a check actor beside them, each
  with its share of its node's CPUs; without GPUs, about one single-threaded fused actor
  per core. ``pack`` checks that every actor, plus a read task, fits the nodes the cluster can
  have; when it cannot, ``ConfigError`` (exit 2) says what to change.
- ``check_fit`` is the same check for any set of bundles, now and at the cluster's
  largest; training (``pipelines.training.runner.fit_to_cluster``) and serve
  (``pipelines.serve.fit_to_cluster``) use it before they start.
- ``reserve`` asks the autoscaler for the actors' bundles (``request_resources``) when the
  nodes up now are not enough, then reserves GPU stages in placement groups, one stage
  after another (transfer before segmentation), and waits until they are placed.
  Ray Data's actor pools then start inside those groups, so an actor can never be left
  pending because another stage's actors took its GPU share first.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from collections import Counter
from dataclasses import dataclass, field

from pipelines.runconfig import NodeType, ResourceConfig
from stylecore.config import ConfigError, build

log = logging.getLogger(__name__)

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


def _types_from_launcher_yaml(doc: dict) -> tuple[list[NodeType], int]:
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
        types, cap = _types_from_launcher_yaml(doc)
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


def pack(bundles: list[dict[str, float]], nodes: tuple[Node, ...] | list[Node]) -> bool:
    """Whether ``bundles`` fit ``nodes`` (first fit, largest GPU share first). A
    fractional GPU must fit inside one GPU, as Ray places it; whole GPUs take whole
    free ones."""
    free = [[n.cpus, [1.0] * n.gpus] for n in nodes]
    order = sorted(bundles, key=lambda b: (-b.get("GPU", 0.0), -b.get("CPU", 0.0)))
    for b in order:
        c, g = b.get("CPU", 0.0), b.get("GPU", 0.0)
        for slot in free:
            if slot[0] + EPS < c:
                continue
            gpus = slot[1]
            if g <= 0:
                take = []
            elif g < 1:
                i = next((i for i, x in enumerate(gpus) if x + EPS >= g), None)
                if i is None:
                    continue
                take = [(i, g)]
            else:
                whole = [i for i, x in enumerate(gpus) if x > 1 - EPS]
                if len(whole) < round(g):
                    continue
                take = [(i, 1.0) for i in whole[: round(g)]]
            slot[0] -= c
            for i, x in take:
                gpus[i] -= x
            break
        else:
            return False
    return True


@dataclass(frozen=True)
class Fit:
    """Whether a set of resource bundles fits a cluster: on the nodes up ``now``, and on
    the cluster at its largest (``ever``; None when no autoscaler node types are known,
    so more may come but nobody can say what)."""

    now: bool
    ever: bool | None
    shape: ClusterShape


def fit_on(bundles: list[dict[str, float]], shape: ClusterShape) -> Fit:
    """``check_fit`` on a known ``shape`` (pure)."""
    now = pack(bundles, shape.alive)
    ever = pack(bundles, shape.possible) if shape.source else None
    return Fit(now, True if now else ever, shape)


def check_fit(bundles: list[dict[str, float]], local: bool) -> Fit:
    """Do ``bundles`` (one per actor, worker or replica) fit the cluster this process is
    connected to? A local Ray this process started has no autoscaler: ``ever`` is then
    None. Callers decide: on a local Ray a request that does not fit now never will; on
    a cluster a request that fits ``ever`` waits for the autoscaler, and one that does not
    should be refused before anything starts."""
    return fit_on(bundles, discover_cluster(ResourceConfig(), local))


def _floor_quarter(x: float) -> float:
    return math.floor(x * 4 + EPS) / 4


def plan_placement(res: ResourceConfig, shape: ClusterShape) -> Placement:
    """Size the actor pools for ``shape``. With GPUs (up now or addable): per GPU
    (``gpus_per_actor``) one transfer actor (3/4 of it) and one segmentation actor (1/4)
    plus a CPU check actor, or one fused actor taking the whole GPU; each gets its share
    of its node's CPUs, less room for the read and write tasks. Without: about one
    single-threaded fused actor per core, keeping a quarter of the cores for reads.
    Raises ``ConfigError`` when the actors and a read task cannot all fit the nodes the
    cluster can have."""
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
    stages_per_actor = 3 if layout == "split" else 1
    reserve_cpus = 2 * res.read_cpus  # a read and a write task beside the actors
    if use_gpu:
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
            # each GPU actor's (or stage's) share of the smallest node it may land on
            share = min(
                (possible[i].cpus - reserve_cpus) / max(possible[i].gpus / gpu_each, 1)
                for i in used
            )
            actor_cpus = max(0.25, _floor_quarter(share / stages_per_actor))
        if layout == "split":
            stages = (
                Stage("transfer", actors, actor_cpus, gpu_each * 0.75),
                Stage("segment", actors, actor_cpus, gpu_each * 0.25),
                Stage("check", actors, actor_cpus, 0.0),
            )
        else:
            stages = (Stage("restyle", actors, actor_cpus, gpu_each),)
        seg_gpus = gpu_each * 0.25 if layout == "split" else 0.0
        transfer_gpus = gpu_each * 0.75 if layout == "split" else gpu_each
        nodes_for_fit = [n for i, n in enumerate(possible) if n.gpus == 0 or i in used]
    else:
        cpu_nodes = [n for n in possible if n.cpus > 0]
        cpus = sum(n.cpus for n in cpu_nodes) or 1.0
        node_cpus = max([n.cpus for n in cpu_nodes] or [cpus])
        gpus = 0
        if res.actors:
            actors = res.actors
        else:
            # One single-threaded actor per core, keeping a quarter of the cores (and at
            # least half a core) for reads: on 2 cores two 1-thread actors restyle ~40%
            # faster than one 2-thread actor (bench/bench_pipeline.py). Capped at ~2 GiB
            # of memory per actor (a 6000x4000 photo needs about that much).
            actors = max(1, int(cpus) - int(cpus) // 4)
            if shape.memory_gib > 0 and not shape.addable:
                actors = max(1, min(actors, int(shape.memory_gib // 2)))
        if res.actor_cpus > 0:
            actor_cpus = res.actor_cpus
        else:
            actor_cpus = (cpus - reserve_cpus) / (actors * stages_per_actor)
            actor_cpus = max(0.25, min(actor_cpus, node_cpus - res.read_cpus))
        if layout == "split":
            names = ("segment", "transfer", "check")
            stages = tuple(Stage(s, actors, actor_cpus, 0.0) for s in names)
        else:
            stages = (Stage("restyle", actors, actor_cpus, 0.0),)
        seg_gpus = transfer_gpus = 0.0
        nodes_for_fit = cpu_nodes
    threads = res.torch_threads or max(1, int(actor_cpus))
    pl = Placement(
        layout=layout,
        actors=actors,
        actor_cpus=actor_cpus,
        actor_gpus=transfer_gpus,
        segment_gpus=seg_gpus,
        threads=threads,
        read_cpus=res.read_cpus,
        gpus=int(gpus),
        stages=stages,
        reserve=use_gpu,
        cluster=shape.describe(),
        source=shape.source,
    )
    need = [*pl.bundles(), {"CPU": res.read_cpus}]
    if not pack(need, nodes_for_fit):
        want = ", ".join(_stage_text(s) for s in stages)
        raise ConfigError(
            f"resources: {want}, plus {res.read_cpus:g} CPU for reads, do not fit the "
            f"cluster ({shape.describe()}"
            + (f"; node types from {shape.source}" if shape.source else "; no autoscaler node "
               "types known: set resources.node_types or RESTYLE_NODE_TYPES if it has one")
            + "); lower resources.actors, resources.actor_cpus or resources.gpus_per_actor"
        )  # fmt: skip
    scale_up = not pack(need, [n for n in nodes_for_fit if n.alive])
    return dataclasses.replace(pl, scale_up=scale_up)


def _stage_text(s: Stage) -> str:
    return f"{s.actors} {s.name} actor(s) x {s.cpus:g} CPU" + (
        f" + {s.gpus:g} GPU" if s.gpus else ""
    )


def plan_for_cluster(res: ResourceConfig, local: bool = False) -> Placement:
    shape = discover_cluster(res, local)
    pl = plan_placement(res, shape)
    log.info(
        "placement: layout %s, %s; planned on %s%s",
        pl.layout,
        "; ".join(_stage_text(s) for s in pl.stages),
        pl.cluster,
        f" (node types from {pl.source})" if pl.source else "",
    )
    return pl


# ---------------------------------------------------------------------------- reserving


@dataclass
class Reservation:
    """The placement groups of a run's GPU stages, by stage name, and whether an
    autoscaler request stands; ``release`` undoes both."""

    groups: dict = field(default_factory=dict)
    requested: bool = False

    def strategy(self, stage: str):
        pg = self.groups.get(stage)
        if pg is None:
            return None
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        return PlacementGroupSchedulingStrategy(pg)

    def release(self) -> None:
        from ray.util import remove_placement_group

        for pg in self.groups.values():
            try:
                remove_placement_group(pg)
            except Exception as e:  # the cluster is going away: nothing left to free
                log.debug("placement group not removed: %s", e)
        self.groups.clear()
        if self.requested:
            from ray.autoscaler.sdk import request_resources

            try:
                request_resources(bundles=[])
            except Exception as e:
                log.debug("autoscaler request not cleared: %s", e)
            self.requested = False


def request_scale_up(pl: Placement) -> None:
    """Ask the autoscaler for every actor bundle (a standing request, cleared by
    ``Reservation.release``)."""
    from ray.autoscaler.sdk import request_resources

    bundles = pl.bundles()
    gpus = sum(b.get("GPU", 0.0) for b in bundles)
    log.info(
        "the nodes up now are not enough: asking the autoscaler for %d bundle(s) "
        "(%g CPU, %g GPU in all)",
        len(bundles), sum(b["CPU"] for b in bundles), gpus,
    )  # fmt: skip
    request_resources(bundles=bundles)


def reserve(pl: Placement, timeout_s: float, tag: str = "restyle", poll_s: float = 30.0):
    """Ask for more nodes when needed, then reserve the GPU stages' actors one stage after
    another and wait until each is placed (up to ``timeout_s`` in all)."""
    from ray.util.placement_group import placement_group

    r = Reservation()
    if pl.scale_up:
        request_scale_up(pl)
        r.requested = True
    if not pl.reserve:
        return r
    deadline = time.monotonic() + timeout_s
    try:
        for s in sorted(pl.stages, key=lambda s: -s.gpus):  # the largest GPU share first
            pg = placement_group([s.bundle] * s.actors, strategy="PACK", name=f"{tag}-{s.name}")
            r.groups[s.name] = pg
            while not pg.wait(timeout_seconds=max(1, min(poll_s, deadline - time.monotonic()))):
                if time.monotonic() >= deadline:
                    raise TimeoutError(
                        f"{s.actors} {s.name} actor(s) of {s.bundle} were not placed within "
                        f"{timeout_s:g} s (planned on {pl.cluster}); check `ray status` for "
                        "the autoscaler's pending nodes, or lower resources.actors / "
                        "resources.max_gpus"
                    )
                log.info("waiting for nodes: %d %s actor(s) of %s", s.actors, s.name, s.bundle)
    except BaseException:
        r.release()
        raise
    return r
