"""Batch mode, the Pub/Sub half: drain the vendor's pull subscription.

A scheduler (Cloud Scheduler in the cloud, ``make run``'s timer locally) calls the vendor
function's ``POST /drain``. The drain pulls up to ``DRAIN_MAX_MESSAGES`` messages from
``DRAIN_SUBSCRIPTION``, delivers them together (:mod:`shared.delivery.batching`), acks each
message whose outcome is final and nacks each retryable one (Pub/Sub then redelivers it
after the subscription's backoff and dead-letters it after ``max_delivery_attempts``, per
message), and pulls again until the subscription is empty, the vendor throttles (429 /
Retry-After), every message of a pull failed retryably (the vendor is down: pulling the
backlog only to nack it would spend its delivery attempts), a pull brings back a message
this drain already nacked, or ``DRAIN_SECONDS`` is nearly spent. So a message is attempted
at most about once per tick, as push attempts it once per backoff. One ``drain`` log line
sums it up.

A message pulled but never answered (the instance killed mid-drain) is redelivered when its
ack deadline passes: at least once, as with push.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from shared import jsonlog
from shared import settings as env_settings
from shared.delivery.batching import Batch
from shared.delivery.envelope import PushMessage
from shared.event import decode_event

if TYPE_CHECKING:
    from shared.delivery.vendor import Vendor

# Leave this much of DRAIN_SECONDS (at most a quarter of it) for the last batch's sends, acks
# and the response: a batch of 1,000 with one bisection still fits.
_MARGIN_SECONDS = 12.0
_subscriber: Any = None


def _client() -> Any:
    """One subscriber client per process (gRPC channel reused across drains)."""
    global _subscriber
    if _subscriber is None:
        from google.cloud import pubsub_v1  # type: ignore[attr-defined]  # the package re-exports it lazily

        _subscriber = pubsub_v1.SubscriberClient()
    return _subscriber


def subscription_path() -> str:
    """``DRAIN_SUBSCRIPTION``: a full path, or a name in ``PUBSUB_PROJECT_ID``/``GOOGLE_CLOUD_PROJECT``."""
    name = env_settings.env_str("DRAIN_SUBSCRIPTION").strip()
    if not name or name.startswith("projects/"):
        return name
    return f"projects/{env_settings.project_id()}/subscriptions/{name}"


def decode_pulled(received: Any, subscription: str) -> PushMessage:
    """A pulled message as the runtime's :class:`PushMessage`; ``ValueError`` if it holds no event."""
    message = received.message
    event = decode_event(bytes(message.data))
    return PushMessage(
        event=event,
        attributes={str(k): str(v) for k, v in message.attributes.items()},
        message_id=str(message.message_id),
        subscription=subscription,
        # Set by Pub/Sub on subscriptions with a dead-letter policy; 0 (unset) on the emulator.
        delivery_attempt=int(received.delivery_attempt) or None,
    )


async def drain(vendor: Vendor, subscription: str | None = None) -> dict[str, Any]:
    """Drain ``subscription`` into ``vendor``; return (and log) what happened."""
    subscription = subscription or subscription_path()
    started = time.monotonic()
    budget = env_settings.env_float("DRAIN_SECONDS", 50.0)
    max_messages = max(1, min(1000, env_settings.env_int("DRAIN_MAX_MESSAGES", 1000)))
    pull_timeout = env_settings.env_float("DRAIN_PULL_TIMEOUT_SECONDS", 3.0)
    totals: dict[str, int] = {}
    pulls = requests_sent = 0
    stopped = "empty"
    subscriber = _client()
    seen: set[str] = set()
    while True:
        left = budget - (time.monotonic() - started)
        if left < min(_MARGIN_SECONDS, budget / 4):
            stopped = "deadline"
            break
        received = await asyncio.to_thread(_pull, subscriber, subscription, max_messages, min(pull_timeout, left))
        pulls += 1
        if not received:
            break
        messages: list[tuple[Any, PushMessage]] = []
        ack_ids: list[str] = []
        nack_ids: list[str] = []
        repeated = False
        for item in received:
            if item.message.message_id in seen:
                # Nacked earlier in this drain and already back (no backoff): it waits for the
                # next tick instead of spending its delivery attempts in a tight loop.
                nack_ids.append(item.ack_id)
                repeated = True
                continue
            seen.add(item.message.message_id)
            try:
                messages.append((item.ack_id, decode_pulled(item, subscription)))
            except (UnicodeDecodeError, ValueError) as exc:
                # As with push: a poison message is nacked, so it ends in the dead-letter topic.
                jsonlog.error(
                    "delivery",
                    vendor=vendor.name,
                    outcome="invalid_envelope",
                    message_id=str(item.message.message_id),
                    reason=f"message data is not a JSON event: {exc}",
                )
                nack_ids.append(item.ack_id)
                totals["invalid_envelope"] = totals.get("invalid_envelope", 0) + 1
        batch = Batch(vendor, concurrency=env_settings.env_int("DRAIN_CONCURRENCY", 16))
        results = await batch.run([message for _, message in messages])
        requests_sent += batch.requests_sent
        acked = 0
        for (ack_id, _), result in zip(messages, results, strict=True):
            if isinstance(result, BaseException):
                jsonlog.error(
                    "delivery",
                    vendor=vendor.name,
                    outcome="retrying",
                    reason="runtime_error",
                    detail=f"{type(result).__name__}: {result}"[:300],
                )
                outcome, ack = "retrying", False
            else:
                outcome, ack = result.outcome.value, result.outcome.ack
            (ack_ids if ack else nack_ids).append(ack_id)
            acked += ack
            totals[outcome] = totals.get(outcome, 0) + 1
        await asyncio.to_thread(_answer, subscriber, subscription, ack_ids, nack_ids)
        if batch.throttled:
            stopped = "throttled"  # the rest waits for the next tick; Retry-After is respected
            break
        if messages and not acked:
            stopped = "vendor_failing"
            break
        if repeated:
            stopped = "redelivered"
            break
    summary = {
        "vendor": vendor.name,
        "subscription": subscription.rsplit("/", 1)[-1],
        "pulls": pulls,
        "messages": sum(totals.values()),
        "vendor_requests": requests_sent,
        "outcomes": totals,
        "stopped": stopped,
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
    }
    jsonlog.log("INFO", "drain", **summary)
    return summary


def _pull(subscriber: Any, subscription: str, max_messages: int, timeout: float) -> list[Any]:
    from google.api_core import exceptions as gexc

    try:
        response = subscriber.pull(
            request={"subscription": subscription, "max_messages": max_messages}, timeout=max(0.5, timeout)
        )
    except (gexc.DeadlineExceeded, gexc.ServiceUnavailable):
        # Nothing to pull within the wait (the emulator holds an empty pull open) or the
        # service hiccuped: either way this drain is done, the next tick tries again.
        return []
    # The raw protobuf messages, not their proto-plus wrappers: every field read through a
    # wrapper costs several times more, and a drain reads five fields of each message.
    return list(type(response).pb(response).received_messages)


def _answer(subscriber: Any, subscription: str, ack_ids: list[str], nack_ids: list[str]) -> None:
    # Pub/Sub takes up to 2,500 ack ids per call; a pull returns at most 1,000.
    if ack_ids:
        subscriber.acknowledge(request={"subscription": subscription, "ack_ids": ack_ids})
    if nack_ids:
        # Deadline 0 = nack: redelivered after the subscription's retry backoff.
        subscriber.modify_ack_deadline(
            request={"subscription": subscription, "ack_ids": nack_ids, "ack_deadline_seconds": 0}
        )
