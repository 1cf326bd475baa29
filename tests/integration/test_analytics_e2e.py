"""Mixpanel, Amplitude and Segment end to end over real parts: hits to collect → the Pub/Sub
emulator → each vendor function → a real local HTTP server standing in for the vendor's API
(VENDOR_API_BASE), with credentials from the environment."""

from __future__ import annotations

import base64
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
REPLIES = {
    "mixpanel": Reply(200, body={"code": 200, "num_records_imported": 1, "status": "OK"}),
    "amplitude": Reply(
        200, body={"code": 200, "events_ingested": 1, "payload_size_bytes": 100, "server_upload_time": 1730000000000}
    ),
    "segment": Reply(200, body={"success": True}),
}
CREDENTIALS = {
    "mixpanel": {
        "MIXPANEL_SERVICE_ACCOUNT": "test-e2e-user:test-e2e-secret",
        "MIXPANEL_PROJECT_ID": "42",
        "MIXPANEL_REGION": "eu",
    },
    "amplitude": {"AMPLITUDE_API_KEY": "test-e2e-amplitude-key"},
    "segment": {"SEGMENT_WRITE_KEY": "test-e2e-segment-key"},
}


@pytest.fixture
def servers():
    found = {name: MockVendor(default=reply) for name, reply in REPLIES.items()}
    for server in found.values():
        server.__enter__()
    try:
        yield found
    finally:
        for server in found.values():
            server.close()


def _stack(servers: dict[str, MockVendor]) -> LocalStack:
    env = {name: {**CREDENTIALS[name], "VENDOR_API_BASE": servers[name].url, "LOG_REQUESTS": "1"} for name in servers}
    return LocalStack(stack_config.load(), vendors=tuple(servers), vendor_env=env)


def _hit(stack: LocalStack, **params: str) -> None:
    query = urllib.parse.urlencode(
        {
            "v": "2",
            "tid": "G-E2E",
            "cid": "111.222",
            "sid": "1730000000",
            "dl": "https://shop.example/thanks?utm_source=news&utm_medium=email",
            "dt": "Thanks",
            **params,
        }
    )
    response = requests.post(f"{stack.collect_url}/g/collect?{query}", headers={"User-Agent": USER_AGENT}, timeout=10)
    assert response.status_code in (200, 204), response.text


def test_a_purchase_reaches_the_three_analytics_apis_with_one_identity(servers):
    with _stack(servers) as stack:
        _hit(
            stack,
            en="purchase",
            uid="user-42",
            cu="EUR",
            **{"ep.transaction_id": "T-E2E", "epn.value": "10.5", "pr1": "idSKU1~nmShirt~pr10.5~qt1", "up.plan": "pro"},
        )
        got = {name: server.wait_for(1, timeout=60)[0] for name, server in servers.items()}
        lines = {
            name: wait_until(lambda n=name: delivery_lines(stack.log_path(f"vendor-{n}")), timeout=20)
            for name in servers
        }

    mixpanel, amplitude, segment = got["mixpanel"], got["amplitude"], got["segment"]
    assert mixpanel.path == "/import?strict=1&project_id=42"
    assert mixpanel.headers["authorization"] == "Basic " + base64.b64encode(b"test-e2e-user:test-e2e-secret").decode()
    props = mixpanel.json()[0]["properties"]
    assert (props["distinct_id"], props["$user_id"], props["$device_id"]) == ("user-42", "user-42", "111.222")
    assert (props["utm_source"], props["utm_medium"], props["transaction_id"]) == ("news", "email", "T-E2E")
    event_id = props["$insert_id"]

    assert amplitude.path == "/2/httpapi"
    event = amplitude.json()["events"][0]
    assert (event["user_id"], event["device_id"], event["insert_id"]) == ("user-42", "111.222", event_id)
    assert (event["revenue"], event["revenueType"], event["session_id"]) == (10.5, "purchase", 1730000000000)
    assert event["user_properties"] == {"plan": "pro"}

    assert segment.path == "/v1/track"
    call = segment.json()
    assert segment.headers["authorization"] == "Basic " + base64.b64encode(b"test-e2e-segment-key:").decode()
    assert (call["userId"], call["anonymousId"], call["messageId"]) == ("user-42", "111.222", event_id)
    assert call["event"] == "Order Completed" and call["properties"]["order_id"] == "T-E2E"
    assert call["context"]["userAgent"] == USER_AGENT
    assert call["context"]["campaign"] == {"source": "news", "medium": "email"}

    for name, vendor_lines in lines.items():
        assert [entry["outcome"] for entry in vendor_lines] == ["delivered"], name
        assert "test-e2e" not in json.dumps(vendor_lines[0]["request"]), name


def test_analytics_consent_and_a_mixpanel_partial_failure_leave_a_reason(servers):
    servers["mixpanel"].play(
        Reply(
            400,
            body={
                "code": 400,
                "error": "some data points in the request failed validation",
                "status": "Bad Request",
                "num_records_imported": 0,
                "failed_records": [{"index": 0, "insert_id": "x", "field": "properties.time", "message": "too old"}],
            },
        )
    )
    with _stack(servers) as stack:
        _hit(stack, en="page_view")  # Mixpanel refuses this row
        _hit(stack, en="page_view", gcs="G110")  # analytics_storage denied

        def lines_of(name: str) -> list[dict]:
            return delivery_lines(stack.log_path(f"vendor-{name}"))

        wait_until(lambda: all(len(lines_of(n)) >= 2 for n in servers), timeout=60)
        wait_until(lambda: any(len(lines_of(n)) > 2 for n in servers), timeout=3)  # no redelivery
        outcomes = {n: sorted((entry["outcome"], entry["reason"]) for entry in lines_of(n)) for n in servers}
    assert outcomes["mixpanel"] == [
        ("rejected", "mixpanel_failed_record:properties.time"),
        ("skipped", "consent_denied:analytics_storage"),
    ]
    for name in ("amplitude", "segment"):
        assert outcomes[name] == [("delivered", ""), ("skipped", "consent_denied:analytics_storage")], name
        assert len(servers[name].received) == 1
    assert servers["segment"].received[0].path == "/v1/page"
