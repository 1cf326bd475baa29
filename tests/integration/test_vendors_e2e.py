"""GA4, Meta and TikTok end to end over real parts: a hit to collect → the Pub/Sub emulator →
each vendor function (functions-framework) → a real local HTTP server standing in for the
vendor's API, reached through VENDOR_API_BASE with credentials from the environment."""

from __future__ import annotations

import json
import urllib.parse

import pytest
import requests

from devstack import config as stack_config
from devstack.mock_vendor import MockVendor, Reply
from devstack.stack import LocalStack
from tests.stackutil import delivery_lines, wait_until

pytestmark = pytest.mark.integration

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) E2E/1.0"
LANDING = "https://shop.example/thanks?fbclid=AbC123xyz&ttclid=E.C.P.e2e"
REPLIES = {
    "ga4": Reply(204, body=b""),
    "meta": Reply(200, body={"events_received": 1, "messages": [], "fbtrace_id": "e2e"}),
    "tiktok": Reply(200, body={"code": 0, "message": "OK", "request_id": "e2e", "data": {}}),
}
CREDENTIALS = {
    "ga4": {"GA4_MEASUREMENT_ID": "G-E2ETEST", "GA4_API_SECRET": "test-e2e-ga4-secret"},
    "meta": {"META_PIXEL_ID": "1234567890", "META_ACCESS_TOKEN": "test-e2e-meta-token"},
    "tiktok": {"TIKTOK_PIXEL_CODE": "CE2EPIXEL", "TIKTOK_ACCESS_TOKEN": "test-e2e-tiktok-token"},
}


@pytest.fixture
def vendor_servers():
    servers = {name: MockVendor(default=reply) for name, reply in REPLIES.items()}
    for server in servers.values():
        server.__enter__()
    try:
        yield servers
    finally:
        for server in servers.values():
            server.close()


def _stack(servers: dict[str, MockVendor]) -> LocalStack:
    env = {name: {**CREDENTIALS[name], "VENDOR_API_BASE": servers[name].url, "LOG_REQUESTS": "1"} for name in servers}
    return LocalStack(stack_config.load(), vendors=tuple(servers), vendor_env=env)


PURCHASE_PARAMS = {
    "v": "2",
    "cid": "111.222",
    "sid": "1730000000",
    "sct": "2",
    "_et": "50",
    "dl": LANDING,
    "dr": "https://news.example/",
    "dt": "Thanks",
    "cu": "EUR",
    "ep.transaction_id": "T-E2E",
    "epn.value": "10.50",
    "pr1": "idSKU1~nmShirt~pr10.50~qt1~k0size~v0M",
    "gcs": "G111",
    "_fv": "1",
    "_ss": "1",
}


def _gcollect_params(received) -> dict[str, str]:
    """What Google decodes from a /g/collect request: the query overlaid with the body line."""
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(received.path).query, keep_blank_values=True))
    params.update(urllib.parse.parse_qsl(received.body.decode(), keep_blank_values=True))
    return params


def _purchase_hit(stack: LocalStack, measurement_id: str = "G-E2ETEST", event_name: str = "purchase") -> None:
    query = urllib.parse.urlencode({**PURCHASE_PARAMS, "tid": measurement_id, "en": event_name})
    response = requests.post(f"{stack.collect_url}/g/collect?{query}", headers={"User-Agent": USER_AGENT}, timeout=10)
    assert response.status_code in (200, 204), response.text


