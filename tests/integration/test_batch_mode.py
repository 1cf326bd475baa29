"""Batch mode end to end over real parts: hits to collect → the Pub/Sub emulator → Meta's pull
subscription → the vendor function's POST /drain (functions-framework, aio) → a real local
HTTP server standing in for the Conversions API. Per-message outcomes, retries by nack and
dead-lettering per message, not per batch."""

from __future__ import annotations

import json
import urllib.parse

import pytest
import requests

from devstack import config as stack_config
from devstack.config import RetryPolicy
from devstack.mock_vendor import MockVendor, Reply
from devstack.stack import LocalStack
from tests.stackutil import delivery_lines, wait_until

pytestmark = pytest.mark.integration

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) Batch/1.0"
CREDENTIALS = {"META_PIXEL_ID": "1234567890", "META_ACCESS_TOKEN": "test-batch-meta-token"}
FAST_RETRY = RetryPolicy(max_delivery_attempts=5, minimum_backoff_seconds=0, maximum_backoff_seconds=1)


def meta_answer(request):
    body = request.json()
    bad = [e for e in body["data"] if e.get("custom_data", {}).get("order_id") == "T-BAD"]
    if bad:  # one invalid event rejects the whole request, as Meta does
        return Reply(400, body={"error": {"code": 100, "error_subcode": 2804003, "message": "Invalid parameter"}})
    return Reply(200, body={"events_received": len(body["data"]), "messages": [], "fbtrace_id": "batch"})


@pytest.fixture
def meta():
    with MockVendor() as server:
        server.responder = meta_answer
        yield server


def _stack(server: MockVendor, **kwargs) -> LocalStack:
    env = {"meta": {**CREDENTIALS, "VENDOR_API_BASE": server.url}}
    kwargs.setdefault("drain_interval", 0)  # the tests drain by hand, unless they test the timer
    return LocalStack(stack_config.load(), vendors=("meta",), vendor_env=env, delivery={"meta": "batch"}, **kwargs)


def _purchases(stack: LocalStack, orders: list[str]) -> None:
    # One /g/collect request carrying many events (GA4's batched hits): one publish per event.
    lines = []
    for order in orders:
        lines.append(
            urllib.parse.urlencode({"en": "purchase", "ep.transaction_id": order, "epn.value": "10", "cu": "EUR"})
        )
    query = urllib.parse.urlencode(
        {"v": "2", "tid": "G-BATCH", "cid": "111.222", "sid": "1730000000", "dl": "https://shop.example/thanks"}
    )
    response = requests.post(
        f"{stack.collect_url}/g/collect?{query}", data="\n".join(lines), headers={"User-Agent": USER_AGENT}, timeout=10
    )
    assert response.status_code in (200, 204), response.text


def _drain_until(stack: LocalStack, done, timeout: float = 60) -> list[dict]:
    summaries = []

    def step():
        summaries.append(stack.drain("meta"))
        return done()

    wait_until(step, timeout=timeout, interval=0.2)
    return summaries


def test_pulled_events_go_to_meta_in_one_batch_request_each_acked(meta):
    orders = [f"T-{i}" for i in range(12)]
    with _stack(meta) as stack:
        _purchases(stack, orders)
        summaries = _drain_until(stack, lambda: sum(len(r.json()["data"]) for r in meta.received) >= 12)
        # Everything was acked: a later drain finds nothing.
        after = stack.drain("meta")
        lines = delivery_lines(stack.log_path("vendor-meta"))
    sent = [e["custom_data"]["order_id"] for r in meta.received for e in r.json()["data"]]
    assert sorted(sent) == sorted(orders)
    assert len(meta.received) < len(orders)  # batched: fewer requests than events
    assert meta.received[0].path == "/v24.0/1234567890/events"
    assert meta.received[0].json()["access_token"] == "test-batch-meta-token"
    assert {ln["outcome"] for ln in lines} == {"delivered"} and len(lines) == 12
    assert all(ln["batch_size"] >= 1 for ln in lines)
    assert sum(s.get("outcomes", {}).get("delivered", 0) for s in summaries) == 12
    assert after["messages"] == 0 and after["stopped"] == "empty"


def test_a_bad_event_is_rejected_alone_and_the_others_delivered(meta):
    orders = ["T-1", "T-2", "T-BAD", "T-3", "T-4"]
    with _stack(meta) as stack:
        _purchases(stack, orders)
        log = stack.log_path("vendor-meta")
        _drain_until(stack, lambda: len(delivery_lines(log)) >= 5)
        lines = delivery_lines(log)
    outcomes = sorted((ln["outcome"], ln["reason"]) for ln in lines)
    assert outcomes == [("delivered", "")] * 4 + [("rejected", "meta_error:100.2804003")]
    accepted = [
        e["custom_data"]["order_id"]
        for r in meta.received
        if r.json() and "T-BAD" not in json.dumps(r.json())
        for e in r.json()["data"]
    ]
    assert sorted(accepted) == ["T-1", "T-2", "T-3", "T-4"]


