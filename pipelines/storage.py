"""The one small I/O layer: URIs in, bytes out, through fsspec.

Accepted locations: local paths, ``file://``, ``s3://`` (s3fs; endpoint, region and
credentials from the standard AWS environment, plus ``AWS_ENDPOINT_URL`` for S3-compatible
stores) and ``gs://`` where gcsfs is installed. ``stylecore`` never sees a URI: only this
module and the jobs do.

Writes are atomic per object: on local file systems a temporary name in the same folder
and ``os.replace``; on object stores one PUT, which is atomic by nature.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import random
import re
import tempfile
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import fsspec

log = logging.getLogger(__name__)


def split_uri(uri: str) -> tuple[str, str]:
    """Return ``(protocol, path)``: 'file' for local paths and file:// URIs."""
    if "://" not in uri:
        return "file", os.path.abspath(uri)
    parts = urlsplit(uri)
    proto = parts.scheme.lower()
    if proto == "file":
        return "file", os.path.abspath(parts.path)
    return proto, f"{parts.netloc}{parts.path}"


def is_local(uri: str) -> bool:
    return split_uri(uri)[0] == "file"


def filesystem(uri: str) -> fsspec.AbstractFileSystem:
    proto, _ = split_uri(uri)
    if proto == "s3":
        return fsspec.filesystem("s3", **_s3_options())
    return fsspec.filesystem(proto)


def fresh_fs(uri: str) -> tuple[fsspec.AbstractFileSystem, str]:
    """The file system and path for ``uri``, with fsspec's listing cache dropped: other
    processes (Ray workers, other jobs) write to the same store, so a cached listing
    would be stale."""
    proto, path = split_uri(uri)
    fs = filesystem(uri)
    if proto != "file":
        fs.invalidate_cache()
    return fs, path


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
    proto, path = split_uri(uri)
    if proto == "file":
        with open(path, "rb") as f:
            return f.read()
    return filesystem(uri).cat_file(path)


def exists(uri: str) -> bool:
    proto, path = split_uri(uri)
    if proto == "file":
        return os.path.exists(path)
    fs, path = fresh_fs(uri)
    return fs.exists(path)


def write_bytes(uri: str, data: bytes) -> None:
    """Write ``data`` at ``uri`` atomically, creating parent folders as needed."""
    proto, path = split_uri(uri)
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


# --- listing, metadata, deletes -----------------------------------------------------------


@dataclass(frozen=True)
class FileInfo:
    uri: str  # with the scheme for object stores, an absolute path for local files
    size: int
    etag: str  # the store's entity tag (S3 ETag), "" where the store has none


def _with_scheme(proto: str, path: str) -> str:
    return path if proto == "file" else f"{proto}://{path}"


def _etag(info: dict) -> str:
    for key in ("ETag", "etag", "md5Hash"):
        if info.get(key):
            return str(info[key]).strip('"')
    return ""


def list_files(prefix: str, extensions: tuple[str, ...] | None = None) -> list[FileInfo]:
    """Every file under ``prefix`` (recursively), sorted by URI, with size and etag.
    Folder marker objects (keys ending in '/') are ignored."""
    proto, _ = split_uri(prefix)
    fs, root = fresh_fs(prefix)
    if not fs.isdir(root):
        raise FileNotFoundError(f"{prefix}: not a folder or prefix")
    found = fs.find(root, detail=True)
    out = []
    for path, info in sorted(found.items()):
        if info.get("type") == "directory" or path.endswith("/"):
            continue
        if extensions and not path.lower().endswith(extensions):
            continue
        out.append(FileInfo(_with_scheme(proto, path), int(info.get("size") or 0), _etag(info)))
    return out


def info(uri: str) -> FileInfo:
    fs, path = fresh_fs(uri)
    i = fs.info(path)
    return FileInfo(uri, int(i.get("size") or 0), _etag(i))


def delete(uri: str, recursive: bool = False) -> None:
    """Remove ``uri`` (a folder too with ``recursive``); a missing path is not an error."""
    fs, path = fresh_fs(uri)
    if fs.exists(path):
        fs.rm(path, recursive=recursive)


def is_dir(uri: str) -> bool:
    """Is ``uri`` a folder (or, in an object store, a prefix with objects under it)?"""
    fs, path = fresh_fs(uri)
    try:
        return bool(fs.isdir(path))
    except (FileNotFoundError, PermissionError):
        return False


