"""The local stack's push delivery with backoff: Pub/Sub push, played by a relay.

The Pub/Sub emulator cannot be trusted with a retry policy (cloud-pubsub-emulator 0.8.20
stops redelivering a subscription for good once two failed pushes are due together; see
docs/reliability.md), and without one it redelivers a failed push about a second later,
so a long vendor outage would burn every delivery attempt in under two minutes. Holding a
failed push's answer to space the retries does not work either: the emulator has at most
two pushes in flight and keeps redelivering the same few messages, so the others wait for
them to be dead-lettered first (measured in docs/reliability.md).

So locally each vendor subscription is a *pull* subscription with the cloud's dead-letter
policy and no retry policy, and this relay does what Pub/Sub push does in the cloud: it
pulls, POSTs each message to the vendor function in Pub/Sub's push format (with
``deliveryAttempt``), acks on a push success code, and otherwise sets the message's ack
deadline to the configured backoff, so the emulator redelivers it exactly that much later.
The emulator counts the delivery attempts and dead-letters a message after
``max_delivery_attempts`` as Pub/Sub does. The vendor functions are the cloud's, unchanged.

    python -m devstack.relay --project tagging-local --route webhook-push=http://127.0.0.1:8081/ \
        --max-delivery-attempts 100 --minimum-backoff 5 --maximum-backoff 10

(expects ``PUBSUB_EMULATOR_HOST``). Local only: nothing in the cloud runs it.
"""

from __future__ import annotations

import argparse
import base64
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from devstack.config import RetryPolicy
from shared.jsonlog import log

# The answers Pub/Sub push takes as an acknowledgement
# (https://cloud.google.com/pubsub/docs/push#receive_push); anything else is a failure.
PUSH_SUCCESS = frozenset({102, 200, 201, 202, 204})
# How long the relay may take to push one message before the emulator redelivers it anyway;
# the vendor runtime gives up on a vendor after 10 s.
ACK_DEADLINE_SECONDS = 60
PUSH_TIMEOUT_SECONDS = ACK_DEADLINE_SECONDS - 10
# Messages pushed at once per subscription (the cloud pushes many more; enough locally).
CONCURRENCY = 16


def backoff_seconds(policy: RetryPolicy, attempt: int) -> int:
    """The wait after failed delivery ``attempt`` (1-based): Pub/Sub's exponential backoff,
    starting at the minimum and doubling up to the maximum."""
    return min(policy.maximum_backoff_seconds, policy.minimum_backoff_seconds * 2 ** min(max(attempt - 1, 0), 20))


def retry_window_seconds(policy: RetryPolicy) -> int:
    """How long a message is retried before it is dead-lettered, from its first failed attempt
    to its last, counting the backoff only (each attempt also takes the vendor's answer time
    and about 0.1-1 s of the emulator's). A vendor outage shorter than this delivers everything."""
    return sum(backoff_seconds(policy, n) for n in range(1, policy.max_delivery_attempts))


def push_envelope(received: Any, subscription_path: str) -> dict[str, Any]:
    """A pulled message in the JSON body Pub/Sub push POSTs
    (https://cloud.google.com/pubsub/docs/push#receive_push)."""
    message = received.message
    publish_time = message.publish_time
    published = publish_time.isoformat().replace("+00:00", "Z") if publish_time else ""
    body: dict[str, Any] = {
        "message": {
            "data": base64.b64encode(message.data).decode("ascii"),
            "attributes": dict(message.attributes),
            "messageId": message.message_id,
            "message_id": message.message_id,
            "publishTime": published,
            "publish_time": published,
        },
        "subscription": subscription_path,
    }
    if received.delivery_attempt:
        body["deliveryAttempt"] = received.delivery_attempt
    return body


