"""The Serve application: the ``Restyler`` deployment's options from ``ServeConfig``, bound to
the resolved styles."""

from __future__ import annotations

from typing import Any

from ray import serve

from pipelines.nightly.runconfig import StylesFile
from pipelines.serve.config import (
    DEPLOYMENT,
    ServeConfig,
    ServeJobConfig,
    default_style,
    replica_gpus,
    token_digest,
)
from pipelines.serve.service import RestyleService


def deployment_options(cfg: ServeConfig, gpus: float) -> dict:
    from ray.serve.config import BackpressureConfig

    opts: dict[str, Any] = {
        "name": DEPLOYMENT,
        "ray_actor_options": {"num_cpus": cfg.replica_cpus, "num_gpus": gpus},
        "max_ongoing_requests": cfg.max_ongoing_requests,
        "max_queued_requests": cfg.max_queued_requests,
        "backpressure_config": BackpressureConfig(status_code=503, retry_after_s=cfg.retry_after_s),
        "graceful_shutdown_timeout_s": 10.0,
        "health_check_period_s": 5.0,
    }
    if cfg.max_replicas > cfg.min_replicas:
        opts["autoscaling_config"] = {
            "min_replicas": cfg.min_replicas,
            "max_replicas": cfg.max_replicas,
            "target_ongoing_requests": cfg.target_ongoing_requests,
        }
    else:
        opts["num_replicas"] = cfg.min_replicas
    return opts


def build_app(styles: StylesFile, cfg: ServeJobConfig, token: str | None, cluster_gpus: float):
    """The Serve application: one ``Restyler`` deployment bound to the resolved styles."""
    ctx = cfg.context(styles)  # pins every style's model version now, once
    dep = serve.deployment(**deployment_options(cfg.serve, replica_gpus(cfg.serve, cluster_gpus)))
    return dep(RestyleService).bind(
        ctx, cfg.serve, token_digest(token), default_style(styles, cfg.serve)
    )