def check_writable(uri: str) -> None:
    """Fail now, with a clear message, when nothing can be written under ``uri``: writes a
    small probe object there and removes it. Raises ``PermissionError`` or ``OSError``."""
    proto, path = split_uri(uri)
    if proto == "file" and os.path.exists(path) and not os.path.isdir(path):
        raise NotADirectoryError(f"{uri}: exists and is not a folder")
    created = []  # local folders this check makes, removed again: it leaves no trace
    if proto == "file":
        p = path
        while p and not os.path.exists(p) and p != os.path.dirname(p):
            created.append(p)
            p = os.path.dirname(p)
    probe = join(uri, f".restyle-write-check-{os.getpid()}")
    try:
        write_bytes(probe, b"")
    except OSError as e:
        raise PermissionError(f"{uri}: cannot write there ({e.strerror or e})") from e
    delete(probe)
    for folder in created:  # deepest first
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def list_dirs(uri: str) -> list[str]:
    """Names of the immediate sub-folders of ``uri`` (empty when it does not exist)."""
    fs, path = fresh_fs(uri)
    if not fs.exists(path):
        return []
    return sorted(
        posixpath.basename(e["name"].rstrip("/"))
        for e in fs.ls(path, detail=True)
        if e.get("type") == "directory"
    )


# --- retries for transient errors --------------------------------------------------------

# Errors that retrying cannot fix: the object is not there, or we may not read it.
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
)


def with_retries(fn, *args, attempts: int = 4, base_delay_s: float = 0.2, what: str = ""):
    """Call ``fn(*args)``, retrying transient errors (anything but ``PERMANENT_ERRORS``) with
    exponential backoff and jitter: ``base_delay_s`` x 2^k. The last error is raised."""
    for k in range(attempts):
        try:
            return fn(*args)
        except PERMANENT_ERRORS:
            raise
        except Exception as e:
            if k == attempts - 1:
                raise
            delay = base_delay_s * (2**k) * (0.5 + random.random())
            log.warning(
                "%s: %s (%s); retry %d/%d in %.2f s",
                what or getattr(fn, "__name__", "call"),
                type(e).__name__,
                redact(str(e))[:200],
                k + 1,
                attempts - 1,
                delay,
            )
            time.sleep(delay)
    raise AssertionError("unreachable")


# --- keys that stay inside their base -----------------------------------------------------

_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f\\:*?\"<>|]")


def safe_key(key: str) -> str:
    """``key`` as a relative path that cannot leave the folder it is joined onto.

    Accepts '/'-separated segments of ordinary characters (spaces and non-ASCII letters
    included). Rejects, with ``ValueError``, absolute paths, URI schemes, '..' or '.'
    segments, empty segments, backslashes, control and reserved characters, and keys over
    512 characters."""
    if not key or len(key) > 512:
        raise ValueError(f"unsafe key {key[:80]!r}: empty or longer than 512 characters")
    if key.startswith("/") or "://" in key or _UNSAFE_CHARS.search(key):
        raise ValueError(
            f"unsafe key {key!r}: absolute paths, schemes, backslashes and control or "
            'reserved characters (:*?"<>|) are not allowed'
        )
    parts = key.split("/")
    if any(p in ("", ".", "..") or p != p.strip() for p in parts):
        raise ValueError(f"unsafe key {key!r}: empty, '.', '..' or space-padded segments")
    return key


# --- credentials never leave the process --------------------------------------------------

_SECRET_ENV = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "GOOGLE_APPLICATION_CREDENTIALS",
)
# (pattern, replacement): key=value credentials, signed-URL parameters, URL passwords and
# AWS access key ids.
_SECRET_PATTERNS = [
    (
        re.compile(
            r"(?i)\b(aws_secret_access_key|aws_session_token|secret|token|password"
            r"|x-amz-credential|x-amz-signature|x-amz-security-token)=[^&\s]+"
        ),
        r"\1=***",
    ),
    (re.compile(r"(://)[^/@\s:]+:[^/@\s]+@"), r"\1***@"),
    (re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b"), "***"),
]


def redact(text: str) -> str:
    """``text`` with credentials removed: the values of the credential variables in this
    process's environment, signed-URL parameters, URL passwords and access key ids."""
    for name in _SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    for pat, repl in _SECRET_PATTERNS:
        text = pat.sub(repl, text)
    return text
