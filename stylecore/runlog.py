"""Run context for log records: ``with log_context(run_id=..., shard=...)`` tags every
record logged inside it, in any module, so lines from a shard can be found in a busy log.

Pure Python (a ``ContextVar`` and a ``logging.Filter``); handlers are set up by the jobs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_CONTEXT: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("restyle_log_context", default=())


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add ``fields`` to the context of every record logged inside the block."""
    current = dict(_CONTEXT.get())
    current.update({k: str(v) for k, v in fields.items() if v is not None})
    token = _CONTEXT.set(tuple(current.items()))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current_context() -> dict[str, str]:
    return dict(_CONTEXT.get())


class ContextFilter(logging.Filter):
    """Sets ``record.ctx`` to ``"key=value ..."`` (or ``"-"``) for formatters to use."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _CONTEXT.get()
        record.ctx = " ".join(f"{k}={v}" for k, v in ctx) if ctx else "-"
        return True