def test_an_outage_nacks_and_the_next_drains_deliver(meta):
    meta.responder = lambda r: Reply(
        503, body={"error": {"code": 2, "message": "Service unavailable", "is_transient": True}}
    )
    with _stack(meta, retry=FAST_RETRY) as stack:
        _purchases(stack, ["T-1", "T-2", "T-3"])
        log = stack.log_path("vendor-meta")
        _drain_until(stack, lambda: len(delivery_lines(log)) >= 3)
        assert {ln["outcome"] for ln in delivery_lines(log)} == {"retrying"}
        meta.responder = meta_answer  # the vendor is back
        _drain_until(stack, lambda: sum(1 for ln in delivery_lines(log) if ln["outcome"] == "delivered") >= 3)
        lines = delivery_lines(log)
    delivered = {ln["event_id"] for ln in lines if ln["outcome"] == "delivered"}
    assert len(delivered) == 3
    assert {ln["event_id"] for ln in lines} == delivered  # the retried messages are the same events


def test_dead_lettering_is_per_message_not_per_batch(meta):
    # T-BAD is never accepted and its failure is transient; the others are accepted at once.
    def answer(request):
        if "T-BAD" in json.dumps(request.json()):
            return Reply(500, body={"error": {"code": 1, "message": "An unknown error occurred"}})
        return meta_answer(request)

    meta.responder = answer
    with _stack(meta, retry=FAST_RETRY) as stack:
        _purchases(stack, ["T-1", "T-BAD", "T-2"])
        log = stack.log_path("vendor-meta")
        dead = []

        def done():
            dead.extend(stack.topology.pull_dead_letters(max_messages=10))
            return dead

        _drain_until(stack, done, timeout=120)
        lines = delivery_lines(log)
    assert [json.loads(m.data)["transaction_id"] for m in dead] == ["T-BAD"]
    by_outcome: dict[str, set] = {}
    for line in lines:
        by_outcome.setdefault(line["outcome"], set()).add(line["event_id"])
    assert len(by_outcome["delivered"]) == 2 and len(by_outcome["dead_lettered"]) == 1
    assert not by_outcome["dead_lettered"] & by_outcome["delivered"]


def test_make_run_drains_batch_vendors_on_a_timer(meta):
    # As `make run` does: the stack's own timer calls POST /drain; nobody drains by hand.
    with _stack(meta, drain_interval=1.0) as stack:
        assert stack.drainer is not None
        _purchases(stack, ["T-1", "T-2"])
        got = wait_until(lambda: sum(len(r.json()["data"]) for r in meta.received) >= 2, timeout=30)
    assert got
    assert sorted(e["custom_data"]["order_id"] for r in meta.received for e in r.json()["data"]) == ["T-1", "T-2"]


# The analytics destinations' batch hooks through the real drain: emulator, functions-framework.
ANALYTICS = {
    # vendor: (credentials, batch path, the events of a request body)
    "mixpanel": ({"MIXPANEL_SERVICE_ACCOUNT": "svc:secret-mp"}, "/import", lambda b: b),
    "amplitude": ({"AMPLITUDE_API_KEY": "secret-amp"}, "/2/httpapi", lambda b: b["events"]),
    "segment": ({"SEGMENT_WRITE_KEY": "secret-seg"}, "/v1/batch", lambda b: b.get("batch", [b])),
}


@pytest.mark.parametrize("vendor", sorted(ANALYTICS))
def test_analytics_destinations_drain_in_batches(vendor):
    credentials, path, rows = ANALYTICS[vendor]
    orders = [f"T-{vendor}-{i}" for i in range(8)]
    with MockVendor(default=Reply(200, body={"code": 200})) as server:
        env = {vendor: {**credentials, "VENDOR_API_BASE": server.url}}
        stack_kwargs = {"vendors": (vendor,), "vendor_env": env, "delivery": {vendor: "batch"}, "drain_interval": 0}
        with LocalStack(stack_config.load(), **stack_kwargs) as stack:
            _purchases(stack, orders)

            def step():
                stack.drain(vendor)
                return sum(len(rows(r.json())) for r in server.received) >= len(orders)

            wait_until(step, timeout=60, interval=0.2)
            after = stack.drain(vendor)
            lines = delivery_lines(stack.log_path(f"vendor-{vendor}"))
    assert {ln["outcome"] for ln in lines} == {"delivered"} and len(lines) == len(orders)
    assert len(server.received) < len(orders)  # batched: fewer requests than events
    assert any(r.path.split("?")[0] == path and len(rows(r.json())) > 1 for r in server.received)
    assert after["messages"] == 0 and after["stopped"] == "empty"
