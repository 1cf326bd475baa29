"""Collect: the GA4 client. Entry point ``collect`` (HTTP, served by uvicorn via functions-framework).

An async function: functions-framework serves ``@functions_framework.aio.http`` functions
with uvicorn, which costs about a third of the CPU per request of the threaded WSGI server
(see README, Benchmarks). All logic lives in ``shared.collect_app``.
"""

from __future__ import annotations

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from shared import jsonlog
from shared.collect_app import MAX_BODY_BYTES, Collector, HttpRequest, _error
from shared.publishing import EventPublisher

_collector: Collector | None = None


def _get_collector() -> Collector:
    # Created on first use so that importing this module (tests, cold start) opens no channel.
    global _collector
    if _collector is None:
        _collector = Collector(EventPublisher().publish_events)
    return _collector


@functions_framework.aio.http
async def collect(request: Request) -> Response:
    """Accept GA4 hits on /g/collect and publish one normalized event per GA4 event."""
    collector = _get_collector()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        # Refuse before reading: a huge body must not cost memory.
        reply = _error(413, "body_too_large", f"body is {declared} bytes; the limit is {MAX_BODY_BYTES}", {})
    else:
        try:
            body = await _read_body(request)
        except ValueError as exc:
            reply = _error(413, "body_too_large", str(exc), {})
        else:
            reply = await collector.handle(
                HttpRequest(
                    method=request.method,
                    path=request.url.path,
                    query=request.url.query,
                    headers={k.lower(): v for k, v in request.headers.items()},
                    body=body,
                )
            )
    return Response(reply.body, status_code=reply.status, headers=reply.headers)


async def _read_body(request: Request) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            jsonlog.warning("body too large", limit=MAX_BODY_BYTES)
            raise ValueError(f"body exceeds the limit of {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
