"""Fuzz sizes: short in `make test`, long in `make fuzz` (FUZZ_EXAMPLES=10000)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


def fuzz_examples(default: int) -> int:
    return int(os.environ.get("FUZZ_EXAMPLES") or default)


@pytest.fixture(scope="session")
def fuzz_record():
    """Collects figures (requests sent, outcomes) and writes them to FUZZ_REPORT if set."""
    figures: dict = {}
    yield figures
    target = os.environ.get("FUZZ_REPORT")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(json.dumps(figures, indent=2, sort_keys=True))
