"""The one fit check: do these resource bundles fit the cluster, now and at its largest?
Training, serve and the nightly's planner all ask it."""

from __future__ import annotations

from dataclasses import dataclass

from pipelines.placement.cluster import EPS, ClusterShape, Node, discover_cluster
from pipelines.placement.resources import ResourceConfig


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
