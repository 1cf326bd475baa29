"""Topics and subscriptions of the local stack, created on the emulator.

The same shape Terraform creates in the cloud: the events topic, a dead-letter topic with a
pull subscription to inspect it, and one push subscription per vendor with a retry policy
and a dead-letter policy.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1
from google.protobuf import duration_pb2

from devstack.config import RetryPolicy
from devstack.names import (  # noqa: F401 - re-exported: callers name resources through topology
    DEAD_LETTER_SUBSCRIPTION,
    DEAD_LETTER_TOPIC,
    EVENTS_TOPIC,
    replay_subscription,
    replay_topic,
    vendor_pull_subscription,
    vendor_subscription,
)


@dataclass
class Topology:
    """Creates and names the local Pub/Sub resources (expects PUBSUB_EMULATOR_HOST set)."""

    project: str
    events_topic: str = EVENTS_TOPIC
    dead_letter_topic: str = DEAD_LETTER_TOPIC
    dead_letter_subscription: str = DEAD_LETTER_SUBSCRIPTION

    def __post_init__(self) -> None:
        self.publisher = pubsub_v1.PublisherClient()
        self.subscriber = pubsub_v1.SubscriberClient()

    def topic_path(self, topic: str) -> str:
        return self.publisher.topic_path(self.project, topic)

    def subscription_path(self, subscription: str) -> str:
        return self.subscriber.subscription_path(self.project, subscription)

    def create_bus(self) -> None:
        for topic in (self.events_topic, self.dead_letter_topic):
            with contextlib.suppress(gexc.AlreadyExists):
                self.publisher.create_topic(name=self.topic_path(topic))
        self._create_subscription(
            name=self.subscription_path(self.dead_letter_subscription),
            topic=self.topic_path(self.dead_letter_topic),
            ack_deadline_seconds=60,
        )

    def create_push_subscription(self, vendor: str, endpoint: str, retry: RetryPolicy, ack_deadline: int = 30) -> str:
        """The vendor's push subscription to ``endpoint``, and its replay topic's, with the
        same retry and dead-letter policies."""
        with contextlib.suppress(gexc.AlreadyExists):
            self.publisher.create_topic(name=self.topic_path(replay_topic(vendor)))
        self._create_push(replay_subscription(vendor), replay_topic(vendor), endpoint, retry, ack_deadline)
        return self._create_push(vendor_subscription(vendor), self.events_topic, endpoint, retry, ack_deadline)

    def create_relayed_subscription(self, vendor: str, retry: RetryPolicy, ack_deadline: int) -> list[str]:
        """The vendor's two subscriptions (events and replay) as *pull* subscriptions with the
        dead-letter policy and no retry policy, for devstack.relay to push from with backoff:
        the emulator's own retry policy loses redeliveries (see :func:`drop_retry_policy`).
        Same names as the cloud's push subscriptions, so dead letters are attributed alike."""
        with contextlib.suppress(gexc.AlreadyExists):
            self.publisher.create_topic(name=self.topic_path(replay_topic(vendor)))
        paths = []
        for subscription, topic in (
            (vendor_subscription(vendor), self.events_topic),
            (replay_subscription(vendor), replay_topic(vendor)),
        ):
            path = self.subscription_path(subscription)
            self._create_subscription(
                name=path,
                topic=self.topic_path(topic),
                ack_deadline_seconds=ack_deadline,
                dead_letter_policy={
                    "dead_letter_topic": self.topic_path(self.dead_letter_topic),
                    "max_delivery_attempts": retry.max_delivery_attempts,
                },
            )
            paths.append(subscription)
        return paths

    def create_pull_subscription(self, vendor: str, endpoint: str, retry: RetryPolicy, ack_deadline: int = 20) -> str:
        """Batch mode: the vendor's pull subscription on the events topic (drained by the
        function), with the same retry and dead-letter policies; replays still push. A message
        pulled by a drain that dies is redelivered after ``ack_deadline`` (20 s locally)."""
        with contextlib.suppress(gexc.AlreadyExists):
            self.publisher.create_topic(name=self.topic_path(replay_topic(vendor)))
        self._create_push(replay_subscription(vendor), replay_topic(vendor), endpoint, retry, 30)
        return self._create_push(vendor_pull_subscription(vendor), self.events_topic, None, retry, ack_deadline)

    def _create_push(
        self, subscription: str, topic: str, endpoint: str | None, retry: RetryPolicy, ack_deadline: int
    ) -> str:
        """A subscription with the retry and dead-letter policies; push to ``endpoint``, or pull."""
        path = self.subscription_path(subscription)
        self._create_subscription(
            name=path,
            topic=self.topic_path(topic),
            **({"push_config": {"push_endpoint": endpoint}} if endpoint else {}),
            ack_deadline_seconds=ack_deadline,
            retry_policy={
                "minimum_backoff": duration_pb2.Duration(seconds=retry.minimum_backoff_seconds),
                "maximum_backoff": duration_pb2.Duration(seconds=retry.maximum_backoff_seconds),
            },
            dead_letter_policy={
                "dead_letter_topic": self.topic_path(self.dead_letter_topic),
                "max_delivery_attempts": retry.max_delivery_attempts,
            },
        )
        return path

    def _create_subscription(self, **request) -> None:
        with contextlib.suppress(gexc.AlreadyExists):
            self.subscriber.create_subscription(request=request)

    def pull_dead_letters(self, max_messages: int = 100, ack: bool = True) -> list:
        """Pull what sits in the dead-letter subscription (acking it unless ``ack`` is False)."""
        path = self.subscription_path(self.dead_letter_subscription)
        try:
            response = self.subscriber.pull(request={"subscription": path, "max_messages": max_messages}, timeout=5)
        except gexc.DeadlineExceeded:
            return []
        received = list(response.received_messages)
        if ack and received:
            self.subscriber.acknowledge(request={"subscription": path, "ack_ids": [m.ack_id for m in received]})
        return [m.message for m in received]

    def close(self) -> None:
        self.subscriber.close()


def drop_retry_policy(topology: Topology, vendor: str, batch: bool = False) -> None:
    """Remove the retry policy (keep the dead-letter policy) of a vendor's push subscriptions.

    A workaround for the emulator only (cloud-pubsub-emulator 0.8.20): with a retry policy,
    when two failed pushes are nacked in the same millisecond its delayed-redelivery map holds
    one ack id twice, the second redelivery throws inside its scheduled task and that
    subscription never redelivers again. Without a retry policy the emulator redelivers a
    failed push about a second later, every time. See docs/reliability.md.
    """
    main = vendor_pull_subscription(vendor) if batch else vendor_subscription(vendor)
    for subscription in (main, replay_subscription(vendor)):
        topology.subscriber.update_subscription(
            request={
                "subscription": {"name": topology.subscription_path(subscription)},
                "update_mask": {"paths": ["retry_policy"]},
            }
        )
