"""`restyle serve`'s start and stop on Ray Serve: the application deployed with the HTTP
options and the replica sized to the cluster, and stopped within a deadline."""

from __future__ import annotations

import logging
import os
import threading
import time

log = logging.getLogger(__name__)

SHUTDOWN_DEADLINE_S = 25.0
DRAIN_DEADLINE_S = 15.0  # deleting the application, requests in flight included


def deploy(
    cfg,
    styles,
    token: str | None,
    local: bool,
    host: str,
    port: int,
    cpus_given: bool,
    deploying: threading.Event,
) -> float:
    """Fit the replica to the cluster (``cpus_given``: the user set ``serve.replica_cpus``),
    start Serve's HTTP proxy on ``host:port`` and run the application; ``deploying`` is set
    once there is an application for a shutdown to remove. Returns the seconds from Serve's
    start to the application's being ready."""
    import ray
    from ray import serve

    from pipelines.serve.app import build_app
    from pipelines.serve.config import APP_NAME, fit_to_cluster

    s = fit_to_cluster(cfg.serve, cpus_given, local=local)
    cfg = type(cfg)(**{**cfg.__dict__, "serve": s})
    serve.start(
        http_options={
            "host": host,
            "port": port,
            "request_timeout_s": s.request_timeout_s,
        }
    )
    t0 = time.perf_counter()
    gpus = ray.cluster_resources().get("GPU", 0.0)
    log.info(
        "deploying %d replica(s) x %g CPU%s", s.min_replicas, s.replica_cpus,
        f" (autoscaling to {s.max_replicas})" if s.max_replicas > s.min_replicas else "",
    )  # fmt: skip
    app = build_app(styles, cfg, token, gpus)
    deploying.set()  # from here on, shutdown removes the application
    serve.run(app, name=APP_NAME, route_prefix="/")
    return time.perf_counter() - t0


def stop_app(deployed: bool, done: threading.Event) -> None:
    """Stop the application within ``SHUTDOWN_DEADLINE_S`` (``done`` is set once the local
    Ray this process started is down too): a stuck shutdown must not keep a SIGTERMed pod
    alive.

    Replicas first finish their requests in flight (``graceful_shutdown_timeout_s``) while
    the application is deleted. When the signal also reached Ray's own processes (Ctrl-C
    or a process-group kill), Serve's controller may be gone and the delete never returns:
    after ``DRAIN_DEADLINE_S`` the local Ray is shut down anyway (``ray_session``), taking
    Serve with it."""
    import ray
    from ray import serve

    from pipelines.serve.config import APP_NAME

    t0 = time.perf_counter()

    def deadline() -> None:
        if not done.wait(SHUTDOWN_DEADLINE_S):
            log.error("shutdown did not finish in %.0f s; exiting anyway", SHUTDOWN_DEADLINE_S)
            os._exit(1)
        log.info("stopped in %.1f s", time.perf_counter() - t0)

    threading.Thread(target=deadline, daemon=True).start()
    if deployed and ray.is_initialized():
        deleted = threading.Event()

        def delete() -> None:
            try:
                serve.delete(APP_NAME)
                deleted.set()
            except Exception as e:  # the controller is gone: nothing left to drain
                log.warning("could not delete the application cleanly: %s", e)

        threading.Thread(target=delete, daemon=True).start()
        if deleted.wait(DRAIN_DEADLINE_S):
            log.info("application deleted in %.1f s", time.perf_counter() - t0)
        else:
            log.warning("the application did not stop in %.0f s", DRAIN_DEADLINE_S)
