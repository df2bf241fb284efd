"""Logging set-up for journald: text or JSON lines on stderr, each with a stable `action`."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from campaignd.config import LogFormat, LogSettings

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
#: Loggers of libraries that would otherwise show their own names: uvicorn logs everything but
#: access lines (off: `http/server.py`) as "uvicorn.error", which read "error: Started server
#: process" at INFO. They come out under our names, as `action` and as the JSON `logger`.
RENAMED = {
    "uvicorn": "http.server",
    "uvicorn.error": "http.server",
    "uvicorn.access": "http.access",
    "uvicorn.asgi": "http.server",
}


class _ActionDefault(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        renamed = RENAMED.get(record.name)
        if renamed is not None:
            record.name = renamed
            record.action = renamed
        elif not hasattr(record, "action"):
            record.action = record.name.rsplit(".", 1)[-1]
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, action, message and any extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value if isinstance(value, int | float | str | bool) else str(value)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(levelname)-7s %(action)s: %(message)s")


def setup_logging(settings: LogSettings, stream: Any = None) -> None:
    """Replace the root handlers with one stderr handler (journald adds timestamps)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_ActionDefault())
    handler.setFormatter(JsonFormatter() if settings.format is LogFormat.JSON else TextFormatter())
    handler.formatter.converter = __import__("time").gmtime  # type: ignore[union-attr]
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.level)
    # uvicorn's INFO lines (started, shutting down, finished) repeat our http.start line.
    for noisy in ("aiosqlite", "alembic", "asyncio", "mail.log", "sqlalchemy", "uvicorn"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # APScheduler warns each time a tick is skipped because the previous one still runs;
    # that is by design (max_instances=1), not a problem to report.
    logging.getLogger("apscheduler").setLevel(max(logging.ERROR, root.level))
