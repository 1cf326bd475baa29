"""Configuration from environment variables, each with a documented default."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_int(name: str, default: int) -> int:
    """An integer; ``default`` when unset or blank, ``ValueError`` naming the variable when not a number."""
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw.strip() else default
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from None


def env_float(name: str, default: float) -> float:
    """A number; ``default`` when unset or blank, ``ValueError`` naming the variable when not a number."""
    raw = os.environ.get(name, "")
    try:
        return float(raw) if raw.strip() else default
    except ValueError:
        raise ValueError(f"environment variable {name} must be a number, got {raw!r}") from None


def env_list(name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """A comma-separated list; empty entries are dropped."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def env_bool(name: str, default: bool = False) -> bool:
    """``1``/``true``/``yes``/``on`` (any case) are true, any other text false; ``default`` when unset or blank."""
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw in ("1", "true", "yes", "on")


def project_id() -> str:
    """The GCP project: GOOGLE_CLOUD_PROJECT in the cloud, PUBSUB_PROJECT_ID with the emulator."""
    return (
        os.environ.get("GOOGLE_CLOUD_PROJECT")
        or os.environ.get("PUBSUB_PROJECT_ID")
        or os.environ.get("GCP_PROJECT")
        or "tagging-local"
    )


# CPython's dict of the raw environment behind os.environ (None elsewhere: no memo).
_ENVIRON_DATA: Any = getattr(os.environ, "_data", None)
_memo: dict[Hashable, Any] = {}
_memo_environ: dict[Any, Any] | None = None
_memo_generation = 0
_memo_lock = threading.Lock()


def memo(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, a value read from environment variables, kept until the environment
    changes (any variable set, changed or removed through ``os.environ``, as tests do).

    Checking costs one C-level comparison of the environment (about a microsecond), where
    reading a vendor's two dozen settings through ``os.environ`` costs tens: the delivery
    runtime reads them per message. An exception from ``compute`` is raised, not kept.
    """
    global _memo_environ, _memo_generation
    if _ENVIRON_DATA is None:
        return compute()
    with _memo_lock:
        if _memo_environ != _ENVIRON_DATA:
            _memo.clear()
            _memo_environ = dict(_ENVIRON_DATA)
            _memo_generation += 1
        elif key in _memo:
            return _memo[key]  # type: ignore[no-any-return]
        generation = _memo_generation
    value = compute()
    with _memo_lock:
        if generation == _memo_generation:  # the environment did not change meanwhile
            _memo[key] = value
    return value
