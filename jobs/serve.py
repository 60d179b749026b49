"""`restyle serve`: the HTTP service on Ray Serve, until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading

from jobs.config import add_config_args, is_set, load_config, require
from pipelines.nightly.runconfig import load_styles

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="restyle single photos on demand over HTTP (Ray Serve)",
        description="Serve POST /v1/restyle?style=S&region=R&alpha=A (the image bytes as "
        "the body; the restyled image back, with the verdict in the X-Restyle-Verdict "
        "header, or as JSON with ?format=json), GET /v1/styles, /healthz and /readyz. The "
        "same decode, segmentation, transfer and quality gate as the nightly job; a photo "
        "the gate rejects gets 422. Set RESTYLE_SERVE_TOKEN to require "
        "'Authorization: Bearer TOKEN' on /v1/. Replicas, batching, backpressure and "
        "limits are serve.* config keys (README, 'On demand: restyle serve'). Runs until "
        "SIGINT or SIGTERM, then shuts the service (and a local Ray it started) down.",
    )
    p.add_argument(
        "--styles",
        metavar="STYLES.yaml",
        help="the nightly's styles file: each style's model, region, alpha and gate "
        "thresholds (region and alpha are defaults a request may override)",
    )
    p.add_argument(
        "--address", help="Ray cluster address (default: RAY_ADDRESS, else start a local Ray)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="HTTP port (default 8000)")
    add_config_args(p, example="serve.max_batch_size=8")
    require(p, "--styles")
    p.set_defaults(func=run)


def run(args) -> int:
    from pipelines.ray_session import ray_session
    from pipelines.serve.config import TOKEN_ENV, ServeJobConfig
    from pipelines.serve.lifecycle import stop_app

    cfg = load_config(ServeJobConfig, args.config, args.set_, {})
    styles = load_styles(args.styles)  # a bad styles file fails before Ray starts
    token = os.environ.get(TOKEN_ENV) or None
    if args.host not in LOOPBACK and not token:
        log.warning(
            "binding %s with no %s: anyone who can reach this port can use the service",
            args.host,
            TOKEN_ENV,
        )
    stop = threading.Event()
    serving = threading.Event()
    deploying = threading.Event()

    def on_signal(signum, frame):
        log.info("%s: shutting down", signal.Signals(signum).name)
        stop.set()
        if not serving.is_set():  # still starting: unwind through the finally below
            raise KeyboardInterrupt

    done = threading.Event()  # set once everything has stopped
    try:
        with ray_session(args.address) as local:
            # After ray.init, which installs its own SIGTERM handler in the driver: ours
            # replaces it.
            old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                return _serve(args, cfg, styles, token, local, stop, serving, deploying)
            finally:
                stop_app(deploying.is_set(), done)
                for sig, handler in old.items():
                    signal.signal(sig, handler)
    finally:
        done.set()


def _serve(args, cfg, styles, token, local, stop, serving, deploying) -> int:
    from pipelines.serve.lifecycle import deploy

    cpus_given = is_set("serve.replica_cpus", args.config, args.set_)
    seconds = deploy(cfg, styles, token, local, args.host, args.port, cpus_given, deploying)
    serving.set()
    url = f"http://{args.host}:{args.port}"
    print(
        f"restyle serve: {len(styles.styles)} style(s) ready in "
        f"{seconds:.0f} s at {url}/v1/restyle "
        f"(styles: {url}/v1/styles; token {'required' if token else 'not required'}). "
        "Ctrl-C or SIGTERM stops it.",
        flush=True,
    )
    while not stop.wait(1.0):
        pass
    return 0


def app_builder(args: dict):
    """Entry point for a Serve config file / KubeRay RayService (``import_path:
    jobs.serve:app_builder``). ``args``: ``styles`` (the styles file URI), optional
    ``config`` (a config file URI) and ``set`` (a list of KEY=VALUE). The token comes from
    ``RESTYLE_SERVE_TOKEN`` in the environment of the process that builds the app."""
    import ray

    from pipelines.serve.app import build_app
    from pipelines.serve.config import TOKEN_ENV, ServeJobConfig
    from stylecore.config import ConfigError

    if "styles" not in args:
        raise ConfigError("app_builder: args need 'styles' (the styles file URI)")
    cfg = load_config(ServeJobConfig, args.get("config"), list(args.get("set", [])), {})
    gpus = ray.cluster_resources().get("GPU", 0.0) if ray.is_initialized() else 0.0
    return build_app(load_styles(args["styles"]), cfg, os.environ.get(TOKEN_ENV), gpus)
