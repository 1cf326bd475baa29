"""Publishing normalized events to Pub/Sub, awaited until the broker acknowledges them.

Cloud Run throttles CPU once a response is sent, so collect must not answer before every
publish is acknowledged. The cost of a publish is mostly per RPC, not per message, so one
:class:`EventPublisher` per process group-commits the events of all concurrent requests:
while ``max_in_flight`` Publish RPCs are outstanding, new events wait and then leave together
in one RPC. At low load each hit gets its own RPC at once (no batching delay); under load
the batches grow by themselves. It speaks gRPC on the request's own asyncio loop
(``grpc.aio``), so no publisher threads and no cross-thread wake-ups are paid per hit; the
benchmark (README, Benchmarks) measured this against google-cloud-pubsub's threaded
``PublisherClient``.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Sequence
from typing import Any

import grpc
from google.api_core import grpc_helpers_async
from google.pubsub_v1.types import pubsub as pubsub_types

from shared import settings
from shared.event import encode_event, message_attributes

_PubsubMessage = pubsub_types.PubsubMessage.pb()
_PublishRequest = pubsub_types.PublishRequest.pb()
_PublishResponse = pubsub_types.PublishResponse.pb()

_PUBLISH_METHOD = "/google.pubsub.v1.Publisher/Publish"
_SERVICE_HOST = "pubsub.googleapis.com"
_SCOPES = ("https://www.googleapis.com/auth/cloud-platform", "https://www.googleapis.com/auth/pubsub")
# The codes google-cloud-pubsub's own publisher retries on.
_RETRYABLE = frozenset(
    {
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.UNKNOWN,
    }
)
# Pub/Sub's limits per Publish request (1000 messages, 10 MB), with room for the envelope.
_MAX_BATCH_MESSAGES = 1000
_MAX_BATCH_BYTES = 9_000_000


class PublishError(Exception):
    """The broker did not acknowledge a publish in time: the hit must not be answered 2xx."""


class _Waiter:
    """One caller's messages and the future that receives their message IDs."""

    __slots__ = ("messages", "size", "future")

    def __init__(self, messages: list[Any], size: int, future: asyncio.Future[list[str]]) -> None:
        self.messages = messages
        self.size = size
        self.future = future


class EventPublisher:
    """Publishes events to one topic; ``publish_events`` returns once all are acknowledged."""

    def __init__(
        self,
        project: str | None = None,
        topic: str | None = None,
        timeout: float | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        self.project = project or settings.project_id()
        self.topic_id = topic or settings.env_str("EVENTS_TOPIC", "tagging-events")
        self.timeout = timeout if timeout is not None else settings.env_float("PUBLISH_TIMEOUT_SECONDS", 5.0)
        self.max_in_flight = max(1, max_in_flight or settings.env_int("PUBLISH_MAX_IN_FLIGHT", 2))
        self.topic_path = f"projects/{self.project}/topics/{self.topic_id}"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._channel: grpc.aio.Channel | None = None
        self._publish_rpc: Any = None
        self._queue: list[_Waiter] = []
        self._in_flight = 0
        self._generation = 0

    async def publish_events(self, events: Sequence[dict[str, Any]]) -> list[str]:
        """Publish every event; return their message IDs or raise :class:`PublishError`."""
        if not events:
            return []
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            try:
                self._connect(loop)
            except Exception as exc:  # noqa: BLE001 - e.g. no credentials: the broker is unreachable
                raise PublishError(f"cannot open a channel to Pub/Sub: {type(exc).__name__}: {exc}") from exc
        messages = [_PubsubMessage(data=encode_event(e), attributes=message_attributes(e)) for e in events]
        waiter = _Waiter(messages, sum(m.ByteSize() for m in messages), loop.create_future())
        self._queue.append(waiter)
        self._pump()
        try:
            return await asyncio.wait_for(waiter.future, timeout=self.timeout)
        except TimeoutError as exc:
            raise PublishError(f"no acknowledgement within {self.timeout}s") from exc

    def _connect(self, loop: asyncio.AbstractEventLoop) -> None:
        # A grpc.aio channel belongs to the loop it was made on; a new loop (tests) gets its own.
        options = [
            ("grpc.max_send_message_length", -1),
            ("grpc.max_receive_message_length", -1),
            ("grpc.keepalive_time_ms", 30000),
        ]
        emulator = os.environ.get("PUBSUB_EMULATOR_HOST")
        if emulator:
            self._channel = grpc.aio.insecure_channel(emulator, options=options)
        else:
            self._channel = grpc_helpers_async.create_channel(
                f"{_SERVICE_HOST}:443", default_scopes=_SCOPES, default_host=_SERVICE_HOST, options=options
            )
        self._publish_rpc = self._channel.unary_unary(
            _PUBLISH_METHOD,
            request_serializer=_PublishRequest.SerializeToString,
            response_deserializer=_PublishResponse.FromString,
        )
        self._loop = loop
        self._queue = []
        self._in_flight = 0
        self._generation += 1

    def _pump(self) -> None:
        """Start Publish RPCs for queued waiters while fewer than ``max_in_flight`` are out."""
        while self._queue and self._in_flight < self.max_in_flight:
            batch: list[_Waiter] = []
            count = size = 0
            while self._queue:
                waiter = self._queue[0]
                if waiter.future.done():  # its caller timed out or went away: publish nothing
                    self._queue.pop(0)
                    continue
                if batch and (
                    count + len(waiter.messages) > _MAX_BATCH_MESSAGES or size + waiter.size > _MAX_BATCH_BYTES
                ):
                    break
                batch.append(self._queue.pop(0))
                count += len(waiter.messages)
                size += waiter.size
            if not batch:
                break
            self._in_flight += 1
            asyncio.get_running_loop().create_task(self._send(batch, self._generation))

    async def _send(self, batch: list[_Waiter], generation: int) -> None:
        try:
            ids = await self._publish_with_retry([m for w in batch for m in w.messages])
        except Exception as exc:  # noqa: BLE001 - any failure means "not persisted" for every waiter
            error = exc if isinstance(exc, PublishError) else PublishError(f"{type(exc).__name__}: {exc}".strip())
            for waiter in batch:
                if not waiter.future.done():
                    waiter.future.set_exception(error)
        else:
            start = 0
            for waiter in batch:
                end = start + len(waiter.messages)
                if not waiter.future.done():
                    waiter.future.set_result(ids[start:end])
                start = end
        finally:
            if generation == self._generation:  # not a leftover of a previous loop's channel
                self._in_flight -= 1
                self._pump()

    async def _publish_with_retry(self, messages: list[Any]) -> list[str]:
        request = _PublishRequest(topic=self.topic_path, messages=messages)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        backoff = 0.05
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise PublishError(f"no acknowledgement within {self.timeout}s")
            try:
                response = await self._publish_rpc(request, timeout=remaining)
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in _RETRYABLE or deadline - loop.time() <= backoff:
                    raise PublishError(f"{exc.code().name}: {exc.details()}") from exc
                await asyncio.sleep(backoff * (0.5 + random.random()))
                backoff = min(backoff * 2, 1.0)
                continue
            ids = list(response.message_ids)
            if len(ids) != len(messages):
                raise PublishError(f"broker acknowledged {len(ids)} of {len(messages)} messages")
            return ids
