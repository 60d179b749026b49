"""Reserving a plan on the cluster: a standing autoscaler request when the nodes up now are
not enough, and placement groups for the GPU stages, one stage after another."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from pipelines.placement.sizing import Placement

log = logging.getLogger(__name__)


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
