"""Collect: the GA4 client. Entry point ``collect`` (HTTP, served by uvicorn via functions-framework).

An async function: functions-framework serves ``@functions_framework.aio.http`` functions
with uvicorn, which costs about a third of the CPU per request of the threaded WSGI server.
This module only adapts Starlette's request/response; all logic lives in ``shared.collect_app``.
"""

from __future__ import annotations

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from shared.collect_app import MAX_BODY_BYTES, CollectConfig, Collector, HttpRequest
from shared.publishing import EventPublisher

# Read at import: a bad setting (e.g. COOKIE_MAX_AGE_DAYS=900) stops the function from
# starting, so the deploy fails visibly instead of every request answering 500.
_config = CollectConfig.from_env()
_collector: Collector | None = None


def _get_collector() -> Collector:
    # Created on first use so that importing this module (tests, cold start) opens no channel.
    global _collector
    if _collector is None:
        _collector = Collector(EventPublisher().publish_events, _config)
    return _collector


@functions_framework.aio.http
async def collect(request: Request) -> Response:
    """Accept GA4 hits (/g/collect, /mp/collect, /debug/mp/collect) and publish normalized events."""
    collector = _get_collector()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        body, too_large = b"", True  # refuse before reading: a huge body must not cost memory
    else:
        body, too_large = await _read_body(request)
    reply = await collector.handle(
        HttpRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            remote_addr=request.client.host if request.client else "",
            body_too_large=too_large,
        )
    )
    response = Response(reply.body, status_code=reply.status, headers=reply.headers)
    for cookie in reply.cookies:
        response.headers.append("set-cookie", cookie)
    return response


async def _read_body(request: Request) -> tuple[bytes, bool]:
    """The body, or ``(b"", True)`` as soon as it grows past the limit."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"", True
        chunks.append(chunk)
    return b"".join(chunks), False
