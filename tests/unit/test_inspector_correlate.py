"""The inspector's correlation of log lines into hits, events and vendor outcomes."""

from __future__ import annotations

import json

from devstack.inspector.correlate import Timeline, vendor_of_subscription
from devstack.inspector.redact import REDACTED
from devstack.inspector.sources import parse_line

EVENT_A = {"event_id": "evt-a", "event_name": "page_view", "client_id": "111.222", "measurement_id": "G-TEST"}
EVENT_B = {"event_id": "evt-b", "event_name": "purchase", "client_id": "111.222", "measurement_id": "G-TEST"}


def hit_line(*events, **extra):
    return {
        "severity": "INFO",
        "message": "hit",
        "request_id": "r1",
        "path": "/g/collect",
        "method": "POST",
        "status": 204,
        "accepted": len(events),
        "rejected": [],
        "events": [{k: e[k] for k in ("event_id", "event_name", "measurement_id")} for e in events],
        "debug": False,
        "raw": {"query": "v=2&tid=G-TEST&cid=111.222", "body": "en=page_view\nen=purchase"},
        "normalized": [{"event": e, "attributes": {"event_name": e["event_name"]}} for e in events],
        "time": 100.0,
        **extra,
    }


def delivery_line(vendor, event, outcome, attempt=1, **extra):
    return {
        "severity": "INFO",
        "message": "delivery",
        "vendor": vendor,
        "event_id": event["event_id"],
        "event_name": event["event_name"],
        "message_id": "m-" + event["event_id"],
        "outcome": outcome,
        "reason": extra.pop("reason", ""),
        "http_status": extra.pop("http_status", None),
        "latency_ms": 1.5,
        "attempt": attempt,
        "time": 100.0 + attempt,
        **extra,
    }


def only_hit(timeline):
    (hit,) = timeline.snapshot()
    return hit


def test_a_hit_and_its_vendor_lines_make_one_hit_with_every_outcome():
    timeline = Timeline()
    timeline.ingest(hit_line(EVENT_A, EVENT_B))
    timeline.ingest(delivery_line("webhook", EVENT_A, "delivered", http_status=200))
    timeline.ingest(delivery_line("meta", EVENT_A, "dry_run", request={"method": "POST", "url": "https://x/"}))
    timeline.ingest(delivery_line("meta", EVENT_B, "skipped", reason="consent_denied:ad_storage"))
    hit = only_hit(timeline)
    assert hit["id"] == "req-r1" and not hit["orphan"]
    assert [e["event_id"] for e in hit["events"]] == ["evt-a", "evt-b"]
    a, b = hit["events"]
    assert a["client_id"] == "111.222"
    assert a["event"] == EVENT_A and a["attributes"] == {"event_name": "page_view"}
    assert {v: s["outcome"] for v, s in a["vendors"].items()} == {"webhook": "delivered", "meta": "dry_run"}
    assert a["vendors"]["webhook"]["http_status"] == 200
    assert a["vendors"]["meta"]["request"] == {"method": "POST", "url": "https://x/"}
    assert b["vendors"] == {"meta": b["vendors"]["meta"]}  # webhook has not spoken yet: pending
    assert b["vendors"]["meta"]["reason"] == "consent_denied:ad_storage"


def test_a_vendor_line_before_collects_line_is_folded_into_the_hit():
    timeline = Timeline()
    early = timeline.ingest(delivery_line("webhook", EVENT_A, "delivered"))
    assert early[-1][0] == "hit" and early[-1][1]["orphan"]
    changes = timeline.ingest(hit_line(EVENT_A))
    assert ("remove", "evt-evt-a") in changes
    hit = only_hit(timeline)
    assert not hit["orphan"]
    assert hit["events"][0]["vendors"]["webhook"]["outcome"] == "delivered"
    # Later lines go to the real hit, not a new orphan.
    timeline.ingest(delivery_line("webhook", EVENT_A, "delivered", attempt=2))
    assert len(only_hit(timeline)["events"][0]["vendors"]["webhook"]["attempts"]) == 2


def test_an_event_whose_request_was_never_seen_stays_an_orphan():
    timeline = Timeline()
    timeline.ingest(delivery_line("webhook", EVENT_B, "rejected", reason="http_400", http_status=400))
    hit = only_hit(timeline)
    assert hit["orphan"] and hit["events"][0]["event_name"] == "purchase"
    assert hit["events"][0]["vendors"]["webhook"]["outcome"] == "rejected"


