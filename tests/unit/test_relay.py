"""devstack.relay's pure parts: the backoff, the retry window and the push envelope."""

from __future__ import annotations

import base64
import datetime as dt
import json
from types import SimpleNamespace

from devstack import config as stack_config
from devstack.config import RetryPolicy
from devstack.relay import backoff_seconds, push_envelope, retry_window_seconds
from shared.delivery.envelope import decode_push  # the vendor runtime's own parser


def test_backoff_doubles_from_the_minimum_to_the_maximum():
    policy = RetryPolicy(32, 5, 10)
    assert [backoff_seconds(policy, n) for n in range(1, 5)] == [5, 10, 10, 10]
    assert [backoff_seconds(RetryPolicy(10, 1, 600), n) for n in range(1, 12)] == [
        1,
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        512,
        600,
    ]
    assert backoff_seconds(RetryPolicy(5, 0, 1), 3) == 0  # minimum 0: redeliver at once
    assert backoff_seconds(policy, 10_000) == 10


def test_the_configured_local_window_covers_a_five_minute_outage():
    """config/vendors.yaml and docs/reliability.md promise: an outage of up to 5 minutes
    delivers everything locally."""
    local = stack_config.load().local_retry
    window = retry_window_seconds(local)
    assert window >= 300, window
    assert window == 305  # 5 + 30 x 10 s: what the config's comment and the docs state
    assert retry_window_seconds(RetryPolicy(5, 5, 10)) == 35  # the integration test's shortened window


def test_push_envelope_is_what_the_vendor_runtime_parses():
    published = dt.datetime(2026, 11, 29, 22, 0, 0, tzinfo=dt.UTC)
    received = SimpleNamespace(
        ack_id="ack-1",
        delivery_attempt=3,
        message=SimpleNamespace(
            data=b'{"event_id":"e1"}', attributes={"event_name": "purchase"}, message_id="42", publish_time=published
        ),
    )
    body = push_envelope(received, "projects/tagging-local/subscriptions/webhook-push")
    assert body["subscription"] == "projects/tagging-local/subscriptions/webhook-push"
    assert body["deliveryAttempt"] == 3
    assert base64.b64decode(body["message"]["data"]) == b'{"event_id":"e1"}'
    assert body["message"]["publishTime"] == "2026-11-29T22:00:00Z"
    message = decode_push(json.dumps(body).encode())
    assert message.message_id == "42" and message.delivery_attempt == 3
    assert message.attributes == {"event_name": "purchase"}
