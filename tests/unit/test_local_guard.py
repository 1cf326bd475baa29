"""shared.local_guard and the local vendor functions: no request a web page could send."""

from __future__ import annotations

import pytest

from shared import local_guard
from shared.delivery import Vendor, VendorRequest


@pytest.mark.parametrize(
    "headers, reason",
    [
        ({"host": "127.0.0.1:8081"}, None),
        ({"Host": "localhost"}, None),
        ({"host": "[::1]:8081"}, None),
        ({"host": "evil.example:8081"}, "host_not_loopback"),  # DNS rebinding
        ({"host": "127.0.0.1.evil.example"}, "host_not_loopback"),
        ({}, "host_not_loopback"),
        ({"host": "127.0.0.1:8081", "origin": "https://evil.example"}, "browser_origin"),  # a cross-site POST
        ({"host": "127.0.0.1:8081", "Origin": "null"}, "browser_origin"),
    ],
)
def test_refusal(headers, reason):
    assert local_guard.refusal(headers) == reason


def test_a_local_vendor_function_refuses_a_pages_push_only_when_required(monkeypatch):
    vendor = Vendor(
        name="guarded", build_request=lambda event, settings: VendorRequest("POST", "https://x.invalid/", {}, {})
    )
    page = {"host": "127.0.0.1:8081", "origin": "https://evil.example"}
    monkeypatch.setenv("REQUIRE_LOOPBACK", "1")
    status, payload = vendor.handle_push(b"{}", page)
    assert status == 403 and payload["error"] == "browser_origin"
    # The emulator's own push gets past the guard (and is then judged as an envelope).
    status, payload = vendor.handle_push(b"{}", {"host": "127.0.0.1:8081"})
    assert status == 400 and payload["error"] == "invalid_envelope"
    monkeypatch.delenv("REQUIRE_LOOPBACK")
    assert vendor.handle_push(b"{}", page)[0] == 400
