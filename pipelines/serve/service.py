"""The ``restyle serve`` replica: the nightly's own stages behind the HTTP routes of
``pipelines.serve.http``. Each replica keeps its own copy of the styles and of the check
stage's stats; per-request region/alpha variants join that copy only."""

# No `from __future__ import annotations` here: Serve's ingress rebuilds the route methods'
# signatures in its own module, where FastAPI could not resolve string annotations (a
# `request: Request` parameter would become a required query parameter).
import asyncio
import base64
import dataclasses
import hashlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from fastapi import Query, Request
from fastapi.responses import Response
from ray import serve

from pipelines.nightly.runconfig import RunContext
from pipelines.serve import http
from pipelines.serve.config import FORMAT_FAMILY, MEDIA_TYPES, ServeConfig
from pipelines.serve.http import (
    BODY_DOC,
    IMAGE_ID,
    IMAGE_RESPONSES,
    QUERY,
    HTTPError,
    app,
    authorize,
    json_response,
    read_image,
    request_id,
    rlog,
)


@serve.ingress(app)
class RestyleService:
    """The replica: the HTTP routes above, and the nightly's stages. Built with
    ``serve.deployment(...)`` by ``build_app`` (its options come from ``ServeConfig``)."""

    def __init__(self, ctx: RunContext, cfg: ServeConfig, token_sha256: str, default_style: str):
        import torch
        from ray.serve import metrics

        from pipelines.nightly.stages.check import CheckStage
        from pipelines.nightly.stages.segment import SegmentStage
        from pipelines.nightly.stages.transfer import TransferStage

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
    @app.get("/healthz", summary="The replica answers.")
    async def healthz(self):
        return json_response(200, {"status": "ok"})

    @app.get("/readyz", summary="The replica's models are loaded; its photo counts.")
    async def readyz(self):
        ready = getattr(self, "ready", False)
        body = {
            "ready": ready,
            "styles": len(self.base_styles),
            "loaded_s": self.loaded_s,
            "photos": dict(self.counts),  # this replica's, since it started
        }
        return json_response(200 if ready else 503, body)

    @app.get("/v1/styles", summary="The styles, their model versions and defaults.")
    async def styles(self, request: Request):
        authorize(request, self.token_sha256)
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
        return json_response(200, {"styles": styles, "default": self.default_style})

    @app.post(
        "/v1/restyle",
        summary="Restyle one photo.",
        responses=IMAGE_RESPONSES,
        openapi_extra=BODY_DOC,
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
            pattern=IMAGE_ID.pattern,
            description="the catalogue's id: seeds the background as the nightly does",
        ),
    ):
        authorize(request, self.token_sha256)
        unknown = set(request.query_params) - set(QUERY)
        if unknown:
            raise HTTPError(
                400, "bad_query",
                f"unknown query parameter(s) {sorted(unknown)}; expected {', '.join(QUERY)}",
            )  # fmt: skip
        style = style or self.default_style
        if style not in self.base_styles:
            raise HTTPError(
                404, "unknown_style", f"no style {style!r}; styles: {list(self.base_styles)}"
            )
        base = self.ctx.styles[style].transfer
        region = region or base.composite.region
        alpha = round(base.alpha if alpha is None else alpha, 2)
        data = await read_image(request, self.cfg.max_body_mb)
        try:
            return await self._restyle(request, data, style, region, alpha, format, image_id)
        except HTTPError as e:
            if e.status >= 500 or e.kind.startswith("undecodable"):
                self._count("failed", style)
            raise

    async def _restyle(self, request, data, style, region, alpha, fmt, image_id):
        from pipelines.nightly.rows import new_row
        from stylecore.io.codec import DecodeError, decode_untrusted, encode_image

        rid = request_id(request)
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
        verdict = http.verdict(
            row, request_id=rid, style=style, region=region, alpha=alpha,
            input_format=decoded.format, timings=timings,
        )  # fmt: skip
        status = 200 if passed else 422
        if fmt == "json":
            verdict["content_type"] = MEDIA_TYPES[ext]
            verdict["image_base64"] = base64.b64encode(image).decode("ascii")
            return json_response(status, verdict)
        headers = {
            "X-Restyle-Verdict": json.dumps(verdict, allow_nan=False, separators=(",", ":")),
            "X-Restyle-Passed": "true" if passed else "false",
            "X-Restyle-Model-Version": resolved.model_version,
        }
        return Response(image, status_code=status, media_type=MEDIA_TYPES[ext], headers=headers)
