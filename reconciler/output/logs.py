"""JSON-lines logs on stderr. Records carry names, ids and error types; never secret values."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # the exception's type only: messages from libraries are not ours to vouch for
            out["exception_type"] = record.exc_info[0].__name__
        return json.dumps(out, default=str)


def configure(level: str = "INFO", *, stream: Any = None, json_lines: bool = True) -> None:
    root = logging.getLogger("reconciler")
    root.handlers.clear()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    root.propagate = False
    # botocore at DEBUG logs request bodies, which carry secret values: keep it quiet always.
    for noisy in ("botocore", "aiobotocore", "boto3", "aioboto3", "urllib3", "s3transfer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
