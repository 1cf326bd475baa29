"""Dead-letter replay over the real stack: messages move back to their vendor unchanged."""

from __future__ import annotations

import json

import pytest
import requests

from devstack import config as stack_config
from devstack.config import RetryPolicy
from devstack.mock_vendor import MockVendor, Reply
from devstack.stack import LocalStack
from devstack.topology import replay_subscription, replay_topic
from reliability.replay import replay
from tests.stackutil import delivery_lines, wait_until

pytestmark = pytest.mark.integration

FAST = RetryPolicy(max_delivery_attempts=5, minimum_backoff_seconds=1, maximum_backoff_seconds=2)


@pytest.fixture
def vendor():
    with MockVendor(default=Reply(503, body={"error": "down"})) as mock:
        yield mock


@pytest.fixture
def stack(vendor):
    with LocalStack(
        stack_config.load(),
        vendors=("webhook",),
        vendor_env={"webhook": {"WEBHOOK_URL": vendor.url + "/events"}},
        retry=FAST,
        emulator_backoff=False,  # the emulator's retry policy loses redeliveries (docs/reliability.md)
    ) as running:
        yield running


def _send(stack: LocalStack, cid: str, name: str) -> str:
    event_id = f"replay-{cid}"
    response = requests.post(
        f"{stack.collect_url}/g/collect?v=2&tid=G-TEST&cid={cid}&en={name}&ep.event_id={event_id}", timeout=10
    )
    assert response.status_code == 204, response.text
    return event_id


def _dead_lettered(stack: LocalStack, vendor: str, count: int) -> list[dict[str, str]]:
    """Wait until a dry run sees ``count`` of the vendor's dead letters; return them."""

    def enough() -> list[dict[str, str]] | None:
        found = replay(stack.project, vendor, dry_run=True, max_seconds=15, pull_timeout=2).would_move
        return found if len(found) >= count else None

    found = wait_until(enough, timeout=90, interval=1)
    assert found, f"{vendor}: fewer than {count} dead letters appeared"
    return found


def _probe_replay_topic(stack: LocalStack) -> str:
    """An extra pull subscription on the replay topic, to see exactly what replay published."""
    topology = stack.topology
    path = topology.subscription_path("test-replay-probe")
    topology.subscriber.create_subscription(
        request={"name": path, "topic": topology.topic_path(replay_topic("webhook"))}
    )
    return path


def test_replay_moves_the_vendors_dead_letters_back_unchanged(stack, vendor):
    ids = {_send(stack, "1.1", "purchase"), _send(stack, "2.2", "sign_up")}
    # Another vendor's dead letter must stay where it is.
    topology = stack.topology
    topology.publisher.publish(
        topology.topic_path(topology.dead_letter_topic),
        json.dumps({"event_id": "meta-only", "event_name": "lead"}).encode(),
        event_name="lead",
        CloudPubSubDeadLetterSourceSubscription=f"projects/{stack.project}/subscriptions/meta-push",
    ).result(timeout=10)
    dead = _dead_lettered(stack, "webhook", 2)
    assert {d["event_id"] for d in dead} == ids
    probe = _probe_replay_topic(stack)

    vendor.default = Reply(200)
    received_before = len(vendor.received)
    report = replay(stack.project, "webhook", max_seconds=30, pull_timeout=2)

    assert sorted(m["event_id"] for m in report.moved) == sorted(ids)
    assert report.other_vendors == {"meta": 1} and not report.failed
    # Same data and attributes as collect published them, without Pub/Sub's dead-letter ones.
    pulled = topology.subscriber.pull(request={"subscription": probe, "max_messages": 10}, timeout=10).received_messages
    assert sorted(json.loads(m.message.data)["event_id"] for m in pulled) == sorted(ids)
    for item in pulled:
        attributes = dict(item.message.attributes)
        assert not [k for k in attributes if k.startswith("CloudPubSubDeadLetter")]
        assert attributes["event_name"] in ("purchase", "sign_up")
        assert attributes["measurement_id"] == "G-TEST"
    # The webhook function receives them through its replay subscription and delivers them.
    vendor.wait_for(received_before + 2, timeout=60)
    delivered = wait_until(
        lambda: (
            {
                entry["event_id"]
                for entry in delivery_lines(stack.log_path("vendor-webhook"))
                if entry["outcome"] == "delivered"
            }
            >= ids
        ),
        timeout=30,
    )
    assert delivered
    assert {r.json()["event_id"] for r in vendor.received[received_before:]} == ids
    # Only meta's message is left; webhook's are gone.
    left = replay(stack.project, "meta", dry_run=True, max_seconds=15, pull_timeout=2)
    assert [m["event_id"] for m in left.would_move] == ["meta-only"]
    assert replay(stack.project, "webhook", dry_run=True, max_seconds=15, pull_timeout=2).would_move == []


def test_a_replay_that_fails_again_returns_to_the_dead_letter_topic(stack, vendor):
    event_id = _send(stack, "3.3", "purchase")
    _send(stack, "4.4", "purchase")
    _dead_lettered(stack, "webhook", 2)

    # The vendor is still down: the replayed message fails again and is dead-lettered again,
    # now from the vendor's replay subscription, still as the vendor's message.
    first = replay(stack.project, "webhook", limit=1, max_seconds=30, pull_timeout=2)
    assert len(first.moved) == 1 and first.stopped_by == "limit"
    moved_id = first.moved[0]["event_id"]
    again = wait_until(
        lambda: [
            d
            for d in replay(stack.project, "webhook", dry_run=True, max_seconds=15, pull_timeout=2).would_move
            if d["event_id"] == moved_id and d["message_id"] != first.moved[0]["message_id"]
        ],
        timeout=90,
        interval=1,
    )
    assert again, "the replayed message did not come back to the dead-letter topic"
    pulled = stack.topology.subscriber.pull(
        request={"subscription": stack.topology.subscription_path("tagging-dead-letter-inspect"), "max_messages": 10},
        timeout=10,
    ).received_messages
    sources = {
        json.loads(m.message.data)["event_id"]: m.message.attributes["CloudPubSubDeadLetterSourceSubscription"]
        for m in pulled
    }
    stack.topology.subscriber.modify_ack_deadline(
        request={
            "subscription": stack.topology.subscription_path("tagging-dead-letter-inspect"),
            "ack_ids": [m.ack_id for m in pulled],
            "ack_deadline_seconds": 0,
        }
    )
    assert sources[moved_id].endswith(replay_subscription("webhook"))
    attempts = [entry for entry in delivery_lines(stack.log_path("vendor-webhook")) if entry["event_id"] == moved_id]
    assert [entry["outcome"] for entry in attempts].count("dead_lettered") >= 1

    # Once the vendor is back, a second replay delivers both, with their original event_ids.
    vendor.default = Reply(200)
    second = replay(stack.project, "webhook", max_seconds=30, pull_timeout=2)
    assert sorted(m["event_id"] for m in second.moved) == sorted({event_id, "replay-4.4"})
    assert wait_until(
        lambda: (
            {
                entry["event_id"]
                for entry in delivery_lines(stack.log_path("vendor-webhook"))
                if entry["outcome"] == "delivered"
            }
            >= {event_id, "replay-4.4"}
        ),
        timeout=60,
    )
