"""Batch mode, the sending half: many pulled messages, few vendor requests.

A drain (:mod:`shared.delivery.drain`) runs the ordinary per-message delivery
(:meth:`Vendor.adeliver`: gates, mapping, outcome, log line) for every message it pulled, all
at once. For a vendor that declares a :class:`BatchApi`, each delivery's request is handed
to the :class:`Batch` instead of being sent; once every delivery has either finished (a gate
decided it) or handed over its request, the batch groups the requests that can share one
vendor call (same URL, headers and top-level fields), merges up to ``max_events`` of them
(and, when the vendor caps the body, up to ``max_bytes``) with the vendor's pure ``combine``
hook, sends, and gives each message its own outcome:

* accepted: each message delivered;
* retryable (429, 5xx, timeout): each message retried, counted against its own
  ``deliveryAttempt``. So that one event the vendor keeps failing on cannot drag its
  neighbours into the dead-letter topic, retried messages are batched apart from first
  attempts, and a message on its last attempt travels alone: dead-lettering is per message;
* rejected while carrying several events: one bad event spoils the whole request at Meta
  and TikTok, so the batch is split in halves and resent until each rejected event stands
  alone and the good ones are delivered (credential failures are not split: they would fail
  the same way).

Vendors without a batch API send one request per event, concurrently.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import orjson

from shared.delivery.outcome import Outcome

if TYPE_CHECKING:
    from shared.delivery.vendor import Attempt, Vendor, VendorRequest

_BATCH: contextvars.ContextVar[Batch | None] = contextvars.ContextVar("delivery_batch", default=None)
_SENT: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar("delivery_batch_sent", default=None)
_MESSAGE: contextvars.ContextVar[Any] = contextvars.ContextVar("delivery_batch_message", default=None)


@dataclass(frozen=True)
class BatchApi:
    """A vendor's batch endpoint: which single requests can travel together, and how.

    ``key(request)`` groups requests that may be merged; ``combine(requests)`` is a pure
    function merging up to ``max_events`` of them into one request; ``events(request)``
    counts the events one request carries. ``split(response, count)``, for vendors that
    answer per event (Mixpanel's ``failed_records``, Amplitude's invalid-field indexes;
    ``shared/delivery/rows.py`` parses them), gives one outcome per event of the combined
    request, or ``None`` when the answer is about the whole request. ``max_bytes``, for
    vendors that cap the body (Segment 500 KB, Amplitude 1 MB), bounds a combined request's
    uncompressed JSON: each request counts as the body ``combine([request])`` would send, so
    the sum errs on the safe side (the shared fields are counted once per request).
    """

    max_events: int
    key: Callable[[VendorRequest], Hashable]
    combine: Callable[[list[VendorRequest]], VendorRequest]
    events: Callable[[VendorRequest], int]
    split: Callable[[Any, int], list[Attempt] | None] | None = None
    max_bytes: int | None = None

    def size(self, request: VendorRequest) -> int:
        """Bytes ``request`` adds to a combined body (its own body in the batch shape)."""
        body = self.combine([request]).json
        return len(body.encode()) if isinstance(body, str) else len(orjson.dumps(body, default=str))


def list_batch(
    list_field: str = "data",
    max_events: int = 1000,
    split: Callable[[Any, int], list[Attempt] | None] | None = None,
    max_bytes: int | None = None,
) -> BatchApi:
    """The common shape (Meta, TikTok, Snapchat, Pinterest, Mixpanel ...): the body is an object
    whose ``list_field`` is the list of events and whose other fields apply to all of them."""
    from shared.delivery.vendor import VendorRequest

    def key(request: VendorRequest) -> Hashable:
        body = request.json if isinstance(request.json, dict) else {}
        shared_fields = {k: v for k, v in body.items() if k != list_field}
        return (
            request.method,
            request.url,
            tuple(sorted(request.headers.items())),
            json.dumps(shared_fields, sort_keys=True, default=str),
        )

    def combine(requests: list[VendorRequest]) -> VendorRequest:
        first = requests[0]
        merged = [event for request in requests for event in request.json[list_field]]
        return VendorRequest(first.method, first.url, dict(first.headers), {**first.json, list_field: merged})

    def events(request: VendorRequest) -> int:
        body = request.json if isinstance(request.json, dict) else {}
        value = body.get(list_field)
        return len(value) if isinstance(value, list) else 1

    return BatchApi(max_events=max_events, key=key, combine=combine, events=events, split=split, max_bytes=max_bytes)


def array_batch(
    max_events: int,
    split: Callable[[Any, int], list[Attempt] | None] | None = None,
    max_bytes: int | None = None,
) -> BatchApi:
    """A body that is a JSON array of events (Mixpanel ``/import``): requests to the same URL
    with the same headers are concatenated."""
    from shared.delivery.vendor import VendorRequest

    def key(request: VendorRequest) -> Hashable:
        return (request.method, request.url, tuple(sorted(request.headers.items())))

    def combine(requests: list[VendorRequest]) -> VendorRequest:
        first = requests[0]
        return VendorRequest(first.method, first.url, dict(first.headers), [e for r in requests for e in r.json])

    def events(request: VendorRequest) -> int:
        return len(request.json) if isinstance(request.json, list) else 1

    return BatchApi(max_events=max_events, key=key, combine=combine, events=events, split=split, max_bytes=max_bytes)


def current_batch() -> Batch | None:
    """The batch the running delivery belongs to (``None`` outside a drain)."""
    return _BATCH.get()


@dataclass
class _Pending:
    request: VendorRequest
    values: Mapping[str, str]
    future: asyncio.Future[Attempt]
    attempt: int = 1  # this message's delivery attempt
    last: bool = False  # its last one: a failure dead-letters it


class Batch:
    """One pulled set of messages of one vendor, delivered together."""

    def __init__(self, vendor: Vendor, concurrency: int = 16) -> None:
        self.vendor = vendor
        self.requests_sent = 0
        self.throttled = False  # the vendor said slow down (429 / Retry-After): stop pulling
        self.settings_cache: dict[str, dict[str, str]] = {}  # Vendor.settings(), once per batch
        self._pending: list[_Pending] = []
        self._expected = 0
        self._arrived = 0
        self._limit = asyncio.Semaphore(concurrency)
        self._flush: asyncio.Task[None] | None = None

    async def run(self, messages: list[Any]) -> list[Attempt | BaseException]:
        """Deliver every message; one outcome (or the exception) per message, in order."""
        from shared.delivery.vendor import Attempt

        self._expected = len(messages)
        self._arrived = 0
        token = _BATCH.set(self)
        try:
            tasks = [asyncio.create_task(self._one(message)) for message in messages]
        finally:
            _BATCH.reset(token)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        if self._flush is not None:
            await self._flush
        if any(isinstance(r, Attempt) and r.reason == "rate_limited" for r in results):
            # The instance is pausing this vendor (shared/delivery/ratelimit.py): pulling more
            # now would only nack it.
            self.throttled = True
        return [
            r if isinstance(r, (Attempt, BaseException)) else Attempt(Outcome.RETRYING, reason="no_outcome")
            for r in results
        ]

    async def _one(self, message: Any) -> Attempt:
        sent = [False]
        _SENT.set(sent)  # this task's own context: marks whether it handed a request over
        _MESSAGE.set(message)
        try:
            return await self.vendor.adeliver(message)
        finally:
            if not sent[0]:
                self._arrive()

    async def submit(self, vendor: Vendor, request: VendorRequest, values: Mapping[str, str]) -> Attempt:
        """Called by the delivery instead of sending: wait for the batch's answer."""
        future: asyncio.Future[Attempt] = asyncio.get_running_loop().create_future()
        message = _MESSAGE.get()
        attempt = vendor.upcoming_attempt(message) if message is not None else 1
        self._pending.append(_Pending(request, values, future, attempt, attempt >= vendor.max_delivery_attempts()))
        sent = _SENT.get()
        if sent is not None:
            sent[0] = True
        self._arrive()
        return await future

    def _arrive(self) -> None:
        self._arrived += 1
        if self._arrived == self._expected and self._pending and self._flush is None:
            self._flush = asyncio.create_task(self._send_all())

    async def _send_all(self) -> None:
        _BATCH.set(None)  # this task's context only: its sends go to the vendor for real
        api = self.vendor.batch_api
        assert api is not None
        groups: dict[Hashable, list[_Pending]] = {}
        chunks: list[list[_Pending]] = []
        for pending in self._pending:
            if pending.last:
                chunks.append([pending])  # judged on its own: only its own failure dead-letters it
            else:
                groups.setdefault((pending.attempt > 1, api.key(pending.request)), []).append(pending)
        for group in groups.values():
            chunk: list[_Pending] = []
            size = nbytes = 0
            for pending in group:
                count = api.events(pending.request)
                weight = api.size(pending.request) if api.max_bytes is not None else 0
                if chunk and (
                    size + count > api.max_events or (api.max_bytes is not None and nbytes + weight > api.max_bytes)
                ):
                    chunks.append(chunk)
                    chunk, size, nbytes = [], 0, 0
                chunk.append(pending)
                size += count
                nbytes += weight
            if chunk:
                chunks.append(chunk)
        try:
            await asyncio.gather(*(self._send_chunk(chunk) for chunk in chunks))
        finally:
            for pending in self._pending:  # a bug above must not leave a delivery waiting
                if not pending.future.done():
                    from shared.delivery.vendor import Attempt

                    pending.future.set_result(Attempt(Outcome.RETRYING, reason="batch_error"))

    async def _send_chunk(self, chunk: list[_Pending]) -> None:
        api = self.vendor.batch_api
        assert api is not None
        request = chunk[0].request if len(chunk) == 1 else api.combine([p.request for p in chunk])
        async with self._limit:
            attempt = await self.vendor._send(request, chunk[0].values)
        self.requests_sent += 1
        if attempt.outcome is Outcome.RETRYING and (attempt.status == 429 or "retry_after=" in attempt.detail):
            self.throttled = True
        if api.split is not None and attempt.response is not None and len(chunk) > 1 and self._split(chunk, attempt):
            return
        if attempt.outcome is Outcome.REJECTED and len(chunk) > 1 and not attempt.alert:
            middle = len(chunk) // 2
            await asyncio.gather(self._send_chunk(chunk[:middle]), self._send_chunk(chunk[middle:]))
            return
        size = sum(api.events(p.request) for p in chunk)
        for pending in chunk:
            if not pending.future.done():
                pending.future.set_result(replace(attempt, batch_size=size))

    def _split(self, chunk: list[_Pending], attempt: Attempt) -> bool:
        """Per-event outcomes from the vendor's answer, when it gives them; ``False`` if not."""
        api = self.vendor.batch_api
        assert api is not None and api.split is not None
        counts = [api.events(p.request) for p in chunk]
        rows = api.split(attempt.response, sum(counts))
        if not rows or len(rows) != sum(counts):
            return False
        offset = 0
        for pending, count in zip(chunk, counts, strict=True):
            mine = rows[offset : offset + count]
            offset += count
            # A message carrying several events takes the outcome of its worst one.
            worst = (
                next((r for r in mine if r.outcome is Outcome.REJECTED), None)
                or next((r for r in mine if not r.outcome.ack), None)
                or mine[0]
            )
            if not pending.future.done():
                pending.future.set_result(replace(worst, batch_size=sum(counts), response=attempt.response))
        return True
