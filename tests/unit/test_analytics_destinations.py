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


# -- batch hooks (shared/delivery/batching.py): combine and split, pure ------------------------

NOW = 1730000100


def _requests(vendor, names, **settings):
    return [vendor.plan(dict(EVENTS[name]), {**SETTINGS, **settings}, now=NOW).request for name in names]


def test_mixpanel_combine_concatenates_the_import_arrays():
    # https://docs.mixpanel.com/reference/import-events: "Each request ingests a batch of
    # events", the body a JSON array of {"event", "properties"} objects, "up to 2000 events".
    api = mixpanel.VENDOR.batch_api
    first, second = _requests(mixpanel.VENDOR, ["page_view", "purchase"])
    assert api.key(first) == api.key(second)
    merged = api.combine([first, second])
    assert (merged.method, merged.url, merged.headers) == (first.method, first.url, first.headers)
    assert "strict=1" in merged.url  # per-row failed_records need strict mode
    assert merged.json == [first.json[0], second.json[0]]
    assert [row["event"] for row in merged.json] == ["page_view", "purchase"]
    assert api.events(merged) == 2 and api.max_events == 2000


def test_mixpanel_split_gives_each_row_its_outcome():
    # The 400 Bad Request page's sample answer, in a request of three events: row 0 failed,
    # "Mixpanel still ingests the events that passed"
    # (https://docs.mixpanel.com/troubleshooting/errors/400-bad-request).
    body = {
        "code": 400,
        "error": "some data points in the request failed validation",
        "status": "Bad Request",
        "num_records_imported": 2,
        "failed_records": [
            {
                "index": 0,
                "insert_id": "13c0b661-f48b-51cd-ba54-97c5999169c0",
                "field": "properties.time",
                "message": "'properties.time' is invalid: must be specified as seconds since epoch",
            }
        ],
    }
    rows = mixpanel.VENDOR.batch_api.split(Response(status=400, text=json.dumps(body), headers={}), 3)
    assert [(r.outcome, r.reason) for r in rows] == [
        (Outcome.REJECTED, "mixpanel_failed_record:properties.time"),
        (Outcome.DELIVERED, ""),
        (Outcome.DELIVERED, ""),
    ]
    assert "must be specified as seconds since epoch" in rows[0].detail
    assert mixpanel.VENDOR.batch_api.split(Response(status=200, text='{"code":200}', headers={}), 3) is None


def test_amplitude_combine_shares_api_key_and_options_and_keeps_other_keys_apart():
    # https://amplitude.com/docs/apis/analytics/http-v2: body {"api_key", "events": [...],
    # "options"}; "fewer than 2000 events per request", "under 1 MB".
    api = amplitude.VENDOR.batch_api
    first, second = _requests(amplitude.VENDOR, ["page_view", "purchase"])
    assert first.json["api_key"] == "k" and first.json["options"] == {"min_id_length": 1}
    merged = api.combine([first, second])
    assert merged.url == "https://api2.amplitude.com/2/httpapi" and merged.headers == first.headers
    assert merged.json == {
        "api_key": "k",
        "events": [first.json["events"][0], second.json["events"][0]],
        "options": {"min_id_length": 1},
    }
    assert api.events(merged) == 2 and api.max_events < 2000 and api.max_bytes == 1_000_000
    # api_key and options are top-level: another key or option never shares a request
    (other_key,) = _requests(amplitude.VENDOR, ["page_view"], API_KEY="k2")
    (other_options,) = _requests(amplitude.VENDOR, ["page_view"], MIN_ID_LENGTH="5")
    assert len({api.key(first), api.key(second), api.key(other_key), api.key(other_options)}) == 3