def test_retries_then_success_show_the_latest_attempt_and_keep_every_attempt():
    timeline = Timeline()
    timeline.ingest(hit_line(EVENT_A))
    # Lines may be read out of order across files; attempts are ordered by number.
    timeline.ingest(delivery_line("webhook", EVENT_A, "delivered", attempt=3, http_status=200))
    timeline.ingest(delivery_line("webhook", EVENT_A, "retrying", attempt=1, reason="http_503", http_status=503))
    timeline.ingest(delivery_line("webhook", EVENT_A, "retrying", attempt=2, reason="timeout"))
    state = only_hit(timeline)["events"][0]["vendors"]["webhook"]
    assert state["outcome"] == "delivered" and state["attempt"] == 3
    assert [a["outcome"] for a in state["attempts"]] == ["retrying", "retrying", "delivered"]


def test_the_dead_letter_topic_marks_the_vendor_that_gave_up():
    timeline = Timeline()
    timeline.ingest(hit_line(EVENT_A))
    timeline.ingest(delivery_line("webhook", EVENT_A, "retrying", attempt=4, reason="http_503"))
    timeline.add_dead_letter(
        EVENT_A,
        {"CloudPubSubDeadLetterSourceSubscription": "projects/tagging-local/subscriptions/webhook-push"},
        "dl-1",
        105.0,
    )
    state = only_hit(timeline)["events"][0]["vendors"]["webhook"]
    assert state["outcome"] == "dead_lettered"
    assert state["reason"] == "http_503"
    assert state["dead_letter"]["message_id"] == "dl-1"
    # Another late "retrying" line does not hide that the message is in the dead-letter topic.
    timeline.ingest(delivery_line("webhook", EVENT_A, "retrying", attempt=5, reason="http_503"))
    assert only_hit(timeline)["events"][0]["vendors"]["webhook"]["outcome"] == "dead_lettered"
    # Replayed and delivered: the latest attempt wins, the dead letter stays on record.
    timeline.ingest(delivery_line("webhook", EVENT_A, "delivered", attempt=6))
    state = only_hit(timeline)["events"][0]["vendors"]["webhook"]
    assert state["outcome"] == "delivered" and state["dead_letter"] is not None


def test_a_dead_letter_for_an_unknown_event_shows_the_event_it_carries():
    timeline = Timeline()
    timeline.add_dead_letter(EVENT_B, {"CloudPubSubDeadLetterSourceSubscription": "meta-replay-push"}, "dl-2", None)
    hit = only_hit(timeline)
    assert hit["orphan"] and hit["events"][0]["event"] == EVENT_B
    assert hit["events"][0]["client_id"] == "111.222"
    assert hit["events"][0]["vendors"]["meta"]["outcome"] == "dead_lettered"


def test_a_poison_message_and_an_invalid_envelope_are_shown_not_dropped():
    timeline = Timeline()
    timeline.add_dead_letter(None, {"CloudPubSubDeadLetterSourceSubscription": "webhook-push"}, "dl-3", None)
    timeline.ingest({"message": "delivery", "vendor": "webhook", "outcome": "invalid_envelope", "reason": "bad"})
    hits = timeline.snapshot()
    assert len(hits) == 2
    assert [h["events"][0]["vendors"]["webhook"]["outcome"] for h in hits] == ["dead_lettered", "invalid_envelope"]


def test_a_refused_request_is_a_hit_without_events():
    timeline = Timeline()
    timeline.ingest(
        {
            "message": "hit",
            "request_id": "r9",
            "path": "/nope",
            "method": "GET",
            "status": 404,
            "accepted": 0,
            "error": "unknown_path",
            "time": 1.0,
        }
    )
    hit = only_hit(timeline)
    assert hit["status"] == 404 and hit["error"] == "unknown_path" and hit["events"] == []


def test_lines_without_raw_or_normalized_still_correlate():
    timeline = Timeline()
    line = hit_line(EVENT_A)
    del line["raw"], line["normalized"]
    timeline.ingest(line)
    timeline.ingest(delivery_line("webhook", EVENT_A, "delivered"))
    event = only_hit(timeline)["events"][0]
    assert only_hit(timeline)["raw"] is None
    assert event["event"] is None and event["client_id"] is None
    assert event["vendors"]["webhook"]["outcome"] == "delivered"


def test_other_lines_change_nothing():
    timeline = Timeline()
    assert timeline.ingest({"message": "publish failed"}) == []
    assert timeline.ingest({"message": "delivery"}) == []  # no vendor: not a vendor's line
    assert timeline.snapshot() == []


