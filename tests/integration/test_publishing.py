"""EventPublisher against the real Pub/Sub emulator: acks, group commit, and failures as PublishError."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from pathlib import Path

import pytest
from google.cloud import pubsub_v1

from devstack.emulator import PubSubEmulator
from devstack.processes import free_port
from shared.publishing import EventPublisher, PublishError

pytestmark = pytest.mark.integration
PROJECT = "tagging-local"


@pytest.fixture(scope="module")
def emulator():
    emulator = PubSubEmulator(free_port(), PROJECT, Path(tempfile.mkdtemp(prefix="publishing-test-")))
    emulator.start()
    saved = {k: os.environ.get(k) for k in emulator.env()}
    os.environ.update(emulator.env())
    try:
        yield emulator
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        emulator.stop()


@pytest.fixture
def topic_and_subscription(emulator, request):
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    name = request.node.name.replace("[", "-").replace("]", "")[:40]
    topic = publisher.topic_path(PROJECT, name)
    subscription = subscriber.subscription_path(PROJECT, name)
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=subscription, topic=topic)
    yield name, subscriber, subscription
    subscriber.close()


def _pull_all(subscriber, subscription: str, expected: int) -> list:
    messages = []
    for _ in range(50):
        if len(messages) >= expected:
            break
        response = subscriber.pull(request={"subscription": subscription, "max_messages": 1000}, timeout=10)
        if response.received_messages:
            subscriber.acknowledge(
                request={"subscription": subscription, "ack_ids": [m.ack_id for m in response.received_messages]}
            )
        messages.extend(m.message for m in response.received_messages)
    return messages


def _event(i: int) -> dict:
    return {"event_name": "page_view", "event_id": f"e{i}", "x-ga-measurement_id": "G-TEST", "consent": {}}


def test_concurrent_callers_each_get_their_own_acknowledged_ids(topic_and_subscription):
    topic, subscriber, subscription = topic_and_subscription
    publisher = EventPublisher(project=PROJECT, topic=topic, timeout=20, max_in_flight=1)

    async def main():
        # 60 concurrent hits of 1-3 events: with one RPC in flight they must share RPCs.
        return await asyncio.gather(
            *[publisher.publish_events([_event(10 * i + k) for k in range(1 + i % 3)]) for i in range(60)]
        )

    results = asyncio.run(main())
    assert [len(ids) for ids in results] == [1 + i % 3 for i in range(60)]
    all_ids = [mid for ids in results for mid in ids]
    assert len(set(all_ids)) == len(all_ids) == 120
    received = _pull_all(subscriber, subscription, 120)
    by_id = {m.message_id: json.loads(m.data) for m in received}
    assert set(by_id) == set(all_ids)
    # Each caller's IDs are the IDs of its own events, in order.
    for i, ids in enumerate(results):
        assert [by_id[mid]["event_id"] for mid in ids] == [f"e{10 * i + k}" for k in range(1 + i % 3)]
    assert received[0].attributes["event_name"] == "page_view"
    assert received[0].attributes["measurement_id"] == "G-TEST"


def test_publisher_works_again_on_a_new_event_loop(topic_and_subscription):
    topic, subscriber, subscription = topic_and_subscription
    publisher = EventPublisher(project=PROJECT, topic=topic, timeout=20)
    first = asyncio.run(publisher.publish_events([_event(1)]))
    second = asyncio.run(publisher.publish_events([_event(2)]))
    assert len(first) == len(second) == 1
    assert len(_pull_all(subscriber, subscription, 2)) == 2


def test_missing_topic_raises_publish_error(emulator):
    publisher = EventPublisher(project=PROJECT, topic="no-such-topic", timeout=10)
    with pytest.raises(PublishError, match="NOT_FOUND"):
        asyncio.run(publisher.publish_events([_event(1)]))


def test_unreachable_broker_raises_publish_error_within_the_timeout(monkeypatch):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{free_port()}")  # nothing listens there
    publisher = EventPublisher(project=PROJECT, topic="tagging-events", timeout=1.5)

    async def main():
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(PublishError):
            await publisher.publish_events([_event(1)])
        return loop.time() - started

    elapsed = asyncio.run(main())
    assert elapsed < 10  # bounded by the publish timeout, not hanging
