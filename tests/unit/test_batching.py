"""Batch mode's sending half, against a real local HTTP server standing in for Meta/TikTok:
requests merged into the vendor's batch API, one outcome per message, bad events isolated,
throttling noticed, and gated events never sent."""

from __future__ import annotations

import dataclasses
import itertools
import json
import time

import pytest

from devstack.mock_vendor import MockVendor, Reply
from functions.vendors.meta.main import VENDOR as META
from functions.vendors.tiktok.main import VENDOR as TIKTOK
from functions.vendors.webhook.main import VENDOR as WEBHOOK
from shared import secrets
from shared.delivery import Outcome
from shared.delivery.batching import Batch, list_batch
from shared.delivery.client import run_sync
from shared.delivery.envelope import PushMessage

_ids = itertools.count(1)


def event(**changes) -> dict:
    base = {
        "event_name": "purchase",
        "event_id": f"b-{next(_ids)}",
        "client_id": "1.2",
        "x-ga-measurement_id": "G-TEST",
        "timestamp_micros": int(time.time() * 1_000_000),
        "page_location": "https://shop.example/thanks",
        "user_agent": "Mozilla/5.0 Test",
        "ip_override": "203.0.113.7",
        "currency": "EUR",
        "value": 10.0,
        "consent": {"ad_storage": "granted", "analytics_storage": "granted"},
    }
    base.update(changes)
    return base


def message(ev: dict) -> PushMessage:
    return PushMessage(event=ev, message_id=f"m-{next(_ids)}", delivery_attempt=1)


def deliver(vendor, events: list[dict]) -> tuple[list, Batch]:
    async def go():
        batch = Batch(vendor)
        return await batch.run([message(e) for e in events]), batch

    return run_sync(go())


