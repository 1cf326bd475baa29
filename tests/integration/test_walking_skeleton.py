"""The walking skeleton over real parts: collect → Pub/Sub emulator → webhook → a real HTTP server."""

from __future__ import annotations

import json
import urllib.parse

import pytest
import requests

from devstack import config as stack_config
from devstack.config import RetryPolicy
from devstack.mock_vendor import MockVendor, Reply
from devstack.stack import LocalStack
from shared.ga4 import consent as consent_codec
from tests.stackutil import delivery_lines, wait_until

pytestmark = pytest.mark.integration


def _events_in(hit: dict) -> list[dict[str, str]]:
    """The events a sample hit describes: one per body line, else one from the URL."""
    query = dict(urllib.parse.parse_qsl(hit["query"], keep_blank_values=True))
    lines = [text for text in hit["body"].splitlines() if text.strip()]
    if not lines:
        return [query]
    return [{**query, **dict(urllib.parse.parse_qsl(text, keep_blank_values=True))} for text in lines]


@pytest.fixture
def target():
    with MockVendor() as vendor:
        yield vendor


def _stack(target: MockVendor, retry: RetryPolicy | None = None) -> LocalStack:
    return LocalStack(
        stack_config.load(),
        vendors=("webhook",),
        vendor_env={"webhook": {"WEBHOOK_URL": target.url + "/events"}},
        retry=retry,
    )


def _send(stack: LocalStack, hit: dict) -> requests.Response:
    url = f"{stack.collect_url}{hit['path']}?{hit['query']}"
    return requests.request(
        hit["method"], url, data=hit["body"].encode(), headers={"Content-Type": "text/plain;charset=UTF-8"}, timeout=10
    )


def test_every_sample_event_reaches_the_target_once(target, sample_hits):
    events = [e for hit in sample_hits for e in _events_in(hit)]
    # The webhook's consent policy: analytics_storage denied → skipped with its reason.
    denied = [e for e in events if consent_codec.from_gtag(e)["analytics_storage"] == "denied"]
    expected = [e for e in events if e not in denied]
    assert denied and expected, "the samples should hold both kinds"
    with _stack(target) as stack:
        for hit in sample_hits:
            response = _send(stack, hit)
            assert response.status_code == 204, response.text
        received = target.wait_for(len(expected), timeout=30)
        log = stack.log_path("vendor-webhook")
        lines = wait_until(lambda: len(delivery_lines(log)) >= len(events) and delivery_lines(log), timeout=30)
        # Let any duplicate arrive before counting.
        wait_until(lambda: len(target.received) > len(expected), timeout=2)
        bodies = target.requests_json()
    skipped = [entry for entry in lines if entry["outcome"] == "skipped"]
    assert [entry["reason"] for entry in skipped] == ["consent_denied:analytics_storage"] * len(denied)
    assert all(entry["consent"]["analytics_storage"] == "denied" for entry in skipped)
    assert len(bodies) == len(expected)
    assert sorted((b["event_name"], b["client_id"]) for b in bodies) == sorted((e["en"], e["cid"]) for e in expected)
    assert len({b["event_id"] for b in bodies}) == len(bodies)
    assert all(r.path == "/events" for r in received)


def test_target_failing_three_times_still_gets_the_event(target):
    target.play(Reply(503), Reply(500), Reply(429, headers={"Retry-After": "1"}))
    # The configured local backoff (5-10 s) would spend 25 s waiting: the retry is the point.
    with _stack(
        target, retry=RetryPolicy(max_delivery_attempts=10, minimum_backoff_seconds=1, maximum_backoff_seconds=2)
    ) as stack:
        response = requests.post(
            f"{stack.collect_url}/g/collect?v=2&tid=G-TEST&cid=7.8&en=purchase&dl=https%3A%2F%2Fexample.com%2F",
            timeout=10,
        )
        assert response.status_code == 204
        received = target.wait_for(4, timeout=60)
        log = stack.log_path("vendor-webhook")
        lines = wait_until(lambda: len(delivery_lines(log)) >= 4 and delivery_lines(log), timeout=10)
    assert len(received) == 4
    assert {r.json()["event_id"] for r in received} == {received[0].json()["event_id"]}
    assert [entry["outcome"] for entry in lines] == ["retrying", "retrying", "retrying", "delivered"]
    assert [entry["attempt"] for entry in lines] == [1, 2, 3, 4]


def test_target_always_failing_sends_the_event_to_the_dead_letter_topic(target):
    target.default = Reply(503)
    # The configured local policy retries for minutes (see config/vendors.yaml): a fast one here.
    with _stack(
        target, retry=RetryPolicy(max_delivery_attempts=5, minimum_backoff_seconds=1, maximum_backoff_seconds=2)
    ) as stack:
        response = requests.post(
            f"{stack.collect_url}/g/collect?v=2&tid=G-TEST&cid=9.9&en=sign_up",
            timeout=10,
        )
        assert response.status_code == 204
        attempts = stack.retry.max_delivery_attempts
        dead = wait_until(lambda: stack.topology.pull_dead_letters(), timeout=120, interval=1)
        log = stack.log_path("vendor-webhook")
        lines = delivery_lines(log)
    assert len(dead) == 1
    event = json.loads(dead[0].data)
    assert event["event_name"] == "sign_up" and event["client_id"] == "9.9"
    assert dead[0].attributes["event_name"] == "sign_up"
    assert len(target.received) == attempts
    assert lines[-1]["outcome"] == "dead_lettered"


def test_target_rejecting_an_event_is_logged_with_its_reason_and_acked(target):
    target.default = Reply(400, body={"error": "bad field"})
    with _stack(target) as stack:
        requests.post(f"{stack.collect_url}/g/collect?v=2&tid=G-TEST&cid=1.1&en=login", timeout=10)
        log = stack.log_path("vendor-webhook")
        lines = wait_until(lambda: delivery_lines(log), timeout=20)
        # acked: no redelivery follows
        wait_until(lambda: len(target.received) > 1, timeout=3)
    assert len(target.received) == 1
    assert lines[0]["outcome"] == "rejected"
    assert "bad field" in lines[0]["detail"]
