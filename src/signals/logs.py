"""Logging: one structlog processor chain, configured once, for our logs and uvicorn's.

Lines are JSON objects on stdout (`timestamp`, `level`, `event`, `logger`, and `request_id`
inside requests), or rendered for humans on a TTY. Named `logs` so it never shadows `logging`.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import TextIO

import msgspec
import structlog
from structlog.types import EventDict, Processor, WrappedLogger

_encoder = msgspec.json.Encoder()

# The request a log line was written in. One ContextVar set per request: structlog's
# bind_contextvars/unbind_contextvars cost several times more, on every request, for what only
# the rare line logged inside a request reads.
REQUEST_ID: ContextVar[str | None] = ContextVar("signals_request_id", default=None)


def add_request_id(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event_dict.setdefault("request_id", request_id)
    return event_dict


def _render_json(_: WrappedLogger, __: str, event_dict: EventDict) -> str:
    # structlog's JSONRenderer(serializer=msgspec.json.encode) fails on its keyword arguments.
    return _encoder.encode(event_dict).decode()


def _add_logger_name(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    record = event_dict.get("_record")
    if record is not None:
        event_dict["logger"] = record.name
    elif "logger" not in event_dict:
        name = getattr(logger, "name", None)
        if name:
            event_dict["logger"] = name
    return event_dict


def _stringify_unknown(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    for key, value in event_dict.items():
        if not isinstance(value, str | int | float | bool | type(None) | list | dict):
            event_dict[key] = str(value)
    return event_dict


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    """Route structlog and the stdlib (uvicorn included) through one chain to `stream`."""
    stream = stream or sys.stdout
    use_console = fmt == "console" or (fmt == "auto" and stream.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.stdlib.add_log_level,
        _add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    if use_console:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    else:
        shared += [structlog.processors.format_exc_info, _stringify_unknown]
        renderer = _render_json

    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers[:] = []
        uvicorn_logger.propagate = True
    # httpx logs every outgoing request at info: one line per router POST or webhook attempt.
    # The forwarder and the dispatcher log their own outcomes, so only its warnings are kept.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # One line per request is the access log's job; at info it would dominate the output and
    # cost throughput, so it appears only at debug.
    logging.getLogger("uvicorn.access").setLevel(
        logging.DEBUG if level == "debug" else logging.WARNING
    )
