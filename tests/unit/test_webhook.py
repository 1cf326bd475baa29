"""The webhook vendor: envelope decoding, outcome classification, dry run."""

from __future__ import annotations

import base64
import json

import pytest

from devstack.mock_vendor import MockVendor, Reply
from functions.vendors.webhook.main import VENDOR, build_request
from shared.delivery.vendor import classify_response
from shared.event import encode_event


def push_body(event: dict, message_id: str = "m1", attempt: int | None = None) -> bytes:
    envelope = {
        "message": {"data": base64.b64encode(encode_event(event)).decode(), "attributes": {}, "messageId": message_id},
        "subscription": "projects/p/subscriptions/webhook-push",
    }
    if attempt is not None:
        envelope["deliveryAttempt"] = attempt
    return json.dumps(envelope).encode()


EVENT = {"event_name": "purchase", "client_id": "1.2", "event_id": "abc", "value": 10.5}


def test_the_request_is_the_whole_event_as_json():
    request = build_request(EVENT, {"URL": "https://hooks.example.com/x"})
    assert request.as_dict() == {
        "method": "POST",
        "url": "https://hooks.example.com/x",
        "headers": {"Content-Type": "application/json"},
        "json": EVENT,
    }


@pytest.mark.parametrize(
    "status, outcome",
    [
        (200, "delivered"),
        (204, "delivered"),
        (400, "rejected"),
        (401, "retrying"),
        (403, "retrying"),
        (404, "rejected"),
        (408, "retrying"),
        (429, "retrying"),
        (500, "retrying"),
        (503, "retrying"),
    ],
)
def test_vendor_status_is_classified(status, outcome):
    assert classify_response(status, "").outcome.value == outcome


def test_without_url_it_runs_dry_and_logs_the_exact_request(monkeypatch, capsys):
    monkeypatch.delenv("WEBHOOK_URL", raising=False)
    status, payload = VENDOR.handle_push(push_body(EVENT))
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert status == 200 and payload["outcome"] == "dry_run"
    assert line["outcome"] == "dry_run" and line["request"]["json"] == EVENT


@pytest.mark.parametrize(
    "reply, status, outcome",
    [(Reply(200), 200, "delivered"), (Reply(400, body={"e": "bad"}), 200, "rejected"), (Reply(503), 503, "retrying")],
)
def test_target_answers_map_to_ack_or_retry(monkeypatch, capsys, reply, status, outcome):
    with MockVendor(default=reply) as target:
        monkeypatch.setenv("WEBHOOK_URL", target.url)
        got_status, payload = VENDOR.handle_push(push_body(EVENT, message_id=f"m-{outcome}"))
    assert (got_status, payload["outcome"]) == (status, outcome)
    assert target.received[0].json() == EVENT


def test_connection_refused_is_retried(monkeypatch, capsys):
    with MockVendor() as target:
        url = target.url
    monkeypatch.setenv("WEBHOOK_URL", url)
    status, payload = VENDOR.handle_push(push_body(EVENT, message_id="refused"))
    assert (status, payload["outcome"]) == (503, "retrying")


def test_last_attempt_that_fails_is_logged_as_dead_lettered(monkeypatch, capsys):
    monkeypatch.setenv("MAX_DELIVERY_ATTEMPTS", "5")
    with MockVendor(default=Reply(500)) as target:
        monkeypatch.setenv("WEBHOOK_URL", target.url)
        status, payload = VENDOR.handle_push(push_body(EVENT, message_id="last", attempt=5))
    assert (status, payload["outcome"]) == (503, "dead_lettered")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"message": {}}',
        b'{"message": {"data": "@@@"}}',
        json.dumps({"message": {"data": base64.b64encode(b"[1]").decode()}}).encode(),
    ],
)
def test_a_malformed_envelope_is_refused_with_a_reason(body, capsys):
    status, payload = VENDOR.handle_push(body)
    assert status == 400 and payload["error"] == "invalid_envelope"
