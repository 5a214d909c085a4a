"""Log lines of the API: plain text (default) or ``LOG_FORMAT=json``, one JSON object per line that a
log shipper (Loki, Elasticsearch, CloudWatch) can index without parsing rules. Either way every line
written while a request is answered carries its ``X-Request-ID``, so one request's lines can be found."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from api.middleware import request_id_var

TEXT_FORMAT = "%(asctime)s %(levelname)s [%(name)s] %(message)s"
OUR_LOGGERS = ("api",)
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
_STANDARD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "request_id", "color_message",  # uvicorn's coloured copy of the message
}


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` (None outside a request); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, request_id, and
    the exception's traceback as one string field (so a traceback stays one line)."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        body: dict = {
            "time": when.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():  # extra={...} fields
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                body[key] = value if isinstance(value, str | int | float | bool | None) else repr(value)
        if record.exc_info:
            body["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            body["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(body, ensure_ascii=False)


def make_formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def configure_logging(level: str, log_format: str = "text") -> None:
    """Our ``api`` logger gets a handler (unless the root logger already has one, e.g. under pytest);
    with ``json`` uvicorn's own handlers (its start-up and access lines) are switched to JSON too."""
    request_ids = RequestIdFilter()
    logger = logging.getLogger("api")
    logger.setLevel(level.upper())
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(make_formatter(log_format))
        handler.addFilter(request_ids)
        logger.addHandler(handler)
    if log_format != "json":
        return
    for name in UVICORN_LOGGERS:
        for handler in logging.getLogger(name).handlers:
            handler.setFormatter(JsonFormatter())
            if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
                handler.addFilter(request_ids)
