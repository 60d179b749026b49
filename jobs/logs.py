"""The command's log output: the level (-v, -q, RESTYLE_LOG_LEVEL), the stderr handler with
the run context on every line, and -q's quieting of Ray (its loggers, and the lines its C++
core writes straight to stderr)."""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading

from stylecore.config import ConfigError
from stylecore.runlog import ContextFilter

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LEVEL_ENV = "RESTYLE_LOG_LEVEL"


def log_level(verbose: int = 0, quiet: bool = False) -> int:
    """-v: DEBUG; -q: WARNING; else RESTYLE_LOG_LEVEL (a name or a number), else INFO.
    Raises ``ConfigError`` for a level it does not know."""
    if verbose:
        return logging.DEBUG
    if quiet:
        return logging.WARNING
    raw = os.environ.get(LEVEL_ENV, "").strip()
    if not raw:
        return logging.INFO
    if raw.isdigit():
        return int(raw)
    if raw.upper() in LEVELS:
        return getattr(logging, raw.upper())
    raise ConfigError(f"{LEVEL_ENV}={raw!r}: use one of {', '.join(LEVELS)} (or a number)")


# Lines Ray prints on every run that say nothing about this run. Ray's C++ core writes them
# to file descriptor 2 directly, past Python's logging: ray-project/ray#57733 (Ray Data's
# actor pools always have a constructor argument in the object store).
RAY_NOISE = (
    re.compile(rb"core_worker\.cc:\d+: Actor with class name: .* has constructor arguments in "
               rb"the object store and max_restarts > 0"),
)  # fmt: skip


def _forward(src: int, dst: int, noise: tuple[re.Pattern, ...]) -> None:
    with os.fdopen(src, "rb", buffering=0) as pipe:
        pending = b""
        while chunk := pipe.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            out = b"".join(ln + b"\n" for ln in lines if not any(p.search(ln) for p in noise))
            if out:
                os.write(dst, out)
        if pending:
            os.write(dst, pending)


def quiet_ray() -> None:
    """For -q: Ray's Python loggers at ERROR (``init_ray`` does the rest), and the lines of
    ``RAY_NOISE``, which Ray's C++ core writes straight to stderr, filtered out of this
    process's stderr. Everything else on stderr passes through unchanged."""
    logging.getLogger("ray").setLevel(logging.ERROR)
    if os.environ.get("RESTYLE_NO_STDERR_FILTER"):
        return
    sys.stderr.flush()
    original = os.dup(2)
    r, w = os.pipe()
    os.dup2(w, 2)
    os.close(w)
    thread = threading.Thread(target=_forward, args=(r, original, RAY_NOISE), daemon=True)
    thread.start()

    def restore() -> None:
        sys.stderr.flush()
        os.dup2(original, 2)  # the pipe's last writer in this process goes: EOF
        thread.join(timeout=2.0)

    atexit.register(restore)


def setup_logging(level: int = logging.INFO) -> None:
    """Log to stderr with the run context (run_id, shard, ...) on every line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(name)s [%(ctx)s] %(message)s", "%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