def log_lines(capsys) -> list[dict]:
    return [json.loads(ln) for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")]


@pytest.fixture
def meta(monkeypatch):
    for name in ("LOG_REQUESTS", "META_TEST_EVENT_CODE", "META_EVENTS", "META_TEST_MODE"):
        monkeypatch.delenv(name, raising=False)
    secrets.reset()
    with MockVendor(default=Reply(200, body={"events_received": 1})) as server:
        server.responder = lambda r: Reply(200, body={"events_received": len(r.json()["data"])})
        monkeypatch.setenv("META_PIXEL_ID", "123")
        monkeypatch.setenv("META_ACCESS_TOKEN", "secret-meta-token")
        monkeypatch.setenv("VENDOR_API_BASE", server.url)
        yield server
    secrets.reset()


def test_five_events_go_in_one_meta_request_and_each_message_is_delivered(meta, capsys):
    events = [event() for _ in range(5)]
    results, batch = deliver(META, events)
    assert [r.outcome for r in results] == [Outcome.DELIVERED] * 5
    assert len(meta.received) == 1 and batch.requests_sent == 1
    body = meta.received[0].json()
    assert [e["event_id"] for e in body["data"]] == [e["event_id"] for e in events]
    assert meta.received[0].path == "/v24.0/123/events" and body["access_token"] == "secret-meta-token"
    lines = [ln for ln in log_lines(capsys) if ln["message"] == "delivery"]
    # One log line per message, each with the message's own ids, as in push mode.
    assert sorted(ln["event_id"] for ln in lines) == sorted(e["event_id"] for e in events)
    assert {(ln["outcome"], ln["batch_size"]) for ln in lines} == {("delivered", 5)}


def test_a_bad_event_is_isolated_and_the_rest_of_the_batch_delivered(meta, capsys):
    events = [event() for _ in range(8)]
    bad = events[5]["event_id"]

    def answer(request):
        ids = [e["event_id"] for e in request.json()["data"]]
        if bad in ids:  # Meta rejects the whole request for one invalid event
            return Reply(400, body={"error": {"code": 100, "error_subcode": 2804003, "message": "Invalid parameter"}})
        return Reply(200, body={"events_received": len(ids)})

    meta.responder = answer
    results, batch = deliver(META, events)
    outcomes = {e["event_id"]: r.outcome for e, r in zip(events, results, strict=True)}
    assert outcomes.pop(bad) is Outcome.REJECTED
    assert set(outcomes.values()) == {Outcome.DELIVERED}
    # 8 → 4+4 → 2+2 → 1+1: the bad event stands alone after log2(8) splits.
    assert batch.requests_sent == 7
    delivered = [
        e["event_id"]
        for r in meta.received
        if r.json() and len(r.json()["data"]) and bad not in [x["event_id"] for x in r.json()["data"]]
        for e in r.json()["data"]
    ]
    assert sorted(delivered) == sorted(outcomes)  # each good event accepted exactly once


def test_credential_errors_are_not_split(meta, capsys):
    meta.responder = lambda r: Reply(400, body={"error": {"code": 190, "message": "Invalid OAuth access token"}})
    results, batch = deliver(META, [event() for _ in range(6)])
    # vendor_misconfigured (retried, alerting): splitting the batch would fail the same way
    assert {(r.outcome, r.reason) for r in results} == {(Outcome.RETRYING, "vendor_misconfigured")}
    assert batch.requests_sent == 1


def test_a_429_retries_every_message_and_stops_the_drain(meta, capsys):
    meta.responder = lambda r: Reply(
        429, body={"error": {"code": 17, "message": "User request limit reached"}}, headers={"Retry-After": "30"}
    )
    results, batch = deliver(META, [event() for _ in range(4)])
    assert {r.outcome for r in results} == {Outcome.RETRYING}
    assert batch.throttled and batch.requests_sent == 1
    assert all("retry_after=30s" in r.detail for r in results)


def test_gated_events_are_not_sent_and_test_events_travel_apart(meta, monkeypatch, capsys):
    monkeypatch.setenv("META_TEST_EVENT_CODE", "TEST123")
    events = [
        event(),
        event(consent={"ad_storage": "denied"}),
        event(event_name="scroll"),
        event(debug_mode=True),
        event(),
    ]
    results, _ = deliver(META, events)
    assert [r.outcome for r in results] == [
        Outcome.DELIVERED,
        Outcome.SKIPPED,
        Outcome.SKIPPED,
        Outcome.DELIVERED,
        Outcome.DELIVERED,
    ]
    bodies = sorted((r.json() for r in meta.received), key=lambda b: len(b["data"]))
    # Test events go with test_event_code, live ones without: never one request for both.
    assert [(len(b["data"]), b.get("test_event_code")) for b in bodies] == [(1, "TEST123"), (2, None)]


def test_batches_respect_the_vendors_maximum(meta, capsys):
    small = dataclasses.replace(META, batch_api=list_batch("data", 2))
    results, batch = deliver(small, [event() for _ in range(5)])
    assert {r.outcome for r in results} == {Outcome.DELIVERED}
    assert sorted(len(r.json()["data"]) for r in meta.received) == [1, 2, 2]


def test_tiktok_batches_its_data_list(monkeypatch, capsys):
    secrets.reset()
    with MockVendor(default=Reply(200, body={"code": 0, "message": "OK"})) as server:
        monkeypatch.setenv("TIKTOK_PIXEL_CODE", "CTEST")
        monkeypatch.setenv("TIKTOK_ACCESS_TOKEN", "secret-tiktok-token")
        monkeypatch.setenv("VENDOR_API_BASE", server.url)
        results, _ = deliver(TIKTOK, [event() for _ in range(3)])
    assert {r.outcome for r in results} == {Outcome.DELIVERED}
    assert len(server.received) == 1 and len(server.received[0].json()["data"]) == 3
    assert server.received[0].json()["event_source_id"] == "CTEST"


def test_a_vendor_without_batch_api_sends_one_request_per_event(monkeypatch, capsys):
    with MockVendor(default=Reply(200)) as server:
        monkeypatch.setenv("WEBHOOK_URL", server.url)
        results, _ = deliver(WEBHOOK, [event() for _ in range(3)])
    assert {r.outcome for r in results} == {Outcome.DELIVERED}
    assert len(server.received) == 3


def test_retried_messages_travel_apart_and_last_attempts_alone(meta, monkeypatch, capsys):
    monkeypatch.setenv("MAX_DELIVERY_ATTEMPTS", "5")
    messages = [
        PushMessage(event=event(), message_id=f"m-{next(_ids)}", delivery_attempt=n) for n in (1, 1, 2, 3, 5, 5)
    ]

    async def go():
        return await Batch(META).run(messages)

    results = run_sync(go())
    assert {r.outcome for r in results} == {Outcome.DELIVERED}
    # first attempts together, retries together, each last attempt on its own
    assert sorted(len(r.json()["data"]) for r in meta.received) == [1, 1, 2, 2]


def test_a_vendor_that_answers_per_event_gives_each_message_its_own_outcome(monkeypatch, capsys):
    # Mixpanel-style: a JSON array body, and a 400 naming the refused rows while the others
    # were ingested (shared/delivery/rows.py) — no bisection, one request.
    from shared.delivery import Vendor, VendorRequest
    from shared.delivery.batching import array_batch
    from shared.delivery.rows import RowFailure, row_outcomes

    def split(response, count):
        body = response.json()
        if response.status != 400 or not isinstance(body, dict):
            return None
        failures = {r["index"]: RowFailure(r["index"], "failed_record") for r in body["failed_records"]}
        return row_outcomes(count, failures, status=400, others_ingested=True)

    with MockVendor() as server:
        vendor = Vendor(
            name="rows",
            batch_api=array_batch(2000, split),
            build_request=lambda e, s: VendorRequest("POST", server.url + "/import", {}, [{"id": e["event_id"]}]),
        )

        def answer(request):
            ids = [row["id"] for row in request.json()]
            bad = [i for i, event_id in enumerate(ids) if event_id.endswith("-bad")]
            if bad:
                return Reply(400, body={"failed_records": [{"index": i} for i in bad]})
            return Reply(200, body={"code": 200})

        server.responder = answer
        events = [event(event_id="r-1"), event(event_id="r-2-bad"), event(event_id="r-3")]
        results, batch = deliver(vendor, events)
    assert [r.outcome for r in results] == [Outcome.DELIVERED, Outcome.REJECTED, Outcome.DELIVERED]
    assert results[1].reason == "failed_record"
    assert batch.requests_sent == 1 and len(server.received) == 1
    assert [row["id"] for row in server.received[0].json()] == ["r-1", "r-2-bad", "r-3"]


# -- the analytics destinations' batch hooks, through the real batch path ----------------------
# Each case: the vendor's env, where its events sit in the body it receives, how a vendor that
# refuses the "-bad" event answers (per its doc), and the outcomes the messages must get.


def _mixpanel_rows(request) -> list[dict]:
    return [row["properties"] for row in request.json()]


def _mixpanel_bad(request, bad: list[int]) -> Reply:
    # https://docs.mixpanel.com/troubleshooting/errors/400-bad-request: strict mode names the
    # failed rows, the others are imported.
    return Reply(
        400,
        body={
            "code": 400,
            "error": "some data points in the request failed validation",
            "num_records_imported": len(request.json()) - len(bad),
            "failed_records": [
                {"index": i, "insert_id": "x", "field": "properties.time", "message": "invalid"} for i in bad
            ],
        },
    )


def _amplitude_bad(request, bad: list[int]) -> Reply:
    # https://amplitude.com/docs/apis/analytics/http-v2 (400): the refused events by index, and
    # none of the request ingested.
    return Reply(400, body={"code": 400, "error": "Invalid field values", "events_with_invalid_fields": {"time": bad}})


def _segment_bad(request, bad: list[int]) -> Reply:
    # Segment answers a batch as a whole: 400 only for an oversize or malformed body
    # (https://www.twilio.com/docs/segment/connections/sources/catalog/libraries/server/http-api, Errors).
    return Reply(400, body={"error": "payload too large"})


ANALYTICS = {
    "mixpanel": {
        "env": {"MIXPANEL_SERVICE_ACCOUNT": "svc:secret-mixpanel", "MIXPANEL_PROJECT_ID": "42"},
        "path": "/import",
        "rows": _mixpanel_rows,
        "id": "$insert_id",
        "bad": _mixpanel_bad,
        # the others were imported: delivered; the named one rejected; one request
        "expected": {
            "good": (Outcome.DELIVERED, ""),
            "bad": (Outcome.REJECTED, "mixpanel_failed_record:properties.time"),
        },
    },
    "amplitude": {
        "env": {"AMPLITUDE_API_KEY": "secret-amplitude-key"},
        "path": "/2/httpapi",
        "rows": lambda request: request.json()["events"],
        "id": "insert_id",
        "bad": _amplitude_bad,
        # nothing ingested: the named one rejected, the others retried (sent again without it)
        "expected": {
            "good": (Outcome.RETRYING, "resend_after_row_failure"),
            "bad": (Outcome.REJECTED, "amplitude_invalid:time"),
        },
    },
    "segment": {
        "env": {"SEGMENT_WRITE_KEY": "secret-segment-key"},
        "path": "/v1/batch",
        # a batch, or a call sent alone to its own endpoint (/v1/track) once bisection isolated it
        "rows": lambda request: request.json().get("batch", [request.json()]),
        "id": "messageId",
        "bad": _segment_bad,
        # no per-call answer: the batch is halved until the bad call stands alone
        "expected": {"good": (Outcome.DELIVERED, ""), "bad": (Outcome.REJECTED, "http_400")},
    },
}


@pytest.fixture
def analytics_vendor(request, monkeypatch):
    name = request.param
    from importlib import import_module

    vendor = import_module(f"functions.vendors.{name}.main").VENDOR
    case = ANALYTICS[name]
    for key in ("LOG_REQUESTS", f"{name.upper()}_EVENTS", f"{name.upper()}_REGION"):
        monkeypatch.delenv(key, raising=False)
    secrets.reset()
    with MockVendor(default=Reply(200, body={"code": 200})) as server:
        for key, value in case["env"].items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("VENDOR_API_BASE", server.url)
        yield vendor, case, server
    secrets.reset()


def analytics_event(**changes) -> dict:
    # a client_id long enough for Amplitude's min_id_length (5)
    return event(client_id="1712345678.1699999999", **changes)


@pytest.mark.parametrize("analytics_vendor", sorted(ANALYTICS), indirect=True)
def test_analytics_destinations_batch_into_one_request_each_message_delivered(analytics_vendor, capsys):
    vendor, case, server = analytics_vendor
    events = [analytics_event(event_name=name) for name in ("page_view", "purchase", "add_to_cart", "sign_up")]
    results, batch = deliver(vendor, events)
    assert [r.outcome for r in results] == [Outcome.DELIVERED] * 4
    assert batch.requests_sent == 1 and len(server.received) == 1
    received = server.received[0]
    assert received.path.split("?")[0] == case["path"]
    rows = case["rows"](received)
    assert [row[case["id"]] for row in rows] == [e["event_id"] for e in events]
    if vendor.name == "segment":  # each call names its type: page_view is a page call
        assert [row["type"] for row in rows] == ["page", "track", "track", "track"]
    if vendor.name == "mixpanel":
        assert "strict=1" in received.path.split("?")[1]
    lines = [ln for ln in log_lines(capsys) if ln["message"] == "delivery"]
    assert {(ln["outcome"], ln["batch_size"]) for ln in lines} == {("delivered", 4)}
    assert sorted(ln["event_id"] for ln in lines) == sorted(e["event_id"] for e in events)


@pytest.mark.parametrize("analytics_vendor", sorted(ANALYTICS), indirect=True)
def test_analytics_destinations_give_the_refused_event_its_own_outcome(analytics_vendor, capsys):
    vendor, case, server = analytics_vendor

    def answer(request):
        ids = [row[case["id"]] for row in case["rows"](request)]
        bad = [i for i, event_id in enumerate(ids) if event_id.endswith("-bad")]
        return case["bad"](request, bad) if bad else Reply(200, body={"code": 200})

    server.responder = answer
    events = [analytics_event(event_id=f"a-{next(_ids)}-{i}{'-bad' if i == 2 else ''}") for i in range(5)]
    bad = events[2]["event_id"]
    results, batch = deliver(vendor, events)
    expected = [case["expected"]["bad" if "-bad" in e["event_id"] else "good"] for e in events]
    assert [(r.outcome, r.reason) for r in results] == expected
    if vendor.batch_api.split is not None:
        assert batch.requests_sent == 1  # per-row answer: no bisection
    else:
        # bisection: every good event accepted exactly once, the bad one alone at the end
        sent = [[row[case["id"]] for row in case["rows"](r)] for r in server.received]
        accepted = [i for ids in sent if not any(x.endswith("-bad") for x in ids) for i in ids]
        assert sorted(accepted) == sorted(e["event_id"] for e in events if "-bad" not in e["event_id"])
        assert [bad] in sent and batch.requests_sent == len(sent) > 1
    if vendor.name == "amplitude":
        # the retried ones come back (Pub/Sub redelivery) and go through without the bad one
        again = [e for e in events if "-bad" not in e["event_id"]]
        results, batch = deliver(vendor, again)
        assert [r.outcome for r in results] == [Outcome.DELIVERED] * 4 and batch.requests_sent == 1


def test_segment_batches_stay_under_its_500kb_limit(monkeypatch, capsys):
    # "our batch endpoint accepts a maximum of 500KB per batch and 32KB per call"
    # (https://www.twilio.com/docs/segment/connections/sources/catalog/libraries/server/http-api)
    from functions.vendors.segment.main import VENDOR as SEGMENT

    secrets.reset()
    with MockVendor(default=Reply(200, body={"success": True})) as server:
        monkeypatch.setenv("SEGMENT_WRITE_KEY", "secret-segment-key")
        monkeypatch.setenv("VENDOR_API_BASE", server.url)
        # 40 calls of ~25 KB (each under 32 KB): ~1 MB, so at least 3 batches
        events = [analytics_event(event_name="sign_up", note="x" * 25_000) for _ in range(40)]
        results, batch = deliver(SEGMENT, events)
    secrets.reset()
    assert [r.outcome for r in results] == [Outcome.DELIVERED] * 40
    sizes = [len(r.body) for r in server.received]
    assert len(sizes) >= 3 and max(sizes) <= 500_000, sizes
    sent = [call["messageId"] for r in server.received for call in r.json()["batch"]]
    assert sorted(sent) == sorted(e["event_id"] for e in events)  # each call exactly once


def test_max_bytes_is_optional_and_bounds_the_merged_body(meta, capsys):
    events = [event() for _ in range(6)]
    one = META.batch_api.size(META.plan(events[0], {"PIXEL_ID": "123", "ACCESS_TOKEN": "t"}).request)
    small = dataclasses.replace(META, batch_api=dataclasses.replace(META.batch_api, max_bytes=int(one * 2.5)))
    results, _ = deliver(small, events)
    assert {r.outcome for r in results} == {Outcome.DELIVERED}
    assert sorted(len(r.json()["data"]) for r in meta.received) == [2, 2, 2]
    assert META.batch_api.max_bytes is None  # vendors that declare none: counted by events only
