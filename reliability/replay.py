"""``make replay VENDOR=meta``: move one vendor's dead letters back to that vendor, unchanged.

Pulls the dead-letter subscription ``tagging-dead-letter-inspect``, keeps the messages whose
``CloudPubSubDeadLetterSourceSubscription`` is the vendor's push (or replay-push)
subscription, and republishes each to the vendor's own replay topic
``tagging-replay-<vendor>`` with the same data and attributes (minus Pub/Sub's
``CloudPubSubDeadLetter*`` ones), so the same event_id reaches only that vendor's function.
A message is acked only after its republish was acknowledged; every other message (another
vendor's, or anything not moved) is released untouched for the next reader.

Works against the emulator (``PUBSUB_EMULATOR_HOST``) or a cloud project (credentials from
the environment, as every Google client library).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from devstack.topology import DEAD_LETTER_SUBSCRIPTION, replay_topic
from reliability.accounting import DEAD_LETTER_SOURCE, DeadLetter, vendor_of_subscription

PULL_BATCH = 100
LEASE_SECONDS = 60
DEAD_LETTER_ATTRIBUTE_PREFIX = "CloudPubSubDeadLetter"


def replay_attributes(attributes: dict[str, str]) -> dict[str, str]:
    """The message's own attributes: Pub/Sub's dead-letter bookkeeping removed."""
    return {k: v for k, v in attributes.items() if not k.startswith(DEAD_LETTER_ATTRIBUTE_PREFIX)}


@dataclass
class ReplayReport:
    vendor: str
    dry_run: bool
    moved: list[dict[str, str]] = field(default_factory=list)  # {event_id, message_id, new_message_id}
    would_move: list[dict[str, str]] = field(default_factory=list)  # dry run, or over the limit
    failed: list[dict[str, str]] = field(default_factory=list)
    other_vendors: dict[str, int] = field(default_factory=dict)  # left in place, by vendor
    seconds: float = 0.0
    stopped_by: str = "empty"  # empty | limit | time

    def summary(self) -> str:
        action = "would move" if self.dry_run else "moved"
        count = len(self.would_move) if self.dry_run else len(self.moved)
        others = ", ".join(f"{v or '(no source)'}: {n}" for v, n in sorted(self.other_vendors.items())) or "none"
        text = (
            f"replay {self.vendor}: {action} {count} dead-lettered message(s) to {replay_topic(self.vendor)}"
            f" in {self.seconds:.1f} s (stopped: {self.stopped_by}); left in place for other vendors: {others}"
        )
        if not self.dry_run and self.would_move:
            text += f"; not moved (limit): {len(self.would_move)}"
        if self.failed:
            text += f"; FAILED to republish {len(self.failed)} (left in the dead-letter topic)"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "dry_run": self.dry_run,
            "moved": self.moved,
            "would_move": self.would_move,
            "failed": self.failed,
            "other_vendors": self.other_vendors,
            "seconds": round(self.seconds, 2),
            "stopped_by": self.stopped_by,
        }


def replay(
    project: str,
    vendor: str,
    dry_run: bool = False,
    limit: int | None = None,
    max_seconds: float = 60.0,
    subscription: str = DEAD_LETTER_SUBSCRIPTION,
    pull_timeout: float = 5.0,
) -> ReplayReport:
    """Move up to ``limit`` of ``vendor``'s dead letters to its replay topic within ``max_seconds``."""
    started = time.monotonic()
    report = ReplayReport(vendor=vendor, dry_run=dry_run)
    subscriber = pubsub_v1.SubscriberClient()
    publisher = pubsub_v1.PublisherClient()
    sub_path = subscriber.subscription_path(project, subscription)
    topic_path = publisher.topic_path(project, replay_topic(vendor))
    # Messages we leave in place stay leased by us until the end, so one pass sees each once.
    held: dict[str, str] = {}  # message_id -> ack_id
    held_since = time.monotonic()
    empty_pulls = 0
    try:
        while True:
            if time.monotonic() - started > max_seconds:
                report.stopped_by = "time"
                break
            if limit is not None and not dry_run and len(report.moved) >= limit:
                report.stopped_by = "limit"
                break
            received = _pull(subscriber, sub_path, pull_timeout)
            if not received:
                empty_pulls += 1
                if empty_pulls >= 2:
                    break
                continue
            empty_pulls = 0
            for item in received:
                message = item.message
                attributes = dict(message.attributes)
                source = attributes.get(DEAD_LETTER_SOURCE, "")
                owner = vendor_of_subscription(source) if source else ""
                event_id = DeadLetter.from_message(message.data, attributes).event_id
                entry = {"event_id": event_id, "message_id": message.message_id}
                if owner != vendor:
                    report.other_vendors[owner] = report.other_vendors.get(owner, 0) + 1
                    held[message.message_id] = item.ack_id
                    continue
                if dry_run or (limit is not None and len(report.moved) >= limit):
                    report.would_move.append(entry)
                    held[message.message_id] = item.ack_id
                    continue
                try:
                    new_id = publisher.publish(topic_path, message.data, **replay_attributes(attributes)).result(
                        timeout=30
                    )
                except Exception as exc:  # noqa: BLE001 - any failure: leave the message where it is
                    report.failed.append({**entry, "error": f"{type(exc).__name__}: {exc}"[:300]})
                    held[message.message_id] = item.ack_id
                    continue
                subscriber.acknowledge(request={"subscription": sub_path, "ack_ids": [item.ack_id]})
                report.moved.append({**entry, "new_message_id": new_id})
            if held and time.monotonic() - held_since > LEASE_SECONDS / 2:
                _set_deadline(subscriber, sub_path, list(held.values()), LEASE_SECONDS)
                held_since = time.monotonic()
    finally:
        # Release what we did not move, at once, for the next reader (nack).
        _set_deadline(subscriber, sub_path, list(held.values()), 0)
        subscriber.close()
        publisher.stop()
        report.seconds = time.monotonic() - started
    return report


def _pull(subscriber: pubsub_v1.SubscriberClient, path: str, timeout: float) -> list:
    try:
        response = subscriber.pull(request={"subscription": path, "max_messages": PULL_BATCH}, timeout=timeout)
    except (gexc.DeadlineExceeded, gexc.RetryError):
        return []
    return list(response.received_messages)


def _set_deadline(subscriber: pubsub_v1.SubscriberClient, path: str, ack_ids: list[str], seconds: int) -> None:
    for start in range(0, len(ack_ids), 1000):
        chunk = ack_ids[start : start + 1000]
        if chunk:
            subscriber.modify_ack_deadline(
                request={"subscription": path, "ack_ids": chunk, "ack_deadline_seconds": seconds}
            )
