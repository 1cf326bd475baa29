"""Shared fixtures: the sample hits and the real local stack (emulator + functions)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def load_sample_hits() -> list[dict]:
    """The real GA4 hits of tests/fixtures/ga4-real-hits.jsonl (copied from ../shared/fixtures)."""
    with open(FIXTURES / "ga4-real-hits.jsonl") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="session")
def sample_hits() -> list[dict]:
    return load_sample_hits()


def pytest_collection_modifyitems(config, items):
    """Integration tests need gcloud's Pub/Sub emulator: fail loudly, never skip silently."""
    if any("integration" in item.keywords for item in items) and shutil.which("gcloud") is None:
        raise pytest.UsageError("integration tests need gcloud with the pubsub-emulator component")


@pytest.fixture(autouse=True)
def _vendor_backoff_per_test():
    """A vendor's rate-limit pause lives in its module-level ``VENDOR`` for the whole process
    (one per instance, by design); tests start without one so a 429 case cannot leak."""
    import sys

    def clear() -> None:
        for name, module in list(sys.modules.items()):
            vendor = getattr(module, "VENDOR", None) if name.startswith("functions.vendors.") else None
            if vendor is not None and hasattr(vendor, "backoff"):
                vendor.backoff.clear()

    clear()
    yield
    clear()