def test_a_purchase_reaches_ga4_meta_and_tiktok_as_their_apis_expect(vendor_servers):
    with _stack(vendor_servers) as stack:
        _purchase_hit(stack)
        got = {name: server.wait_for(1, timeout=60) for name, server in vendor_servers.items()}
        lines = {
            name: wait_until(lambda n=name: delivery_lines(stack.log_path(f"vendor-{n}")), timeout=20)
            for name in vendor_servers
        }

    ga4, meta, tiktok = got["ga4"][0], got["meta"][0], got["tiktok"][0]
    # GA4 /g/collect: the browser's hit as its tag would have sent it, plus the visitor's IP
    # and the browser's User-Agent (no secret on this path).
    assert ga4.method == "POST" and ga4.path.startswith("/g/collect?")
    assert ga4.headers["content-type"] == "text/plain;charset=UTF-8"
    assert ga4.headers["user-agent"] == USER_AGENT
    sent = _gcollect_params(ga4)
    assert sent == {**PURCHASE_PARAMS, "tid": "G-E2ETEST", "en": "purchase", "_uip": "127.0.0.1"}

    # Meta: same event_id as collect gave the event, fbc built from the landing fbclid.
    # The token in the body, never in the URL.
    assert meta.path == "/v24.0/1234567890/events"
    assert meta.json()["access_token"] == "test-e2e-meta-token"
    server_event = meta.json()["data"][0]
    assert server_event["event_name"] == "Purchase" and server_event["action_source"] == "website"
    assert server_event["event_source_url"] == LANDING
    assert server_event["user_data"]["client_user_agent"] == USER_AGENT
    assert server_event["user_data"]["fbc"].startswith("fb.1.") and server_event["user_data"]["fbc"].endswith(
        ".AbC123xyz"
    )
    assert server_event["custom_data"] == {
        "value": 10.5,
        "currency": "EUR",
        "order_id": "T-E2E",
        "content_type": "product",
        "content_ids": ["SKU1"],
        "contents": [{"id": "SKU1", "quantity": 1, "item_price": 10.5}],
        "num_items": 1,
        "content_name": "Shirt",
    }
    assert "test_event_code" not in meta.json()

    # TikTok: Access-Token header, the ttclid from the landing URL.
    assert tiktok.path == "/open_api/v1.3/event/track/"
    assert tiktok.headers["access-token"] == "test-e2e-tiktok-token"
    tiktok_body = tiktok.json()
    assert tiktok_body["event_source_id"] == "CE2EPIXEL"
    data = tiktok_body["data"][0]
    assert data["event"] == "CompletePayment" and data["user"]["ttclid"] == "E.C.P.e2e"
    assert data["page"]["url"] == LANDING

    # One event, one id across vendors (browser/server dedup), and a delivered line each.
    assert server_event["event_id"] == data["event_id"] != ""
    for name, vendor_lines in lines.items():
        assert [entry["outcome"] for entry in vendor_lines] == ["delivered"], name
        line = vendor_lines[0]
        assert line["event_id"] == data["event_id"] and line["http_status"] in (200, 204)
        # LOG_REQUESTS=1: the request is in the line, with the credentials redacted.
        assert "test-e2e" not in json.dumps(line["request"])


def test_another_streams_event_and_an_unmapped_event_leave_a_reason(vendor_servers):
    with _stack(vendor_servers) as stack:
        _purchase_hit(stack, measurement_id="G-OTHER")
        _purchase_hit(stack, event_name="scroll")

        def lines_of(name: str) -> list[dict]:
            return delivery_lines(stack.log_path(f"vendor-{name}"))

        wait_until(lambda: all(len(lines_of(n)) >= 2 for n in vendor_servers), timeout=60)
        # Acked: give a redelivery the chance to show up before counting.
        wait_until(lambda: any(len(lines_of(n)) > 2 for n in vendor_servers), timeout=3)
        outcomes = {n: sorted((entry["outcome"], entry["reason"]) for entry in lines_of(n)) for n in vendor_servers}
    # GA4 forwards any event name, but only its own stream's events.
    assert outcomes["ga4"] == [("delivered", ""), ("skipped", "measurement_id_not_configured:G-OTHER")]
    assert [_gcollect_params(r)["en"] for r in vendor_servers["ga4"].received] == ["scroll"]
    # Meta and TikTok have no stream restriction here, and no mapping for scroll.
    for name in ("meta", "tiktok"):
        assert outcomes[name] == [("delivered", ""), ("skipped", "event_not_mapped:scroll")], name
        assert len(vendor_servers[name].received) == 1