def test_secrets_are_redacted_again_in_requests_raw_hits_and_events():
    timeline = Timeline(secrets=("debug-token-value",))
    event = {**EVENT_A, "note": "has debug-token-value inside"}
    timeline.ingest(hit_line(event, raw={"query": "v=2&access_token=abc123&cid=1", "body": "en=x&api_secret=s3cr3t"}))
    timeline.ingest(
        delivery_line(
            "meta",
            EVENT_A,
            "dry_run",
            request={
                "method": "POST",
                "url": "https://graph.facebook.com/v21.0/123/events?access_token=EAAB-real",
                "headers": {"Authorization": "Bearer abc", "Content-Type": "application/json"},
                "json": {"data": [], "test_event_code": "TEST123"},
            },
        )
    )
    timeline.ingest(
        delivery_line(
            "ga4",
            EVENT_A,
            "dry_run",
            request={
                "method": "POST",
                "url": "https://www.google-analytics.com/mp/collect?measurement_id=G-1&api_secret=xyz",
                "headers": {"Access-Token": "tt-secret", "x-tagging-debug": "debug-token-value"},
                "json": {},
            },
        )
    )
    text = json.dumps(timeline.snapshot())
    for secret in ("abc123", "s3cr3t", "EAAB-real", "Bearer abc", "xyz", "tt-secret", "debug-token-value"):
        assert secret not in text, secret
    hit = only_hit(timeline)
    assert "measurement_id=G-1" in hit["events"][0]["vendors"]["ga4"]["request"]["url"]
    assert hit["events"][0]["vendors"]["meta"]["request"]["json"]["test_event_code"] == "TEST123"
    assert hit["events"][0]["vendors"]["meta"]["request"]["headers"]["Authorization"] == REDACTED
    assert "cid=1" in hit["raw"]["query"]


def test_old_hits_are_evicted_with_their_index():
    timeline = Timeline(max_hits=2)
    for n in range(3):
        event = {**EVENT_A, "event_id": f"e{n}"}
        changes = timeline.ingest(hit_line(event, request_id=f"r{n}"))
    assert ("remove", "req-r0") in changes
    assert [h["id"] for h in timeline.snapshot()] == ["req-r1", "req-r2"]
    timeline.ingest(delivery_line("webhook", {**EVENT_A, "event_id": "e0"}, "delivered"))
    assert timeline.snapshot()[-1]["orphan"]


def test_vendor_of_subscription():
    assert vendor_of_subscription("projects/p/subscriptions/meta-push") == "meta"
    assert vendor_of_subscription("tiktok-replay-push") == "tiktok"
    assert vendor_of_subscription("") == ""


def test_parse_line_keeps_json_objects_only():
    assert parse_line('{"message": "hit"}\n') == {"message": "hit"}
    assert parse_line(" * Serving Flask app") is None
    assert parse_line('{"truncated": ') is None
    assert parse_line("[1, 2]") is None


def test_a_measurement_protocol_body_is_kept_as_json_and_redacted():
    timeline = Timeline()
    body = json.dumps({"client_id": "1.2", "events": [{"name": "purchase"}], "user_data": {"access_token": "t0ken"}})
    timeline.ingest(
        hit_line(EVENT_B, path="/mp/collect", raw={"query": "measurement_id=G-1&api_secret=xyz", "body": body})
    )
    raw = only_hit(timeline)["raw"]
    assert raw["json"]["events"] == [{"name": "purchase"}]
    assert raw["json"]["user_data"]["access_token"] == REDACTED
    assert "xyz" not in raw["query"] and raw["body"] == ""


def test_each_vendor_shows_its_event_after_its_privacy_rules():
    timeline = Timeline()
    timeline.ingest(hit_line(EVENT_A))
    meta_copy = {k: v for k, v in EVENT_A.items() if k != "client_id"}
    timeline.ingest(delivery_line("meta", EVENT_A, "delivered", http_status=200, vendor_event=meta_copy))
    timeline.ingest(delivery_line("webhook", EVENT_A, "delivered", http_status=200, vendor_event=EVENT_A))
    (event,) = only_hit(timeline)["events"]
    assert event["vendors"]["meta"]["vendor_event"] == meta_copy
    assert event["vendors"]["webhook"]["vendor_event"] == EVENT_A
    assert event["event"] == EVENT_A  # the published event is shown unchanged
