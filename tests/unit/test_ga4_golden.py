"""Golden tests: each real sample hit → the exact normalized events (tests/golden/ga4/*.json).

Each golden file was checked by hand against the spec once; regenerate only deliberately
(tests/golden/ga4/regenerate.py) and review the diff.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tests.conftest import load_sample_hits

GOLDEN = Path(__file__).parents[1] / "golden" / "ga4"
_spec = importlib.util.spec_from_file_location("ga4_golden_regenerate", GOLDEN / "regenerate.py")
regenerate = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regenerate)

FILES = sorted(GOLDEN.glob("*.json"))


def test_every_sample_hit_has_a_golden_file():
    assert len(load_sample_hits()) == len(regenerate.NAMES) == len(FILES)
    assert {f.stem for f in FILES} == set(regenerate.NAMES)


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_sample_hit_yields_exactly_the_golden_events(path):
    golden = json.loads(path.read_text())
    assert regenerate.run(golden["request"]) == golden["expected"]


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_golden_input_is_the_sample_hit(path):
    # The golden's request must stay the real hit it claims to be.
    golden = json.loads(path.read_text())
    [hit] = [
        h
        for h in load_sample_hits()
        if h["query"] == golden["request"]["query"] and h["body"] == golden["request"]["body"]
    ]
    assert hit["method"] == golden["request"]["method"] and hit["source"] == golden["source"]