class SubscriptionRelay:
    """Pulls one subscription and pushes its messages to one endpoint, until :meth:`stop`."""

    def __init__(
        self,
        subscriber: pubsub_v1.SubscriberClient,
        subscription_path: str,
        endpoint: str,
        policy: RetryPolicy,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.subscriber = subscriber
        self.subscription_path = subscription_path
        self.endpoint = endpoint
        self.policy = policy
        self._slots = threading.Semaphore(concurrency)
        self._concurrency = concurrency
        self._pool = ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix=subscription_path.rsplit("/", 1)[-1]
        )
        self._local = threading.local()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"relay {subscription_path}", daemon=True)

    def start(self) -> SubscriptionRelay:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    # -- pulling ---------------------------------------------------------------------------

    def _run(self) -> None:
        unavailable_since: float | None = None
        while not self._stopping.is_set():
            free = self._take_slots()
            if not free:
                continue
            try:
                response = self.subscriber.pull(
                    request={"subscription": self.subscription_path, "max_messages": free}, timeout=5
                )
                received = list(response.received_messages)
                unavailable_since = None
            except (gexc.DeadlineExceeded, gexc.RetryError):
                received = []
            except gexc.GoogleAPICallError as exc:
                # The emulator restarting or frozen: keep trying, say so once.
                if unavailable_since is None:
                    unavailable_since = time.monotonic()
                    log(
                        "WARNING",
                        "relay_pull_failed",
                        subscription=self.subscription_path,
                        error=f"{type(exc).__name__}: {exc}"[:300],
                    )
                received = []
                self._stopping.wait(1)
            for _ in range(free - len(received)):
                self._slots.release()
            for item in received:
                self._pool.submit(self._deliver, item)

    def _take_slots(self) -> int:
        """Wait for at least one free push slot; return how many are free (now reserved)."""
        if not self._slots.acquire(timeout=0.5):
            return 0
        taken = 1
        while taken < self._concurrency and self._slots.acquire(blocking=False):
            taken += 1
        return taken

    # -- pushing ---------------------------------------------------------------------------

    def _deliver(self, item: Any) -> None:
        try:
            status = self._push(item)
            if status in PUSH_SUCCESS:
                self.subscriber.acknowledge(request={"subscription": self.subscription_path, "ack_ids": [item.ack_id]})
                return
            attempt = item.delivery_attempt or 1
            # After the last attempt, release it at once so the emulator dead-letters it now.
            delay = 0 if attempt >= self.policy.max_delivery_attempts else backoff_seconds(self.policy, attempt)
            self.subscriber.modify_ack_deadline(
                request={
                    "subscription": self.subscription_path,
                    "ack_ids": [item.ack_id],
                    "ack_deadline_seconds": delay,
                }
            )
            log(
                "INFO",
                "relay_retry" if delay or attempt < self.policy.max_delivery_attempts else "relay_dead_letter",
                subscription=self.subscription_path,
                message_id=item.message.message_id,
                attempt=attempt,
                status=status,
                retry_in_seconds=delay,
            )
        except Exception as exc:  # noqa: BLE001 - the message comes back after its ack deadline
            log(
                "ERROR",
                "relay_error",
                subscription=self.subscription_path,
                message_id=item.message.message_id,
                error=f"{type(exc).__name__}: {exc}"[:300],
            )
        finally:
            self._slots.release()

    def _push(self, item: Any) -> int:
        """POST the message to the endpoint; its HTTP status, or 0 if it gave no answer."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        try:
            response = session.post(
                self.endpoint, json=push_envelope(item, self.subscription_path), timeout=PUSH_TIMEOUT_SECONDS
            )
        except requests.RequestException:
            return 0  # connection refused (function down), timeout: a failed push, as in Pub/Sub
        return response.status_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.relay", description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", required=True)
    parser.add_argument(
        "--route",
        action="append",
        default=[],
        metavar="SUBSCRIPTION=URL",
        help="pull SUBSCRIPTION and push its messages to URL (repeatable)",
    )
    parser.add_argument("--max-delivery-attempts", type=int, required=True)
    parser.add_argument("--minimum-backoff", type=int, required=True)
    parser.add_argument("--maximum-backoff", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    args = parser.parse_args(argv)
    policy = RetryPolicy(args.max_delivery_attempts, args.minimum_backoff, args.maximum_backoff)
    subscriber = pubsub_v1.SubscriberClient()
    relays = []
    for route in args.route:
        subscription, _, endpoint = route.partition("=")
        path = subscriber.subscription_path(args.project, subscription)
        relays.append(SubscriptionRelay(subscriber, path, endpoint, policy, args.concurrency).start())
    log(
        "INFO",
        "relay_started",
        routes=args.route,
        retry_window_seconds=retry_window_seconds(policy),
        max_delivery_attempts=policy.max_delivery_attempts,
        backoff_seconds=[policy.minimum_backoff_seconds, policy.maximum_backoff_seconds],
    )
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    stopping.wait()
    # Nothing to drain: a message being pushed is not acked, so the emulator redelivers it.
    log("INFO", "relay_stopped")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
