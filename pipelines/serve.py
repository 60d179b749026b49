"""`restyle serve`: one photo at a time over HTTP, on Ray Serve, with the nightly's stages.

One deployment, ``Restyler``, is both the HTTP ingress and the model holder. Each replica
builds the nightly's own ``SegmentStage``, ``TransferStage`` and ``CheckStage`` once (models
load once per replica) and runs them on rows exactly as the nightly does; the request's
bytes go through the nightly's ``decode_untrusted``. Requests are grouped by
``@serve.batch`` (``serve.batching``, ``serve.max_batch_size``, ``serve.batch_wait_s``) and
the model work runs on one worker thread per replica, so the event loop keeps answering
health checks and turning away excess load while a batch computes.

Backpressure is Ray Serve's own: a replica takes at most ``serve.max_ongoing_requests``
at once, the proxy queues at most ``serve.max_queued_requests`` more, and beyond that a
request gets 503 with ``Retry-After`` at once (never an unbounded queue). The proxy's
``serve.request_timeout_s`` answers 408 for a request that takes longer.

HTTP is FastAPI through ``@serve.ingress``: typed query parameters, ``/docs`` (OpenAPI UI)
and ``/openapi.json``. JSON errors are ``{"error": KIND, "message": ..., "request_id": ...}``.

``POST /v1/restyle?style=S&region=background|product|all&alpha=A[&format=json][&image_id=I]``
    body: the image bytes, with any or no Content-Type (the decoder sniffs the format), or
    a multipart upload with one file part (``curl -F file=@photo.jpg``).
    200: the restyled image, in the input's format family (JPEG in, JPEG out; PNG and
    WebP likewise; anything else comes back as PNG), with the verdict as JSON in the
    ``X-Restyle-Verdict`` header. ``format=json`` returns the verdict as the body with the
    image base64-encoded under ``image_base64``. ``image_id`` (the catalogue's id) seeds
    the new background as the nightly does, so the answer is the nightly's image for
    that photo; without it the seed is the bytes' hash (same photo, same answer).
    422: the gate (or publish safety) rejected the photo; same shape, the reasons say
    why and the image is there for review.
    400 undecodable image (the decoder's reason), a bad or unknown query parameter (FastAPI's
    validation errors are answered 400 ``bad_query``: 422 means the gate said no); 401
    missing or wrong token; 404 unknown style or path; 405 wrong method; 413 body too
    large; 500 an internal error (its request id is in the replica's log).
``GET /v1/styles``: the styles, their model versions and defaults.
``GET /healthz``: the replica answers. ``GET /readyz``: its models are loaded, and its
photo counts by outcome.

Photos by outcome (ok, rejected, failed) and style are counted with
``ray.serve.metrics.Counter`` (``restyle_photos``; Prometheus ``ray_restyle_photos_total``
on each node's metrics port).
"""

# No `from __future__ import annotations` here: Serve's ingress rebuilds the route methods'
# signatures in its own module, where FastAPI could not resolve string annotations (a
# `request: Request` parameter would become a required query parameter).
import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import logging
import math
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from ray import serve
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines.runconfig import (
    NightlyConfig,
    OutputConfig,
    RunContext,
    StylesFile,
)
from stylecore.config import ConfigError
from stylecore.io.codec import DecodeLimits
from stylecore.segmentation import SegmenterConfig
from stylecore.transfer.restyle import TransferConfig

log = logging.getLogger(__name__)
# Inside a replica: Serve's logger, so lines land in the replica's log with its context.
rlog = logging.getLogger("ray.serve")

APP_NAME = "restyle"
DEPLOYMENT = "Restyler"
TOKEN_ENV = "RESTYLE_SERVE_TOKEN"
REGIONS = ("background", "product", "all")
# Input format (as Pillow names it) -> output format; anything else comes back as PNG.
FORMAT_FAMILY = {"JPEG": "jpg", "MPO": "jpg", "PNG": "png", "WEBP": "webp"}
MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_IMAGE_ID = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("restyle")
    except PackageNotFoundError:
        return "0"


_VERSION = _version()


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


