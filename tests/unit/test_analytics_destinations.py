"""The identity rule and per-row outcomes shared by Mixpanel, Amplitude and Segment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from functions.vendors.amplitude import main as amplitude
from functions.vendors.mixpanel import main as mixpanel
from functions.vendors.segment import main as segment
from shared.delivery import Outcome, analytics
from shared.delivery.http import Response
from shared.delivery.rows import RowFailure, row_outcomes

EVENTS = json.loads((Path(__file__).resolve().parent.parent / "golden" / "vendors" / "events.json").read_text())[
    "events"
]
SETTINGS = {"SERVICE_ACCOUNT": "u:s", "API_KEY": "k", "WRITE_KEY": "w", "MIN_ID_LENGTH": "1"}


def _ids(event):
    """(Mixpanel distinct_id, $device_id, $user_id), (Amplitude user_id, device_id), (Segment userId, anonymousId)."""
    mp = mixpanel.VENDOR.plan(event, SETTINGS, now=1730000100).request.json[0]["properties"]
    amp = amplitude.VENDOR.plan(event, SETTINGS, now=1730000100).request.json["events"][0]
    seg = segment.VENDOR.plan(event, SETTINGS, now=1730000100).request.json
    return (
        (mp["distinct_id"], mp.get("$device_id"), mp.get("$user_id")),
        (amp.get("user_id"), amp.get("device_id")),
        (seg.get("userId"), seg.get("anonymousId")),
    )


@pytest.mark.parametrize(
    "user_id, client_id", [("u_42", "1712345678.1699999999"), ("", "1712345678.1699999999"), ("u_42", "")]
)
def test_every_analytics_destination_applies_the_same_identity_rule(user_id, client_id):
    event = dict(EVENTS["purchase"], user_id=user_id, client_id=client_id)
    mp, amp, seg = _ids(event)
    assert mp == (user_id or client_id, client_id or None, user_id or None)
    assert amp == (user_id or None, client_id or None)
    assert seg == (user_id or None, client_id or None)


def test_no_identity_is_rejected_everywhere():
    event = dict(EVENTS["page_view"], client_id="  ")
    for vendor in (mixpanel.VENDOR, amplitude.VENDOR, segment.VENDOR):
        plan = vendor.plan(event, SETTINGS, now=1730000100)
        assert (plan.attempt.outcome, plan.attempt.reason) == (Outcome.REJECTED, "missing_identity")


def test_personal_data_never_becomes_a_property():
    event = EVENTS["purchase"]
    for vendor in (mixpanel.VENDOR, amplitude.VENDOR, segment.VENDOR):
        body = json.dumps(vendor.plan(event, SETTINGS, now=1730000100).request.json)
        for secret in ("John_Smith", "650", "Hacker Way", "fb.1.1729990000000", 'IwAR2AbCdEf"'):
            assert secret not in body, (vendor.name, secret)


def test_campaign_prefers_the_tags_overrides_then_the_url():
    event = {"page_location": "https://x.example/?utm_source=a&utm_medium=b", "campaign_source": "c"}
    assert analytics.campaign(event) == {"utm_source": "c", "utm_medium": "b"}


def test_row_outcomes_serve_a_batch():
    failures = {1: RowFailure(1, "mixpanel_failed_record:properties.time", "bad time")}
    ingested = row_outcomes(3, failures, status=400, others_ingested=True)
    assert [a.outcome for a in ingested] == [Outcome.DELIVERED, Outcome.REJECTED, Outcome.DELIVERED]
    assert ingested[1].reason == "mixpanel_failed_record:properties.time"
    resend = row_outcomes(3, failures, status=400, others_ingested=False)
    assert [a.outcome for a in resend] == [Outcome.RETRYING, Outcome.REJECTED, Outcome.RETRYING]


def test_vendor_row_parsers_read_every_listed_index():
    assert set(
        mixpanel.failed_rows(
            {"failed_records": [{"index": 0, "field": "f"}, {"index": 4, "field": "g"}, {"index": "x"}, "junk"]}
        )
    ) == {0, 4}
    body = {
        "events_with_invalid_fields": {"time": [0, 2]},
        "events_with_missing_fields": {"event_type": [5]},
        "silenced_events": [7, True],
        "events_with_invalid_id_lengths": {"user_id": "nope"},
    }
    assert sorted(amplitude.failed_rows(body)) == [0, 2, 5, 7]
    assert amplitude.failed_rows("not json") == {} and mixpanel.failed_rows(None) == {}


def test_an_unparseable_400_falls_back_to_the_generic_rules():
    response = Response(status=400, text="<html>bad</html>", headers={})
    assert mixpanel.classify_rows(response, 1) is None and amplitude.classify(response) is None
    assert amplitude.classify_rows(response, 1) is None


# -- any event shape: a plan, never an exception (as tests/unit/test_vendor_robustness.py) ------

from hypothesis import HealthCheck, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
KEYS = sorted(
    {key for event in EVENTS.values() for key in event}
    | {"client_hints", "user_properties", "campaign_source", "campaign_name", "ga_session_id", "note"}
)
VENDORS = {"mixpanel": mixpanel.VENDOR, "amplitude": amplitude.VENDOR, "segment": segment.VENDOR}


@pytest.mark.parametrize("vendor", sorted(VENDORS))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=st.sampled_from(sorted(EVENTS)), changes=st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6))
@example(
    base="purchase",
    changes={
        "value": float("nan"),
        "items": [{"price": float("inf"), "index": "x"}],
        "client_hints": {"full_version_list": [{"brand": 1}, "x"], "platform": 3},
    },
)
@example(base="page_view", changes={"ga_session_id": float("inf"), "screen_resolution": "x", "note": float("nan")})
@example(base="purchase", changes={"timestamp_micros": -5, "user_properties": [1], "event_id": {"a": 1}})
def test_any_event_shape_gives_a_plan_not_an_exception(vendor, base, changes):
    event = {**EVENTS[base], **changes}
    plan = VENDORS[vendor].plan(event, SETTINGS, {}, now=1730000100)
    assert plan.request is not None or plan.attempt is not None
    if plan.attempt is not None:
        assert plan.attempt.reason and plan.attempt.reason != "mapping_error", plan.attempt
    if plan.request is not None and plan.attempt is None:
        json.dumps(plan.request.json, allow_nan=False)