def test_amplitude_split_rejects_the_named_rows_and_resends_the_rest():
    # HTTP V2 400 answer: events_with_invalid_fields / events_with_missing_fields map a field to
    # indexes, silenced_events lists indexes (https://amplitude.com/docs/apis/analytics/http-v2,
    # "400 Bad Request"); events_with_invalid_id_lengths is undocumented there but sent
    # (Amplitude's own SDK: https://github.com/amplitude/Amplitude-TypeScript/pull/81); nothing of the
    # request is ingested: "remove those events and resend the rest"
    # (https://amplitude.com/docs/apis/analytics/http-api-batching-retries).
    body = {
        "code": 400,
        "error": "Request missing required field",
        "events_with_invalid_fields": {"time": [1]},
        "events_with_missing_fields": {"event_type": [2]},
        "events_with_invalid_id_lengths": {"device_id": [4]},
        "silenced_events": [5],
    }
    rows = amplitude.VENDOR.batch_api.split(Response(status=400, text=json.dumps(body), headers={}), 7)
    assert [(r.outcome, r.reason) for r in rows] == [
        (Outcome.RETRYING, "resend_after_row_failure"),
        (Outcome.REJECTED, "amplitude_invalid:time"),
        (Outcome.REJECTED, "amplitude_missing:event_type"),
        (Outcome.RETRYING, "resend_after_row_failure"),
        (Outcome.REJECTED, "amplitude_invalid_id_length:device_id"),
        (Outcome.REJECTED, "amplitude_silenced"),
        (Outcome.RETRYING, "resend_after_row_failure"),
    ]
    # A 400 about the request (no row named) is the whole request's: classify decides it.
    bad_key = Response(status=400, text='{"code": 400, "error": "Invalid API key: x"}', headers={})
    assert amplitude.VENDOR.batch_api.split(bad_key, 3) is None
    assert amplitude.classify(bad_key).reason == "amplitude_invalid_api_key"


def test_segment_combine_posts_one_batch_whose_calls_carry_their_type():
    # https://www.twilio.com/docs/segment/connections/sources/catalog/libraries/server/http-api
    # (Batch): POST /v1/batch {"batch": [{"type": "track", ...}, {"type": "page", ...}]}, each
    # call the body its own endpoint takes; max 500KB per batch and 32KB per call.
    api = segment.VENDOR.batch_api
    page, purchase = _requests(segment.VENDOR, ["page_view", "purchase"])
    assert page.url == "https://api.segment.io/v1/page" and purchase.url == "https://api.segment.io/v1/track"
    assert api.key(page) == api.key(purchase)  # one batch for every call type
    merged = api.combine([page, purchase])
    assert (merged.method, merged.url, merged.headers) == ("POST", "https://api.segment.io/v1/batch", page.headers)
    assert merged.json == {"batch": [{"type": "page", **page.json}, {"type": "track", **purchase.json}]}
    assert list(merged.json["batch"][1])[0] == "type" and merged.json["batch"][1]["event"] == "Order Completed"
    assert api.events(merged) == 2 and api.events(page) == 1
    assert api.max_bytes == 500_000 and api.split is None  # one 200 for the whole batch
    # EU workspaces batch on their own host; another write key never shares a batch.
    (eu,) = _requests(segment.VENDOR, ["purchase"], REGION="eu")
    (other_key,) = _requests(segment.VENDOR, ["purchase"], WRITE_KEY="w2")
    assert api.combine([eu, eu]).url == "https://events.eu1.segmentapis.com/v1/batch"
    assert len({api.key(page), api.key(eu), api.key(other_key)}) == 3
    # a combined request merged again keeps its calls (bisection resends halves)
    assert api.combine([merged, purchase]).json["batch"] == merged.json["batch"] + [{"type": "track", **purchase.json}]


def test_batch_size_counts_the_body_as_combine_would_send_it():
    api = segment.VENDOR.batch_api
    (purchase,) = _requests(segment.VENDOR, ["purchase"])
    one = len(json.dumps(api.combine([purchase]).json, separators=(",", ":"), ensure_ascii=False).encode())
    assert api.size(purchase) == one  # includes "type" and the batch wrapper