class HTTPError(Exception):
    """A request that gets a clear 4xx (or 5xx) JSON answer."""

    def __init__(self, status: int, kind: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.kind, self.headers = status, kind, headers or {}


def _json_response(status: int, body: dict, headers: dict | None = None):
    from starlette.responses import Response

    return Response(
        json.dumps(body, allow_nan=False, default=str).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _finite(scores: dict[str, Any]) -> dict[str, float | None]:
    out = {}
    for k, v in scores.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        out[k] = f if math.isfinite(f) else None
    return out


def _request_id(request) -> str:
    """Serve's proxy puts its request id (the client's X-Request-ID, if any) on the request
    and on the response; one that is odd is replaced in our log and body."""
    rid = request.headers.get("x-request-id", "")
    return rid if _REQUEST_ID.match(rid) else uuid.uuid4().hex[:16]


def _error(request, status: int, kind: str, message: str, headers: dict | None = None):
    body = {"error": kind, "message": message, "request_id": _request_id(request)}
    return _json_response(status, body, headers)


# ------------------------------------------------------------------------- the HTTP API
app = FastAPI(
    title="Restyle",
    summary="Restyle one product photo with a learned look, as the nightly would.",
    description="The same decode, segmentation, transfer and quality gate as `restyle "
    "nightly`. Send the photo as the raw body (any or no Content-Type: the bytes are "
    "sniffed) or as a multipart upload (`curl -F file=@photo.jpg`). Errors are JSON: "
    '`{"error": KIND, "message": ..., "request_id": ...}`. With `RESTYLE_SERVE_TOKEN` set, '
    "`/v1/` needs `Authorization: Bearer TOKEN`.",
    version=_VERSION,
)


@app.exception_handler(HTTPError)
async def _http_error(request, e: HTTPError):
    return _error(request, e.status, e.kind, str(e), e.headers)


@app.exception_handler(RequestValidationError)
async def _bad_query(request, e: RequestValidationError):
    parts = []
    for err in e.errors():
        where = ".".join(str(x) for x in err.get("loc", ())[1:]) or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return _error(request, 400, "bad_query", "; ".join(parts) or "bad query")


@app.exception_handler(StarletteHTTPException)
async def _routing_error(request, e: StarletteHTTPException):
    if e.status_code == 404:
        return _error(request, 404, "not_found", f"no such path {request.url.path!r}; see /docs")
    if e.status_code == 405:
        allow = (e.headers or {}).get("Allow", "")
        return _error(
            request, 405, "method_not_allowed", f"{request.url.path} takes {allow}",
            {"Allow": allow},
        )  # fmt: skip
    return _error(request, e.status_code, "http", str(e.detail))


@app.middleware("http")
async def _log_and_contain(request, call_next):
    """One log line per request (id, method, path, status, time; never the body or the
    headers), and a JSON 500 naming the request id for anything unexpected."""
    rid, t0 = _request_id(request), time.perf_counter()
    try:
        resp = await call_next(request)
    except Exception as e:
        rlog.exception("request %s: internal error (%s)", rid, type(e).__name__)
        resp = _error(
            request, 500, "internal",
            f"internal error ({type(e).__name__}); the service log has request id {rid}",
        )  # fmt: skip
    rlog.info(
        "request %s %s %s -> %d in %.3f s",
        rid, request.method, request.url.path, resp.status_code, time.perf_counter() - t0,
    )  # fmt: skip
    return resp


_IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The restyled image (JPEG in, JPEG out; PNG and WebP likewise; "
        "anything else as PNG), the verdict as JSON in the X-Restyle-Verdict header; with "
        "format=json the verdict as the body and the image base64-encoded in it.",
        "content": {t: {} for t in MEDIA_TYPES.values()},
    },
    400: {"description": "Undecodable image (the decoder's reason) or a bad query."},
    401: {"description": "Missing or wrong bearer token."},
    404: {"description": "Unknown style."},
    413: {"description": "Body over serve.max_body_mb."},
    422: {
        "description": "The gate (or publish safety) rejected the photo; same shape as "
        "200, the reasons say why and the image is there for review."
    },
    503: {"description": "Overloaded: retry after the Retry-After header's seconds."},
}
_BODY_DOC = {
    "requestBody": {
        "required": True,
        "description": "The photo: the raw bytes as the body, or a multipart upload with "
        "one file part.",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}
_QUERY = ("style", "region", "alpha", "format", "image_id")


@serve.ingress(app)
class RestyleService:
    """The replica: the HTTP routes above, and the nightly's stages. Built with
    ``serve.deployment(...)`` by ``build_app`` (its options come from ``ServeConfig``)."""

    def __init__(self, ctx: RunContext, cfg: ServeConfig, token_sha256: str, default_style: str):
        import torch
        from ray.serve import metrics

        from pipelines.stages.check import CheckStage
        from pipelines.stages.segment import SegmentStage
        from pipelines.stages.transfer import TransferStage

        self.cfg = cfg
        self.token_sha256 = token_sha256
        self.default_style = default_style
        gpu = cfg.replica_gpus != 0 and torch.cuda.is_available()
        threads = cfg.torch_threads or max(1, round(cfg.replica_cpus))
        # The replica's own copy of the styles: per-request region/alpha variants join it
        # (never the context the deployment was bound with).
        ctx = ctx.with_device("cuda" if gpu else "cpu", threads)
        self.ctx = dataclasses.replace(ctx, styles=dict(ctx.styles))
        self.base_styles = tuple(ctx.styles)
        t0 = time.perf_counter()
        self.segment = SegmentStage(self.ctx)
        self.transfer = TransferStage(self.ctx)
        self.check = CheckStage(self.ctx)
        self.check.ctx = self.ctx  # the same styles dict as the other two stages
        self.check.stats = dict(self.check.stats)
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="restyle-model")
        self.max_body = int(cfg.max_body_mb * 1024 * 1024)
        self._batched_run.set_max_batch_size(cfg.max_batch_size)
        self._batched_run.set_batch_wait_timeout_s(cfg.batch_wait_s)
        # Outcomes, exported through Ray's metrics (Prometheus: ray_restyle_photos_total)
        # and counted here for /readyz.
        self.photos = metrics.Counter(
            "restyle_photos",
            description="Photos restyled by outcome: ok, rejected (gate or publish "
            "safety), failed (undecodable or an error).",
            tag_keys=("outcome", "style"),
        )
        self.counts = {"ok": 0, "rejected": 0, "failed": 0}
        self.loaded_s = time.perf_counter() - t0
        self.ready = True
        rlog.info(
            "replica ready in %.1f s: %d style(s) on %s, %d torch thread(s), batching %s",
            self.loaded_s,
            len(self.base_styles),
            self.ctx.device,
            threads,
            f"up to {cfg.max_batch_size}" if cfg.batching else "off",
        )

    def _count(self, outcome: str, style: str) -> None:
        self.counts[outcome] += 1
        self.photos.inc(1, tags={"outcome": outcome, "style": style})

    # ---------------------------------------------------------------- model work
    def _run_rows(self, rows: list[dict]) -> list[dict]:
        for stage in (self.segment, self.transfer, self.check):
            rows = stage.run_rows(rows)
        return rows

    async def _run(self, rows: list[dict]) -> list[dict]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self._run_rows, rows)

    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.02)
    async def _batched_run(self, rows: list[dict]) -> list[dict]:
        return await self._run(rows)

    async def restyle_row(self, row: dict) -> dict:
        if self.cfg.batching:
            return await self._batched_run(row)
        return (await self._run([row]))[0]

    def _variant(self, style: str, region: str, alpha: float) -> str:
        """The style key for this region and alpha: the style itself when they are its
        own, else a variant registered once per replica (alpha is rounded to 0.01, so the
        set of variants stays small)."""
        base = self.ctx.styles[style]
        if region == base.transfer.composite.region and alpha == base.transfer.alpha:
            return style
        key = f"{style}~{region}~{alpha:.2f}"
        if key not in self.ctx.styles:
            t = dataclasses.replace(
                base.transfer,
                alpha=alpha,
                composite=dataclasses.replace(base.transfer.composite, region=region),
            )
            self.ctx.styles[key] = dataclasses.replace(base, name=key, transfer=t)
            self.check.stats[key] = self.check.stats[style]
        return key

    # ---------------------------------------------------------------- HTTP
    def _authorize(self, request: Request) -> None:
        if not self.token_sha256:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        ok = scheme.lower() == "bearer" and hmac.compare_digest(
            hashlib.sha256(given.strip().encode()).hexdigest(), self.token_sha256
        )
        if not ok:
            raise HTTPError(
                401,
                "unauthorized",
                "missing or wrong bearer token (Authorization: Bearer $RESTYLE_SERVE_TOKEN)",
                {"WWW-Authenticate": 'Bearer realm="restyle"'},
            )

    @app.get("/healthz", summary="The replica answers.")
    async def healthz(self):
        return _json_response(200, {"status": "ok"})

    @app.get("/readyz", summary="The replica's models are loaded; its photo counts.")
    async def readyz(self):
        ready = getattr(self, "ready", False)
        body = {
            "ready": ready,
            "styles": len(self.base_styles),
            "loaded_s": self.loaded_s,
            "photos": dict(self.counts),  # this replica's, since it started
        }
        return _json_response(200 if ready else 503, body)

    @app.get("/v1/styles", summary="The styles, their model versions and defaults.")
    async def styles(self, request: Request):
        self._authorize(request)
        styles = [
            {
                "id": name,
                "model_version": s.model_version,
                "region": s.transfer.composite.region,
                "alpha": s.transfer.alpha,
                "preserve_colour": s.transfer.preserve_colour,
                "default": name == self.default_style,
            }
            for name, s in ((n, self.ctx.styles[n]) for n in self.base_styles)
        ]
        return _json_response(200, {"styles": styles, "default": self.default_style})

    async def _image_bytes(self, request: Request) -> bytes:
        """The photo's bytes: a multipart upload's file part, or else the raw body
        whatever its Content-Type (the decoder sniffs the format). At most max_body."""
        limit = f"{self.cfg.max_body_mb:g} MiB"
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body:
            raise HTTPError(413, "too_large", f"body of {int(declared):,} bytes is over {limit}")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "multipart/form-data":
            try:
                form = await request.form(max_files=1, max_fields=8)
            except Exception as e:  # starlette's MultiPartException and parser errors
                raise HTTPError(400, "bad_multipart", f"multipart body not readable: {e}") from None
            try:
                files = [v for v in form.values() if isinstance(v, UploadFile)]
                if not files:
                    raise HTTPError(
                        400, "no_file",
                        "a multipart upload needs one file part, e.g. curl -F file=@photo.jpg",
                    )  # fmt: skip
                data = await files[0].read(self.max_body + 1)
            finally:
                await form.close()
            if len(data) > self.max_body:
                raise HTTPError(413, "too_large", f"file is over {limit}")
        else:
            chunks, n = [], 0
            async for chunk in request.stream():
                n += len(chunk)
                if n > self.max_body:
                    raise HTTPError(413, "too_large", f"body is over {limit}")
                chunks.append(chunk)
            data = b"".join(chunks)
        if not data:
            raise HTTPError(400, "empty", "empty body: send the image bytes as the body")
        return data

    @app.post(
        "/v1/restyle",
        summary="Restyle one photo.",
        responses=_IMAGE_RESPONSES,
        openapi_extra=_BODY_DOC,
        response_class=Response,
    )
    async def restyle(
        self,
        request: Request,
        style: str | None = Query(None, description="style id (default: the styles file's)"),
        region: Literal["background", "product", "all"] | None = Query(
            None, description="what to restyle (default: the style's own)"
        ),
        alpha: float | None = Query(
            None,
            ge=0.0,
            le=1.0,
            allow_inf_nan=False,
            description="0 = the photo, 1 = fully styled (default: the style's own)",
        ),
        format: Literal["image", "json"] = Query(
            "image", description="image: the image as the body; json: the verdict as the body"
        ),
        image_id: str | None = Query(
            None,
            pattern=_IMAGE_ID.pattern,
            description="the catalogue's id: seeds the background as the nightly does",
        ),
    ):
        self._authorize(request)
        unknown = set(request.query_params) - set(_QUERY)
        if unknown:
            raise HTTPError(
                400, "bad_query",
                f"unknown query parameter(s) {sorted(unknown)}; expected {', '.join(_QUERY)}",
            )  # fmt: skip
        style = style or self.default_style
        if style not in self.base_styles:
            raise HTTPError(
                404, "unknown_style", f"no style {style!r}; styles: {list(self.base_styles)}"
            )
        base = self.ctx.styles[style].transfer
        region = region or base.composite.region
        alpha = round(base.alpha if alpha is None else alpha, 2)
        data = await self._image_bytes(request)
        try:
            return await self._restyle(request, data, style, region, alpha, format, image_id)
        except HTTPError as e:
            if e.status >= 500 or e.kind.startswith("undecodable"):
                self._count("failed", style)
            raise

    async def _restyle(self, request, data, style, region, alpha, fmt, image_id):
        from pipelines.rows import flag_list, new_row, reason_list
        from stylecore.io.codec import DecodeError, decode_untrusted, encode_image

        rid = _request_id(request)
        # The image id seeds the new background. The catalogue's id gives the nightly's
        # own output for that photo; by default the bytes' hash, so the same photo always
        # comes back the same.
        image_id = image_id or "sha256:" + hashlib.sha256(data).hexdigest()[:32]
        t0 = time.perf_counter()
        try:
            decoded = await asyncio.to_thread(decode_untrusted, data, self.ctx.limits)
        except DecodeError as e:
            raise HTTPError(400, f"undecodable:{e.kind}", f"image not decodable: {e}") from None
        t_decode = time.perf_counter() - t0
        key = self._variant(style, region, alpha)
        resolved = self.ctx.styles[key]
        row = new_row(
            run_id="serve",
            image_id=image_id,
            style_id=key,
            model_uri=resolved.model_uri,
            model_version=resolved.model_version,
        )
        row.update(pixels=decoded.image, alpha=None, output=None)
        row["height"], row["width"] = decoded.image.shape[:2]
        t1 = time.perf_counter()
        row = await self.restyle_row(row)
        t_pipeline = time.perf_counter() - t1
        if row["status"] == "failed":
            rlog.error("request %s failed in the pipeline: %s", rid, row["error_message"])
            raise HTTPError(
                500,
                "internal",
                f"restyling failed ({row['error_type']}); the service log has request id {rid}",
            )
        ext = FORMAT_FAMILY.get(decoded.format, "png")
        t2 = time.perf_counter()
        image = await asyncio.to_thread(encode_image, row["output"], ext, self.ctx.output.quality)
        timings = {
            "decode": t_decode,
            "segment": row["t_segment"],
            "transfer": row["t_transfer"],
            "check": row["t_check"],
            "pipeline": t_pipeline,  # the three above plus waiting for the batch / thread
            "encode": time.perf_counter() - t2,
        }
        passed = row["status"] == "ok"
        self._count("ok" if passed else "rejected", style)
        verdict = {
            "request_id": rid,
            "passed": passed,
            "status": row["status"],
            "reasons": reason_list(row["reasons"]),
            "scores": _finite(json.loads(row["scores_json"] or "{}")),
            "style": style,
            "region": region,
            "alpha": alpha,
            "model_version": resolved.model_version,
            "mask": {
                "coverage": _finite({"c": row["mask_coverage"]})["c"],
                "flags": flag_list(row["mask_flags"]),
            },
            "image_id": image_id,
            "input": {"format": decoded.format, "width": row["width"], "height": row["height"]},
            "timings_s": _finite(timings),
        }
        status = 200 if passed else 422
        if fmt == "json":
            verdict["content_type"] = MEDIA_TYPES[ext]
            verdict["image_base64"] = base64.b64encode(image).decode("ascii")
            return _json_response(status, verdict)
        headers = {
            "X-Restyle-Verdict": json.dumps(verdict, allow_nan=False, separators=(",", ":")),
            "X-Restyle-Passed": "true" if passed else "false",
            "X-Restyle-Model-Version": resolved.model_version,
        }
        return Response(image, status_code=status, media_type=MEDIA_TYPES[ext], headers=headers)


