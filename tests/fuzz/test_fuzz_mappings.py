"""Fuzzing every vendor's mapping (functions/vendors/*/main.py, found by folder): generated
normalized events must map to a request, or be refused (skipped or rejected with a reason),
never raise."""

from __future__ import annotations

import collections
import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from shared.delivery import Outcome
from tests.fuzz.conftest import fuzz_examples
from tests.fuzz.strategies import nasty_text, normalized_events

VENDORS_DIR = Path(__file__).resolve().parents[2] / "functions" / "vendors"
VENDOR_NAMES = sorted(p.parent.name for p in VENDORS_DIR.glob("*/main.py"))
EXAMPLES = fuzz_examples(300)


def load_vendor(name: str):
    spec = importlib.util.spec_from_file_location(f"fuzz_vendor_{name}", VENDORS_DIR / name / "main.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.VENDOR


@pytest.mark.parametrize("name", VENDOR_NAMES)
def test_mapping_maps_or_refuses_every_generated_event(name, fuzz_record):
    vendor = load_vendor(name)
    outcomes: collections.Counter = collections.Counter()
    fake = {
        "URL": "http://127.0.0.1:9/",
        "MEASUREMENT_ID": "G-FUZZ",
        "PIXEL_ID": "1234567890",
        "PIXEL_CODE": "FUZZCODE",
    }
    # Settings are the operator's configuration, not input: valid fake values, each present or not.
    setting_values = st.fixed_dictionaries(
        {}, optional={key: st.just(fake.get(key, "1")) for key in vendor.setting_names}
    )
    attributes = st.dictionaries(
        st.sampled_from(["event_name", "measurement_id", "debug", "consent_ad_storage"]), nasty_text, max_size=3
    )

    @seed(20261129)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(event=normalized_events(), values=setting_values, attrs=attributes)
    def check(event, values, attrs) -> None:
        plan = vendor.plan(event, values, attrs)  # must not raise
        if plan.attempt is not None:
            outcome = plan.attempt.outcome
            assert outcome in (Outcome.SKIPPED, Outcome.REJECTED, Outcome.DRY_RUN), outcome
            assert plan.attempt.reason, "a refusal without a reason"
            key = (
                outcome.value if outcome is Outcome.DRY_RUN else f"{outcome.value}:{plan.attempt.reason.split(':')[0]}"
            )
            outcomes[key] += 1
        else:
            outcomes["request"] += 1
        if plan.request is not None:
            # The runtime sends this body as JSON: it must serialize.
            json.dumps(plan.request.json, allow_nan=False)
            assert plan.request.url.startswith("https://") or plan.request.url.startswith("http://")

    check()
    fuzz_record[f"mapping:{name}"] = {"events": sum(outcomes.values()), "outcomes": dict(outcomes)}
    print(f"\n{name} mapping fuzz: {sum(outcomes.values())} events, {dict(outcomes.most_common())}")
    assert sum(outcomes.values()) >= EXAMPLES * 0.9
