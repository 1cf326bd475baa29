"""The delivery runtime around the vendors: the log line contract, request logging and
redaction, dry runs, secrets failures, the in-process dedup ledger and the origin override."""

from __future__ import annotations

import base64
import itertools
import json
import time

import pytest

from devstack.mock_vendor import MockVendor, Reply
from functions.vendors.ga4.main import VENDOR as GA4
from functions.vendors.meta.main import VENDOR as META
from functions.vendors.tiktok.main import VENDOR as TIKTOK
from shared import secrets
from shared.delivery.http import redact_request, with_origin
from shared.event import encode_event

CONTRACT_FIELDS = {
    "vendor",
    "event_id",
    "event_name",
    "message_id",
    "outcome",
    "reason",
    "http_status",
    "latency_ms",
    "attempt",
    "debug",
}
_ids = itertools.count(1)


def event(**changes) -> dict:
    base = {
        "event_name": "purchase",
        "event_id": f"rt-{next(_ids)}",
        "client_id": "1.2",
        "x-ga-measurement_id": "G-TEST",
        "timestamp_micros": int(time.time() * 1_000_000),
        "page_location": "https://shop.example/thanks",
        "user_agent": "Mozilla/5.0 Test",
        "ip_override": "203.0.113.7",
        "currency": "EUR",
        "value": 10.0,
        "consent": {"ad_storage": "granted", "analytics_storage": "granted"},
        "user_data": {"email": "test@example.com"},
    }
    base.update(changes)
    return base


def push(ev: dict, attributes: dict | None = None) -> bytes:
    message = {
        "data": base64.b64encode(encode_event(ev)).decode(),
        "attributes": attributes or {},
        "messageId": f"msg-{next(_ids)}",
    }
    return json.dumps({"message": message, "subscription": "projects/p/subscriptions/s"}).encode()


def last_line(capsys) -> dict:
    return [json.loads(text) for text in capsys.readouterr().out.splitlines() if text.startswith("{")][-1]


