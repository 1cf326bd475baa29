"""Configuration from environment variables, each with a documented default."""

from __future__ import annotations

import os


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
