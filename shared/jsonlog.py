"""One JSON object per line on stdout: what Cloud Logging parses into jsonPayload.

``severity`` and ``message`` are the keys Cloud Logging maps onto the entry's own fields.
Callers pass only fields that are safe to log: no raw personal data, no secrets.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from typing import Any

_lock = threading.Lock()


def log(severity: str, message: str, **fields: Any) -> dict[str, Any]:
    """Write one structured log line and return the record (handy for tests and the inspector)."""
    record: dict[str, Any] = {"severity": severity, "message": message, **fields}
    record.setdefault("time", time.time())
    line = json.dumps(record, separators=(",", ":"), default=str, ensure_ascii=False)
    with _lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    return record


def info(message: str, **fields: Any) -> dict[str, Any]:
    return log("INFO", message, **fields)


def warning(message: str, **fields: Any) -> dict[str, Any]:
    return log("WARNING", message, **fields)


def error(message: str, **fields: Any) -> dict[str, Any]:
    return log("ERROR", message, **fields)
