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

EVENTS = json.loads((Path(__file__).resolve().parent.parent / "golden" / "vendors" / "events.json").read_text())["events"]
SETTINGS = {"SERVICE_ACCOUNT": "u:s", "API_KEY": "k", "WRITE_KEY": "w", "MIN_ID_LENGTH": "1"}


def _ids(event):
    """(Mixpanel distinct_id, $device_id, $user_id), (Amplitude user_id, device_id), (Segment userId, anonymousId)."""
    mp = mixpanel.VENDOR.plan(event, SETTINGS, now=1730000100).request.json[0]["properties"]
    amp = amplitude.VENDOR.plan(event, SETTINGS, now=1730000100).request.json["events"][0]
    seg = segment.VENDOR.plan(event, SETTINGS, now=1730000100).request.json
    return ((mp["distinct_id"], mp.get("$device_id"), mp.get("$user_id")),
            (amp.get("user_id"), amp.get("device_id")), (seg.get("userId"), seg.get("anonymousId")))


@pytest.mark.parametrize("user_id, client_id", [("u_42", "1712345678.1699999999"), ("", "1712345678.1699999999"),
                                                ("u_42", "")])
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
        for secret in ("John_Smith", "650", "Hacker Way", "fb.1.1729990000000", "IwAR2AbCdEf\""):
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
    assert set(mixpanel.failed_rows({"failed_records": [{"index": 0, "field": "f"}, {"index": 4, "field": "g"},
                                                        {"index": "x"}, "junk"]})) == {0, 4}
    body = {"events_with_invalid_fields": {"time": [0, 2]}, "events_with_missing_fields": {"event_type": [5]},
            "silenced_events": [7, True], "events_with_invalid_id_lengths": {"user_id": "nope"}}
    assert sorted(amplitude.failed_rows(body)) == [0, 2, 5, 7]
    assert amplitude.failed_rows("not json") == {} and mixpanel.failed_rows(None) == {}


def test_an_unparseable_400_falls_back_to_the_generic_rules():
    response = Response(status=400, text="<html>bad</html>", headers={})
    assert mixpanel.classify(response) is None and amplitude.classify(response) is None
