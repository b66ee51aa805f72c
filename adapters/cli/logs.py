"""Logging for every `ordergate` command: `--log-level` and `--log-format text|json`.

One handler on the root logger, so the gate's own lines (`ordergate.signals`, `.orders`,
`.state`) and ib_async's go the same way, through the same `RedactingFilter` (URL passwords,
`password=` pairs and every secret value of the environment are masked). The JSON format writes
one object per line: `ts` (UTC, ISO 8601), `level`, `logger`, `message` and the line's own
fields (a signal's id, outcome, reason codes and latency; an order's status...).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from ordergate.application.config import RedactingFilter, Secrets, redact

__all__ = ["LOG_FORMATS", "LOG_LEVELS", "JsonFormatter", "configure_logging"]

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
LOG_FORMATS = ("text", "json")
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_HANDLER_NAME = "ordergate"


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with the record's `extra` fields."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._secrets = secrets

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exc"] = redact(self.formatException(record.exc_info), self._secrets)
        return json.dumps(line, default=str)


class _TextFormatter(logging.Formatter):
    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._secrets = secrets

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    def formatException(self, ei: Any) -> str:  # noqa: N802
        return redact(super().formatException(ei), self._secrets)


class _Stderr(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is at the time of each line (it may be swapped)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def configure_logging(
    level: str = "WARNING",
    fmt: str = "text",
    *,
    stream: TextIO | None = None,
    secrets: Secrets | None = None,
) -> logging.Handler:
    """Route every log line (ordergate's and ib_async's) to `stream` (stderr) at `level`, in
    `fmt`, redacted; replaces the handler an earlier call installed. Returns the handler."""
    name = level.upper()
    if name not in LOG_LEVELS:
        raise ValueError(f"--log-level: {level!r} is not one of {', '.join(LOG_LEVELS)}")
    if fmt not in LOG_FORMATS:
        raise ValueError(f"--log-format: {fmt!r} is not one of {', '.join(LOG_FORMATS)}")
    chosen = secrets if secrets is not None else Secrets.from_env(os.environ)
    values = chosen.values()
    handler = logging.StreamHandler(stream) if stream is not None else _Stderr()
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(RedactingFilter(chosen))
    handler.setFormatter(JsonFormatter(values) if fmt == "json" else _TextFormatter(values))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(name)
    return handler
