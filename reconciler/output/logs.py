"""JSON-lines logs on stderr. Records carry names, ids and error types; never secret values.

Invariants, whoever logs (the reconciler, botocore, aiobotocore, urllib3, asyncio, warnings):
- every record reaches stderr as exactly one JSON line (``configure`` puts the one handler on the
  root logger, so library records go through the same formatter);
- no traceback is ever printed: an exception is recorded as its type name only (its message and
  frames are a library's, and may quote data);
- library loggers are held at WARNING: at DEBUG botocore logs request bodies, which carry values.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
# Loggers of the libraries we run on: never below WARNING, whatever --log-level says.
NOISY_LOGGERS = ("botocore", "aiobotocore", "boto3", "aioboto3", "urllib3", "s3transfer", "asyncio", "aiohttp",
                 "py.warnings")
LIBRARY_LEVEL = logging.WARNING
_OURS = "_reconciler_handler"  # marks the handler ``configure`` installed (replaced on reconfigure)


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a library's broken format string: its template, never a logging error
        return str(record.msg)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname,
            "logger": record.name,
            "message": _message(record),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # the exception's type only: messages from libraries are not ours to vouch for
            out["exception_type"] = record.exc_info[0].__name__
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    """``LEVEL message`` for a person at a terminal; like JsonFormatter, never a traceback."""

    def format(self, record: logging.LogRecord) -> str:
        text = f"{record.levelname} {_message(record)}"
        if record.exc_info and record.exc_info[0] is not None:
            text += f" ({record.exc_info[0].__name__})"
        return text


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    def handleError(self, record: logging.LogRecord) -> None:
        # logging's default prints a traceback to stderr; one JSON line says what happened instead
        with contextlib.suppress(Exception):  # stderr itself is gone: nothing left to tell
            self.stream.write(json.dumps({"level": "ERROR", "logger": "reconciler.logs",
                                          "message": "a log record could not be written",
                                          "source_logger": record.name}) + "\n")


def configure(level: str = "INFO", *, stream: Any = None, json_lines: bool = True) -> None:
    """Route every logger to ``stream`` (stderr) through one formatter; reconfiguring replaces it.

    Handlers someone else put on the root logger that write to stdout/stderr as plain text (a
    ``basicConfig``, the Lambda runtime's) are removed so each record is one JSON line; any other
    handler (a file, a test's capture) is left alone.
    """
    handler = _Handler(stream or sys.stderr)
    setattr(handler, _OURS, True)
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _OURS, False) or _plain_console(old):
            root.removeHandler(old)
    root.addHandler(handler)
    requested = logging.getLevelName(level.upper())
    root.setLevel(max(LIBRARY_LEVEL, requested) if isinstance(requested, int) else LIBRARY_LEVEL)
    ours = logging.getLogger("reconciler")
    for old in list(ours.handlers):  # a handler of an earlier version of configure
        if getattr(old, _OURS, False):
            ours.removeHandler(old)
    ours.setLevel(level.upper())
    ours.propagate = True  # to the root's one handler
    logging.captureWarnings(True)  # warnings.warn from libraries: a record, not a raw stderr line
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(LIBRARY_LEVEL)


def _plain_console(handler: logging.Handler) -> bool:
    if type(handler).__name__ == "LambdaLoggerHandler":  # the Lambda runtime's text handler
        return True
    return type(handler) is logging.StreamHandler and getattr(handler, "stream", None) in (
        sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)
