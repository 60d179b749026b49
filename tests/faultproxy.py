"""A fault-injecting HTTP proxy for the S3 tests: it sits on 127.0.0.1 in front of
``moto_server`` and, at rates a test sets, answers with S3's own error responses, resets the
connection, cuts a response body short of its declared length, or stalls before answering.

Every S3 request of the test session goes through it (``AWS_ENDPOINT_URL`` points here),
with no faults until a test turns them on, so the pass-through path is exercised by every
S3 test and a faulty run differs from a clean one only by the faults.

Faults, drawn per request from a seeded generator:

* ``error500`` / ``error503`` / ``slowdown``: 500 InternalError, 503 ServiceUnavailable, 503
  SlowDown, without forwarding the request;
* ``reset``: the connection is reset (RST); half of these after the request was forwarded
  (so a PUT may have happened although the client never hears so);
* ``truncate``: a GET's body is cut to half of the declared Content-Length, then the
  connection closes;
* ``latency``: the request waits ``latency_s`` before it is forwarded.

``deny`` makes requests of one method under one key prefix fail for good (403
AccessDenied), as a bucket policy or a full quota would.
"""

from __future__ import annotations

import http.client
import random
import socket
import struct
import threading
import time
import urllib.parse
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAULTS = ("error500", "error503", "slowdown", "reset", "truncate", "latency")
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade"}
_ERRORS = {
    "error500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "error503": (503, "ServiceUnavailable", "Please reduce your request rate."),
    "slowdown": (503, "SlowDown", "Please reduce your request rate."),
    "deny": (403, "AccessDenied", "Access Denied"),
}


class FaultProxy:
    def __init__(self, upstream: str, seed: int = 0):
        u = urllib.parse.urlsplit(upstream)
        self.upstream = (u.hostname, u.port)
        self.rates: dict[str, float] = dict.fromkeys(FAULTS, 0.0)
        self.latency_s = 0.5
        self.deny: tuple[str, str] | None = None  # (METHOD, "/bucket/key-prefix")
        self.counts: Counter = Counter()
        self.requests = 0
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def set_faults(self, total: float = 0.0, seed: int = 0, **rates: float) -> None:
        """``total`` spreads one rate evenly over every fault kind; keyword rates set
        single kinds. ``set_faults()`` turns everything off."""
        with self._lock:
            self.rates = {k: total / len(FAULTS) for k in FAULTS}
            self.rates.update(rates)
            self._rng = random.Random(seed)
            self.counts = Counter()
            self.requests = 0

    def _draw(self, method: str) -> str:
        with self._lock:
            self.requests += 1
            x = self._rng.random()
            for kind in FAULTS:
                x -= self.rates[kind]
                if x < 0:
                    if kind == "truncate" and method != "GET":
                        return ""
                    self.counts[kind] += 1
                    return kind
            return ""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner: FaultProxy

    def log_message(self, format, *args):  # quiet
        pass

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(out)
                out.append(self.rfile.read(size))
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _reset(self) -> None:
        """Close with RST, not FIN: what a dropped connection looks like to the client."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def _error(self, kind: str) -> None:
        status, code, message = _ERRORS[kind]
        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{message}</Message><RequestId>injected</RequestId></Error>"
        ).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _forward(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(*self.owner.upstream, timeout=60)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            if body or self.command in ("PUT", "POST"):
                headers["Content-Length"] = str(len(body))
            conn.request(self.command, self.path, body=body or None, headers=headers)
            r = conn.getresponse()
            data = r.read()
            return r.status, r.getheaders(), data
        finally:
            conn.close()

    def _handle(self) -> None:
        body = self._body()
        owner = self.owner
        deny = owner.deny
        if deny and self.command == deny[0] and self.path.startswith(deny[1]):
            owner.counts["deny"] += 1
            self._error("deny")
            return
        fault = owner._draw(self.command)
        if fault in ("error500", "error503", "slowdown"):
            self._error(fault)
            return
        if fault == "reset" and owner._rng.random() < 0.5:
            self._reset()  # before the request reaches the store
            return
        if fault == "latency":
            time.sleep(owner.latency_s)
        status, headers, data = self._forward(body)
        if fault == "reset":  # after: the store did it, the client never hears so
            self._reset()
            return
        self.send_response(status)
        length = None
        for k, v in headers:
            if k.lower() in _HOP or k.lower() in ("content-length", "date", "server"):
                if k.lower() == "content-length":
                    length = v
                continue
            self.send_header(k, v)
        if self.command == "HEAD":
            self.send_header("Content-Length", length or "0")
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if fault == "truncate" and len(data) > 1:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle  # noqa: N815 (http.server names)