@pytest.fixture
def server():
    with MockVendor() as mock:
        yield mock


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in (
        "LOG_REQUESTS",
        "VENDOR_API_BASE",
        "SECRETS_BACKEND",
        "META_TEST_EVENT_CODE",
        "META_EVENTS",
        "META_PIXEL_ID",
        "META_ACCESS_TOKEN",
        "TIKTOK_PIXEL_CODE",
        "TIKTOK_ACCESS_TOKEN",
        "GA4_MEASUREMENT_ID",
        "GA4_API_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    secrets.reset()
    yield
    secrets.reset()


def configure_tiktok(monkeypatch, server):
    monkeypatch.setenv("TIKTOK_PIXEL_CODE", "CTEST")
    monkeypatch.setenv("TIKTOK_ACCESS_TOKEN", "secret-tiktok-token")
    monkeypatch.setenv("VENDOR_API_BASE", server.url)
    server.default = Reply(200, body={"code": 0, "message": "OK"})


def test_the_log_line_has_every_contract_field_and_no_request_by_default(monkeypatch, capsys, server):
    configure_tiktok(monkeypatch, server)
    status, _ = TIKTOK.handle_push(push(event()))
    line = last_line(capsys)
    assert status == 200
    assert set(line) >= CONTRACT_FIELDS
    assert line["outcome"] == "delivered" and line["http_status"] == 200 and line["attempt"] == 1
    assert "request" not in line and "response" not in line
    assert "test@example.com" not in json.dumps(line)


def test_log_requests_adds_the_redacted_request_and_the_response(monkeypatch, capsys, server):
    configure_tiktok(monkeypatch, server)
    monkeypatch.setenv("LOG_REQUESTS", "1")
    TIKTOK.handle_push(push(event()))
    line = last_line(capsys)
    assert line["request"]["headers"]["Access-Token"] == "[REDACTED]"
    assert line["request"]["url"] == server.url + "/open_api/v1.3/event/track/"
    assert line["request"]["json"]["data"][0]["user"]["ip"] == "203.0.113.7"  # local only: exact
    assert line["response"] == {"status": 200, "body": '{"code": 0, "message": "OK"}'}
    assert "secret-tiktok-token" not in json.dumps(line)
    # ... and the vendor did get the real token.
    assert server.received[-1].headers["access-token"] == "secret-tiktok-token"


def test_meta_token_travels_in_the_body_and_is_redacted_in_the_log(monkeypatch, capsys, server):
    monkeypatch.setenv("META_PIXEL_ID", "123")
    monkeypatch.setenv("META_ACCESS_TOKEN", "secret-meta-token")
    monkeypatch.setenv("VENDOR_API_BASE", server.url + "/graph")
    monkeypatch.setenv("LOG_REQUESTS", "1")
    server.default = Reply(200, body={"events_received": 1})
    META.handle_push(push(event()))
    line = last_line(capsys)
    assert line["outcome"] == "delivered"
    # Never in the URL (proxies and load balancers log URLs), always in the body.
    assert line["request"]["url"] == server.url + "/graph/v24.0/123/events"
    assert server.received[-1].path == "/graph/v24.0/123/events"
    assert server.received[-1].json()["access_token"] == "secret-meta-token"
    assert line["request"]["json"]["access_token"] == "[REDACTED]"
    assert "secret-meta-token" not in json.dumps(line)


@pytest.mark.parametrize(
    "echo",
    [
        "token=s3cr3t/t0ken+with space=",  # as is
        "token=s3cr3t%2Ft0ken%2Bwith%20space%3D",  # URL-encoded
        "token=s3cr3t%2ft0ken%2bwith%20space%3d",  # URL-encoded, lowercase escapes
        "token=s3cr3t%2Ft0ken%2Bwith+space%3D",  # form-encoded (+ for space)
        "token=s3cr3t/t0ken%2Bwith+space%3D",  # form-encoded, / kept
    ],
)
def test_a_vendor_echoing_the_secret_in_any_encoding_never_logs_it(monkeypatch, capsys, server, echo):
    secret = "s3cr3t/t0ken+with space="
    monkeypatch.setenv("TIKTOK_PIXEL_CODE", "PIXEL")
    monkeypatch.setenv("TIKTOK_ACCESS_TOKEN", secret)
    monkeypatch.setenv("VENDOR_API_BASE", server.url)
    monkeypatch.setenv("LOG_REQUESTS", "1")
    server.default = Reply(200, body={"code": 40002, "message": f"bad request {echo}", "request_id": "r"})
    TIKTOK.handle_push(push(event()))
    out = capsys.readouterr().out
    line = [json.loads(text) for text in out.splitlines() if text.startswith("{")][-1]
    assert line["reason"] == "tiktok_code:40002"
    assert "[REDACTED]" in line["detail"] and "[REDACTED]" in line["response"]["body"]
    for form in (
        secret,
        "s3cr3t%2Ft0ken",
        "s3cr3t%2ft0ken",
        "t0ken%2Bwith",
        "t0ken%2bwith",
        "with+space",
        "with%20space",
    ):
        assert form not in out, form


def test_dry_run_logs_the_request_with_secrets_and_ip_redacted(monkeypatch, capsys):
    # A gtag event needs only the measurement id (/g/collect has no secret): the visitor's IP
    # in the URL (_uip) is masked in the log outside local runs.
    status, payload = GA4.handle_push(push(event()))
    line = last_line(capsys)
    assert (status, payload["outcome"], line["reason"]) == (200, "dry_run", "missing_settings:GA4_MEASUREMENT_ID")
    assert line["request"]["url"].startswith("https://www.google-analytics.com/g/collect?")
    # Outside local runs the whole query (the hit, _uip included) is redacted (shared/personal_data.py).
    assert line["request"]["url"].endswith("?[REDACTED]") and "203.0.113.7" not in json.dumps(line)
    # A Measurement Protocol event needs the stream's API secret as well.
    monkeypatch.setenv("GA4_MEASUREMENT_ID", "G-TEST")
    status, payload = GA4.handle_push(push(event(source="mp", **{"x-ga-mp_sender_context": ["ip_override"]})))
    line = last_line(capsys)
    assert (status, payload["outcome"]) == (200, "dry_run")
    assert line["reason"] == "missing_settings:GA4_API_SECRET"
    assert line["request"]["url"] == "https://www.google-analytics.com/mp/collect?measurement_id=G-TEST&api_secret="
    assert line["request"]["json"]["ip_override"] == "[REDACTED]"


def test_skips_say_why_and_debug_is_logged(monkeypatch, capsys):
    META.handle_push(push(event(debug_mode=True)))
    line = last_line(capsys)
    assert (line["outcome"], line["reason"], line["debug"]) == ("skipped", "debug_without_test_event_code", True)
    META.handle_push(push(event(event_name="scroll")))
    assert last_line(capsys)["reason"] == "event_not_mapped:scroll"
    monkeypatch.setenv("META_EVENTS", "purchase")
    META.handle_push(push(event(event_name="page_view")))
    assert last_line(capsys)["reason"] == "event_not_subscribed:page_view"


def test_an_unreadable_secret_is_retried_not_sent_dry(monkeypatch, capsys):
    monkeypatch.setenv("SECRETS_BACKEND", "secretmanager")
    monkeypatch.setenv("SECRET_MANAGER_ENDPOINT", "127.0.0.1:9")  # nothing listens: the read fails
    monkeypatch.setenv("SECRET_TIKTOK_ACCESS_TOKEN", "projects/p/secrets/s/versions/latest")
    monkeypatch.setenv("TIKTOK_PIXEL_CODE", "CTEST")
    status, payload = TIKTOK.handle_push(push(event()))
    line = last_line(capsys)
    assert (status, line["outcome"], line["reason"]) == (503, "retrying", "secret_unavailable")


def test_ga4_does_not_resend_a_message_it_already_delivered(monkeypatch, capsys, server):
    monkeypatch.setenv("GA4_MEASUREMENT_ID", "G-TEST")
    monkeypatch.setenv("VENDOR_API_BASE", server.url)
    server.default = Reply(204, body=b"")
    ev = event()
    message = push(ev)
    GA4.handle_push(message)
    assert last_line(capsys)["outcome"] == "delivered"
    GA4.handle_push(message)  # Pub/Sub redelivers (at-least-once): GA4 has no dedup key
    assert last_line(capsys)["reason"] == "already_delivered"
    assert len(server.received) == 1
    # Another message with the same event_id is another event (pages reuse ids): it is sent.
    GA4.handle_push(push(ev))
    assert last_line(capsys)["outcome"] == "delivered"
    assert len(server.received) == 2


def test_one_pooled_client_reuses_connections(monkeypatch, capsys, server):
    configure_tiktok(monkeypatch, server)
    for _ in range(3):
        TIKTOK.handle_push(push(event()))
    assert len(server.received) == 3
    assert len({r.peer for r in server.received}) == 1  # three deliveries, one TCP connection


@pytest.mark.parametrize(
    "url, base, expected",
    [
        (
            "https://graph.facebook.com/v24.0/1/events?access_token=x",
            "http://127.0.0.1:9000",
            "http://127.0.0.1:9000/v24.0/1/events?access_token=x",
        ),
        (
            "https://business-api.tiktok.com/open_api/v1.3/event/track/",
            "http://127.0.0.1:9000/tt/",
            "http://127.0.0.1:9000/tt/open_api/v1.3/event/track/",
        ),
        ("https://www.google-analytics.com/mp/collect?a=1", "", "https://www.google-analytics.com/mp/collect?a=1"),
    ],
)
def test_vendor_api_base_replaces_the_origin(url, base, expected):
    assert with_origin(url, base) == expected


def test_redaction_covers_query_headers_body_and_known_values():
    request = {
        "method": "POST",
        "url": "https://x.example/p?api_secret=s3cr3t&measurement_id=G-1",
        "headers": {"Authorization": "Bearer abc", "Access-Token": "tok", "X-Other": "has s3cr3t inside"},
        "json": {"access_token": "tok2", "nested": ["s3cr3t"]},
    }
    redacted = redact_request(request, ["s3cr3t"])
    assert redacted["url"] == "https://x.example/p?api_secret=[REDACTED]&measurement_id=G-1"
    assert redacted["headers"] == {
        "Authorization": "[REDACTED]",
        "Access-Token": "[REDACTED]",
        "X-Other": "has [REDACTED] inside",
    }
    assert redacted["json"] == {"access_token": "[REDACTED]", "nested": ["[REDACTED]"]}


def test_a_bug_in_a_mapping_is_retried_so_the_event_can_be_replayed(capsys):
    from shared.delivery import Vendor

    def broken(event, settings):
        raise RuntimeError("boom")

    vendor = Vendor(name="broken", build_request=broken)
    status, payload = vendor.handle_push(push(event()))
    line = last_line(capsys)
    assert (status, line["outcome"], line["reason"], line["severity"]) == (503, "retrying", "mapping_error", "ERROR")
    assert "RuntimeError: boom" in line["detail"]
