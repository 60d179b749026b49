"""What a run may take from the cluster: the resource config (``nightly.resources``) and
the kinds of node a cluster has or its autoscaler may add."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class NodeType:
    """One kind of node a cluster has or its autoscaler may add (``resources.node_types``,
    or ``RESTYLE_NODE_TYPES`` as a JSON list on the head node)."""

    name: str
    cpus: float
    gpus: int = 0
    memory_gib: float = 0.0
    max: int = 1  # most nodes of this kind, those up now included

    def __post_init__(self) -> None:
        if self.cpus < 0 or self.gpus < 0 or self.max < 0 or self.memory_gib < 0:
            raise ValueError(f"node type {self.name!r}: cpus, gpus, memory_gib, max >= 0")


@dataclass(frozen=True)
class ResourceConfig:
    """How the stages map onto the cluster. 0 / -1 mean "decide from the cluster"."""

    layout: Literal["auto", "fused", "split"] = "auto"  # auto: split with GPUs, else fused
    actors: int = 0  # actors per actor stage; 0 = one per GPU, else ~one per core
    actor_cpus: float = 0.0  # CPUs each actor reserves; 0 = share what reads leave
    gpus_per_actor: float = -1.0  # -1 = 1 for the GPU stages when the cluster has GPUs
    torch_threads: int = 0  # 0 = the actor's whole CPUs, at least 1
    batch_size: int = 2  # images per batch
    read_cpus: float = 0.25  # CPUs each read/decode/write task reserves
    no_progress_timeout_s: float = 900.0  # a stalled pipeline fails loudly after this
    max_gpus: int = 0  # most GPUs a run asks for; 0 = all the cluster has or may add
    # The kinds of node the autoscaler may add; empty = read them from the cluster
    # (RESTYLE_NODE_TYPES, the autoscaler's config), else plan on the nodes up now.
    node_types: tuple[NodeType, ...] = ()
    scale_up_timeout_s: float = 1200.0  # how long GPU actors may wait for their nodes

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.actors < 0 or self.read_cpus <= 0:
            raise ValueError("batch_size >= 1, actors >= 0 and read_cpus > 0 are required")
        if self.max_gpus < 0 or self.scale_up_timeout_s <= 0:
            raise ValueError("max_gpus >= 0 and scale_up_timeout_s > 0 are required")
        g = self.gpus_per_actor
        if (g > 1 and g != int(g)) or (0 < g < 1 and abs(1 / g - round(1 / g)) > 1e-6):
            raise ValueError(
                f"gpus_per_actor={g:g}: use a whole number of GPUs or a fraction 1/n "
                "(0.5, 0.25, ...), so that actors share GPUs evenly"
            )
