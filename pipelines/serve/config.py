"""The service's config (``serve.*`` keys, and the nightly keys a served photo shares),
its constants, the default style, and the check that its replicas fit the cluster."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import math
from dataclasses import dataclass, field

from pipelines.nightly.runconfig import NightlyConfig, OutputConfig, RunContext, StylesFile
from stylecore.config import ConfigError
from stylecore.io.codec import DecodeLimits
from stylecore.segmentation import SegmenterConfig
from stylecore.transfer.restyle import TransferConfig

log = logging.getLogger(__name__)

APP_NAME = "restyle"
DEPLOYMENT = "Restyler"
TOKEN_ENV = "RESTYLE_SERVE_TOKEN"
REGIONS = ("background", "product", "all")
# Input format (as Pillow names it) -> output format; anything else comes back as PNG.
FORMAT_FAMILY = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp"}
MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


@dataclass(frozen=True)
class ServeConfig:
    """The service's own knobs (``serve.*`` keys of ``--config`` / ``--set``)."""

    max_body_mb: float = 32.0  # larger bodies get 413
    request_timeout_s: float = 120.0  # the proxy answers 408 after this
    batching: bool = True  # group concurrent requests with @serve.batch
    max_batch_size: int = 4
    batch_wait_s: float = 0.02  # how long a batch waits to fill
    max_ongoing_requests: int = 8  # per replica, in progress and batching
    max_queued_requests: int = 32  # waiting at the proxy; beyond this: 503
    retry_after_s: float = 2.0  # Retry-After of a 503
    min_replicas: int = 1
    max_replicas: int = 1  # > min_replicas turns on Serve's autoscaling
    target_ongoing_requests: float = 2.0  # autoscaling target per replica
    replica_cpus: float = 1.0
    replica_gpus: float = -1.0  # -1 = one GPU per replica when the cluster has GPUs
    torch_threads: int = 0  # 0 = the replica's CPUs, at least 1
    default_style: str = ""  # "" = the styles file's default, else its first style

    def __post_init__(self) -> None:
        if self.max_body_mb <= 0 or self.request_timeout_s <= 0:
            raise ValueError("max_body_mb and request_timeout_s must be > 0")
        if self.max_batch_size < 1 or self.batch_wait_s < 0:
            raise ValueError("max_batch_size >= 1 and batch_wait_s >= 0 are required")
        if self.max_ongoing_requests < 1 or self.max_queued_requests < 0:
            raise ValueError("max_ongoing_requests >= 1 and max_queued_requests >= 0")
        if not 1 <= self.min_replicas <= self.max_replicas:
            raise ValueError(
                f"min_replicas={self.min_replicas}, max_replicas={self.max_replicas}: "
                "need 1 <= min_replicas <= max_replicas"
            )
        if self.replica_cpus <= 0 or self.target_ongoing_requests <= 0:
            raise ValueError("replica_cpus and target_ongoing_requests must be > 0")


@dataclass(frozen=True)
class ServeJobConfig:
    """Everything ``restyle serve`` reads: the service, and the same segmenter, transfer,
    decode-limit and output keys as the nightly (so a photo comes out as it would there)."""

    serve: ServeConfig = field(default_factory=ServeConfig)
    segmenter: SegmenterConfig = field(default_factory=SegmenterConfig)
    segmenter_model: str = ""  # "" = the committed demo U-Net
    transfer: TransferConfig = field(default_factory=TransferConfig)
    limits: DecodeLimits = field(default_factory=lambda: DecodeLimits(max_pixels=50_000_000))
    output: OutputConfig = field(default_factory=OutputConfig)

    def context(self, styles: StylesFile) -> RunContext:
        nightly = NightlyConfig(
            segmenter=self.segmenter,
            segmenter_model=self.segmenter_model,
            transfer=self.transfer,
            limits=self.limits,
            output=self.output,
        )
        return RunContext.create("serve", "", styles, nightly)


def token_digest(token: str | None) -> str:
    """What a replica keeps of the bearer token: its sha256 (never the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest() if token else ""


def default_style(styles: StylesFile, cfg: ServeConfig) -> str:
    name = cfg.default_style or styles.default or next(iter(styles.styles))
    if name not in styles.styles:
        raise ConfigError(f"serve.default_style: {name!r} is not in the styles file")
    return name


def replica_gpus(cfg: ServeConfig, cluster_gpus: float) -> float:
    if cfg.replica_gpus >= 0:
        return cfg.replica_gpus
    return 1.0 if cluster_gpus >= 1 else 0.0


def fit_to_cluster(cfg: ServeConfig, cpus_given: bool, local: bool) -> ServeConfig:
    """Check, before deploying, that ``min_replicas`` replicas fit the cluster (a replica
    that cannot be placed keeps ``serve.run`` waiting forever;
    ``pipelines.placement.fit.check_fit``).

    On a local Ray this process started, the default ``replica_cpus`` becomes the machine's
    CPUs shared by the replicas (all cores for one replica: lowest latency); an explicit
    request that cannot fit raises ``ConfigError`` naming what to change. On an existing
    cluster an autoscaler may add nodes, so a request beyond what is there only warns,
    unless it cannot fit the cluster even at its largest."""
    from pipelines.placement.cluster import discover_cluster
    from pipelines.placement.fit import fit_on
    from pipelines.placement.resources import ResourceConfig

    shape = discover_cluster(ResourceConfig(), local)
    cpus, gpus = shape.cpus_up, shape.gpus_up
    n = cfg.min_replicas
    if local and not cpus_given:
        share = math.floor(cpus / n * 4) / 4  # quarter CPUs
        if share >= 0.25:
            cfg = dataclasses.replace(cfg, replica_cpus=share)
    per_gpu = replica_gpus(cfg, gpus)
    bundle = {"CPU": cfg.replica_cpus, **({"GPU": per_gpu} if per_gpu else {})}
    fit = fit_on([bundle] * n, shape)
    if fit.now:
        return cfg
    what = f"{n} replica(s) x {cfg.replica_cpus:g} CPU" + (
        f" and {per_gpu:g} GPU" if per_gpu else ""
    )
    if not local:
        if fit.ever is False:
            raise ConfigError(
                f"{what} cannot fit the cluster even at its largest ({shape.describe()}; "
                f"node types from {shape.source}), so the service would never start. "
                "Lower serve.min_replicas, serve.replica_cpus or serve.replica_gpus"
            )
        log.warning(
            "%s is more than the cluster has now (%g CPU, %g GPU): the service is ready "
            "when the autoscaler has added nodes",
            what, cpus, gpus,
        )  # fmt: skip
        return cfg
    raise ConfigError(
        f"{what} does not fit this machine ({cpus:g} CPU, {gpus:g} GPU), so the service "
        f"would never start. Use --set serve.replica_cpus={math.floor(cpus / n * 4) / 4:g}, "
        "fewer serve.min_replicas, serve.replica_gpus=0, or a cluster (--address)"
    )
