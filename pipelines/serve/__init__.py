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

Modules: ``config`` (the service's config and the cluster fit check), ``http`` (the FastAPI
app, errors, request parsing and the verdict), ``service`` (the replica), ``app`` (the
deployment's options and the bound application), ``lifecycle`` (deploying it, and stopping
it within a deadline).
"""
