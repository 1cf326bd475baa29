"""Helpers for integration tests that drive the real local stack."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reliability.accounting import read_json_lines


def delivery_lines(path: Path) -> list[dict[str, Any]]:
    return [r for r in read_json_lines([path]) if r.get("message") == "delivery"]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy; return that, or the last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(interval)
        value = predicate()
    return value
