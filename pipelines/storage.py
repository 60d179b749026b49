"""The one small I/O layer: URIs in, bytes out, through fsspec.

Accepted locations: local paths, ``file://``, ``s3://`` (s3fs; endpoint, region and
credentials from the standard AWS environment, plus ``AWS_ENDPOINT_URL`` for S3-compatible
stores) and ``gs://`` where gcsfs is installed. ``stylecore`` never sees a URI: only this
module and the jobs do.

Writes are atomic per object: on local file systems a temporary name in the same folder
and ``os.replace``; on object stores one PUT, which is atomic by nature.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from urllib.parse import urlsplit

import fsspec


def _split(uri: str) -> tuple[str, str]:
    """Return ``(protocol, path)``: 'file' for local paths and file:// URIs."""
    if "://" not in uri:
        return "file", os.path.abspath(uri)
    parts = urlsplit(uri)
    proto = parts.scheme.lower()
    if proto == "file":
        return "file", os.path.abspath(parts.path)
    return proto, f"{parts.netloc}{parts.path}"


def is_local(uri: str) -> bool:
    return _split(uri)[0] == "file"


def filesystem(uri: str) -> fsspec.AbstractFileSystem:
    proto, _ = _split(uri)
    if proto == "s3":
        return fsspec.filesystem("s3", **_s3_options())
    return fsspec.filesystem(proto)


def _s3_options() -> dict:
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    opts: dict = {}
    if endpoint:
        opts["endpoint_url"] = endpoint
    return opts


def join(base: str, *parts: str) -> str:
    """Join path segments onto a URI or local path with '/' semantics."""
    if "://" in base:
        head, _, rest = base.partition("://")
        return f"{head}://{posixpath.join(rest, *parts)}"
    return os.path.join(base, *parts)


def resolve(base_dir: str, uri: str) -> str:
    """Resolve ``uri`` against ``base_dir`` when it is relative (no scheme, not absolute)."""
    if "://" in uri or os.path.isabs(uri):
        return uri
    return join(base_dir, uri)


def dirname(uri: str) -> str:
    if "://" in uri:
        head, _, rest = uri.partition("://")
        return f"{head}://{posixpath.dirname(rest.rstrip('/'))}"
    return os.path.dirname(os.path.abspath(uri))


def read_bytes(uri: str) -> bytes:
    proto, path = _split(uri)
    if proto == "file":
        with open(path, "rb") as f:
            return f.read()
    return filesystem(uri).cat_file(path)


def exists(uri: str) -> bool:
    proto, path = _split(uri)
    if proto == "file":
        return os.path.exists(path)
    return filesystem(uri).exists(path)


def write_bytes(uri: str, data: bytes) -> None:
    """Write ``data`` at ``uri`` atomically, creating parent folders as needed."""
    proto, path = _split(uri)
    if proto == "file":
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; written objects are ordinary files
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return
    filesystem(uri).pipe_file(path, data)