# -------------------------------------------------------------------- building the app
def default_style(styles: StylesFile, cfg: ServeConfig) -> str:
    name = cfg.default_style or styles.default or next(iter(styles.styles))
    if name not in styles.styles:
        raise ConfigError(f"serve.default_style: {name!r} is not in the styles file")
    return name


def replica_gpus(cfg: ServeConfig, cluster_gpus: float) -> float:
    if cfg.replica_gpus >= 0:
        return cfg.replica_gpus
    return 1.0 if cluster_gpus >= 1 else 0.0


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


def fit_to_cluster(cfg: ServeConfig, cpus_given: bool, local: bool) -> ServeConfig:
    """Check, before deploying, that ``min_replicas`` replicas fit the cluster (a replica
    that cannot be placed keeps ``serve.run`` waiting forever;
    ``pipelines.placement.check_fit``).

    On a local Ray this process started, the default ``replica_cpus`` becomes the machine's
    CPUs shared by the replicas (all cores for one replica: lowest latency); an explicit
    request that cannot fit raises ``ConfigError`` naming what to change. On an existing
    cluster an autoscaler may add nodes, so a request beyond what is there only warns,
    unless it cannot fit the cluster even at its largest."""
    from pipelines.placement import discover_cluster, fit_on
    from pipelines.runconfig import ResourceConfig

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
