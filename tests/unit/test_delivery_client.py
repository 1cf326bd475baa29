"""The vendor HTTP client, both transports (aiohttp by default, httpx + h2 with
VENDOR_HTTP2=1), against a real local HTTP server: outcomes, timeouts, refused connections,
connection reuse, and a redirect that is surfaced rather than followed."""

from __future__ import annotations

import pytest

from devstack.mock_vendor import MockVendor, Reply
from shared.delivery import Outcome, Vendor, VendorRequest
from shared.delivery.client import run_sync, send
from shared.delivery.envelope import PushMessage


def _vendor(url: str, timeout: float = 5.0) -> Vendor:
    return Vendor(
        name="probe",
        timeout=timeout,
        build_request=lambda event, settings: VendorRequest(
            "POST", url, {"Content-Type": "application/json"}, {"e": event.get("event_id")}
        ),
    )


def _deliver(vendor: Vendor, event_id: str) -> object:
    return vendor.deliver(PushMessage(event={"event_name": "x", "event_id": event_id}, message_id=event_id))


@pytest.fixture(params=["aiohttp", "httpx-h2"])
def transport(request, monkeypatch):
    monkeypatch.setenv("VENDOR_HTTP2", "1" if request.param == "httpx-h2" else "0")
    return request.param


def test_delivered_with_the_exact_body_over_one_connection(transport, capsys):
    with MockVendor(default=Reply(200)) as server:
        vendor = _vendor(server.url + "/in")
        outcomes = [_deliver(vendor, f"{transport}-{i}").outcome for i in range(3)]
        assert outcomes == [Outcome.DELIVERED] * 3
        assert [r.json() for r in server.received] == [{"e": f"{transport}-{i}"} for i in range(3)]
        assert server.received[0].headers["content-type"] == "application/json"
        assert len({r.peer for r in server.received}) == 1


def test_a_slow_vendor_times_out_and_is_retried(transport, capsys):
    with MockVendor(default=Reply(200, delay=2.0)) as server:
        attempt = _deliver(_vendor(server.url, timeout=0.5), f"slow-{transport}")
    assert (attempt.outcome, attempt.reason) == (Outcome.RETRYING, "timeout")


def test_a_refused_connection_is_retried(transport, capsys):
    with MockVendor() as server:
        url = server.url
    attempt = _deliver(_vendor(url), f"refused-{transport}")
    assert (attempt.outcome, attempt.reason) == (Outcome.RETRYING, "connection_error")


def test_redirects_are_not_followed(transport):
    with MockVendor(default=Reply(302, headers={"Location": "/elsewhere"})) as server:
        response = run_sync(send("POST", server.url + "/in", {}, {"a": 1}, (1.0, 2.0)))
        assert response.status == 302 and len(server.received) == 1