def test_a_debug_hit_goes_to_each_vendors_test_mechanism_or_is_skipped(vendor_servers):
    stack = _stack(vendor_servers)
    stack.vendor_env["meta"]["META_TEST_EVENT_CODE"] = "TEST12345"  # TikTok has none configured
    with stack:
        query = urllib.parse.urlencode(
            {
                "v": "2",
                "tid": "G-E2ETEST",
                "cid": "333.444",
                "sid": "1730000001",
                "en": "page_view",
                "dl": "https://shop.example/",
                "_dbg": "1",
            }
        )
        response = requests.post(
            f"{stack.collect_url}/g/collect?{query}", headers={"User-Agent": USER_AGENT}, timeout=10
        )
        assert response.status_code in (200, 204), response.text
        vendor_servers["ga4"].wait_for(1, timeout=60)
        vendor_servers["meta"].wait_for(1, timeout=60)
        tiktok_lines = wait_until(lambda: delivery_lines(stack.log_path("vendor-tiktok")), timeout=60)
        meta_lines = wait_until(lambda: delivery_lines(stack.log_path("vendor-meta")), timeout=20)
    assert _gcollect_params(vendor_servers["ga4"].received[0])["_dbg"] == "1"
    assert vendor_servers["meta"].received[0].json()["test_event_code"] == "TEST12345"
    assert meta_lines[0]["debug"] is True and meta_lines[0]["outcome"] == "delivered"
    assert vendor_servers["tiktok"].received == []
    assert (tiktok_lines[0]["outcome"], tiktok_lines[0]["reason"], tiktok_lines[0]["debug"]) == (
        "skipped",
        "debug_without_test_event_code",
        True,
    )


def test_a_wrong_meta_token_is_vendor_misconfigured_and_the_event_waits_until_it_is_fixed(vendor_servers):
    """Graph's real answer to an expired token: retried as vendor_misconfigured at ERROR (the
    alert's reason), never acked as a rejection; once the token works, the same event goes."""
    meta = vendor_servers["meta"]
    meta.default = Reply(
        400,
        body={
            "error": {
                "message": "Error validating access token: Session has expired on Sunday, 29-Nov-26 10:00:00 PST.",
                "type": "OAuthException",
                "code": 190,
                "error_subcode": 463,
                "fbtrace_id": "e2e",
            }
        },
    )
    with _stack({"meta": meta}) as stack:
        _purchase_hit(stack)

        def lines() -> list[dict]:
            return delivery_lines(stack.log_path("vendor-meta"))

        wait_until(lambda: len(lines()) >= 2, timeout=90)  # Pub/Sub redelivered it: not acked
        meta.default = REPLIES["meta"]  # the operator fixes the token
        wait_until(lambda: any(entry["outcome"] == "delivered" for entry in lines()), timeout=90)
        seen = lines()
    failed = [entry for entry in seen if entry["outcome"] != "delivered"]
    assert len(failed) >= 2
    for line in failed:
        assert (line["outcome"], line["reason"], line["severity"]) == ("retrying", "vendor_misconfigured", "ERROR")
        assert "meta_error:190.463" in line["detail"]
    assert "rejected" not in {entry["outcome"] for entry in seen}
    assert len({entry["event_id"] for entry in seen}) == 1
    assert [entry["outcome"] for entry in seen][-1] == "delivered"


def test_a_measurement_protocol_event_reaches_ga4_on_mp_collect_within_its_limits(vendor_servers):
    """A backend's MP event goes back out through /mp/collect with the stream's secret; the
    backend's own IP and user agent are not the visitor's and are not forwarded."""
    from shared.ga4 import mp_validation

    servers = {"ga4": vendor_servers["ga4"]}
    stack = _stack(servers)
    stack.collect_env["MP_API_SECRETS"] = "test-e2e-collect-secret"
    body = {
        "client_id": "555.666",
        "user_id": "u-e2e",
        "user_data": {"sha256_email_address": ["62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"]},
        "events": [
            {
                "name": "purchase",
                "params": {
                    "transaction_id": "T-MP",
                    "value": 5,
                    "currency": "EUR",
                    "session_id": "1730000002",
                    "engagement_time_msec": 10,
                },
            }
        ],
    }
    with stack:
        response = requests.post(
            f"{stack.collect_url}/mp/collect?measurement_id=G-E2ETEST&api_secret=test-e2e-collect-secret",
            json=body,
            headers={"User-Agent": "backend/1.0"},
            timeout=10,
        )
        assert response.status_code in (200, 204), response.text
        [received] = servers["ga4"].wait_for(1, timeout=60)
    assert received.path == "/mp/collect?measurement_id=G-E2ETEST&api_secret=test-e2e-ga4-secret"
    sent = received.json()
    assert sent["client_id"] == "555.666" and sent["user_id"] == "u-e2e"
    assert sent["user_data"] == body["user_data"]
    assert "ip_override" not in sent and "user_agent" not in sent
    assert sent["events"][0]["name"] == "purchase"
    assert sent["events"][0]["params"]["transaction_id"] == "T-MP"
    now = sent["timestamp_micros"]
    assert mp_validation.validate_request(sent, now) == []
    assert mp_validation.validate_event(sent["events"][0], 0, now) == []
