"""The HTTP side of ``restyle serve``: the FastAPI app that ``@serve.ingress`` mounts, its
JSON errors, one log line per request, the bearer token check, reading the photo from the
body, and the OpenAPI descriptions of the restyle route."""

import hashlib
import hmac
import json
import logging
import math
import re
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines.serve.config import MEDIA_TYPES

# Inside a replica: Serve's logger, so lines land in the replica's log with its context.
rlog = logging.getLogger("ray.serve")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
IMAGE_ID = re.compile(r"^[A-Za-z0-9._/-]{1,200}$")
QUERY = ("style", "region", "alpha", "format", "image_id")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("restyle")
    except PackageNotFoundError:
        return "0"


_VERSION = _version()


class HTTPError(Exception):
    """A request that gets a clear 4xx (or 5xx) JSON answer."""

    def __init__(self, status: int, kind: str, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status, self.kind, self.headers = status, kind, headers or {}


def json_response(status: int, body: dict, headers: dict | None = None):
    from starlette.responses import Response

    return Response(
        json.dumps(body, allow_nan=False, default=str).encode(),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def finite(scores: dict[str, Any]) -> dict[str, float | None]:
    out = {}
    for k, v in scores.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        out[k] = f if math.isfinite(f) else None
    return out


def request_id(request) -> str:
    """Serve's proxy puts its request id (the client's X-Request-ID, if any) on the request
    and on the response; one that is odd is replaced in our log and body."""
    rid = request.headers.get("x-request-id", "")
    return rid if _REQUEST_ID.match(rid) else uuid.uuid4().hex[:16]


def error_response(request, status: int, kind: str, message: str, headers: dict | None = None):
    body = {"error": kind, "message": message, "request_id": request_id(request)}
    return json_response(status, body, headers)


# ------------------------------------------------------------------------- the app
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
    return error_response(request, e.status, e.kind, str(e), e.headers)


@app.exception_handler(RequestValidationError)
async def _bad_query(request, e: RequestValidationError):
    parts = []
    for err in e.errors():
        where = ".".join(str(x) for x in err.get("loc", ())[1:]) or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return error_response(request, 400, "bad_query", "; ".join(parts) or "bad query")


@app.exception_handler(StarletteHTTPException)
async def _routing_error(request, e: StarletteHTTPException):
    if e.status_code == 404:
        return error_response(
            request, 404, "not_found", f"no such path {request.url.path!r}; see /docs"
        )
    if e.status_code == 405:
        allow = (e.headers or {}).get("Allow", "")
        return error_response(
            request, 405, "method_not_allowed", f"{request.url.path} takes {allow}",
            {"Allow": allow},
        )  # fmt: skip
    return error_response(request, e.status_code, "http", str(e.detail))


@app.middleware("http")
async def _log_and_contain(request, call_next):
    """One log line per request (id, method, path, status, time; never the body or the
    headers), and a JSON 500 naming the request id for anything unexpected."""
    rid, t0 = request_id(request), time.perf_counter()
    try:
        resp = await call_next(request)
    except Exception as e:
        rlog.exception("request %s: internal error (%s)", rid, type(e).__name__)
        resp = error_response(
            request, 500, "internal",
            f"internal error ({type(e).__name__}); the service log has request id {rid}",
        )  # fmt: skip
    rlog.info(
        "request %s %s %s -> %d in %.3f s",
        rid, request.method, request.url.path, resp.status_code, time.perf_counter() - t0,
    )  # fmt: skip
    return resp


IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
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
BODY_DOC = {
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


def authorize(request: Request, token_sha256: str) -> None:
    """Raise 401 unless the request carries the bearer token whose sha256 the replica keeps
    (no token set: everyone may call)."""
    if not token_sha256:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    ok = scheme.lower() == "bearer" and hmac.compare_digest(
        hashlib.sha256(given.strip().encode()).hexdigest(), token_sha256
    )
    if not ok:
        raise HTTPError(
            401,
            "unauthorized",
            "missing or wrong bearer token (Authorization: Bearer $RESTYLE_SERVE_TOKEN)",
            {"WWW-Authenticate": 'Bearer realm="restyle"'},
        )


async def read_image(request: Request, max_body_mb: float) -> bytes:
    """The photo's bytes: a multipart upload's file part, or else the raw body
    whatever its Content-Type (the decoder sniffs the format). At most max_body."""
    max_body = int(max_body_mb * 1024 * 1024)
    limit = f"{max_body_mb:g} MiB"
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_body:
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
            data = await files[0].read(max_body + 1)
        finally:
            await form.close()
        if len(data) > max_body:
            raise HTTPError(413, "too_large", f"file is over {limit}")
    else:
        chunks, n = [], 0
        async for chunk in request.stream():
            n += len(chunk)
            if n > max_body:
                raise HTTPError(413, "too_large", f"body is over {limit}")
            chunks.append(chunk)
        data = b"".join(chunks)
    if not data:
        raise HTTPError(400, "empty", "empty body: send the image bytes as the body")
    return data


def verdict(row: dict, *, request_id: str, style: str, region: str, alpha: float,
            input_format: str, timings: dict[str, float]) -> dict:  # fmt: skip
    """The answer's JSON verdict for a row the stages finished (ok or rejected)."""
    from pipelines.nightly.rows import flag_list, reason_list

    return {
        "request_id": request_id,
        "passed": row["status"] == "ok",
        "status": row["status"],
        "reasons": reason_list(row["reasons"]),
        "scores": finite(json.loads(row["scores_json"] or "{}")),
        "style": style,
        "region": region,
        "alpha": alpha,
        "model_version": row["model_version"],
        "mask": {
            "coverage": finite({"c": row["mask_coverage"]})["c"],
            "flags": flag_list(row["mask_flags"]),
        },
        "image_id": row["image_id"],
        "input": {"format": input_format, "width": row["width"], "height": row["height"]},
        "timings_s": finite(timings),
    }
