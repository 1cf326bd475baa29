"""Helpers for integration tests that drive the real local stack."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable


def read_json_lines(path: Path) -> list[dict[str, Any]]:
    """Every JSON line of a process log (other lines, e.g. server banners, are ignored)."""
    records = []
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return records
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return records


def delivery_lines(path: Path) -> list[dict[str, Any]]:
    return [r for r in read_json_lines(path) if r.get("message") == "delivery"]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy; return that, or the last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value
