"""Collect: the GA4 client. Entry point ``collect`` (HTTP, served by uvicorn via functions-framework).

An async function: functions-framework serves ``@functions_framework.aio.http`` functions
with uvicorn, which costs about a third of the CPU per request of the threaded WSGI server.
This module only adapts Starlette's request/response; all logic lives in ``shared.collect_app``.
"""

from __future__ import annotations

import asyncio

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from shared import collect_secrets, jsonlog, settings
from shared.collect_app import MAX_BODY_BYTES, CollectConfig, Collector, HttpRequest
from shared.publishing import EventPublisher

# Read at import: a bad setting (e.g. COOKIE_MAX_AGE_DAYS=900) stops the function from
# starting, so the deploy fails visibly instead of every request answering 500.
_config = CollectConfig.from_env()
# Secrets: in the cloud (SECRETS_BACKEND=secretmanager) read from Secret Manager here, before
# the function serves, and refreshed in the background afterwards (shared/collect_secrets.py),
# so a rotation needs no redeploy and no request waits for Secret Manager.
_keys = collect_secrets.from_env(_config)
# A client that sends its body one byte a second holds a connection (and memory) open; a
# real beacon's body arrives in milliseconds. BODY_READ_SECONDS bounds the whole read.
_body_deadline = settings.env_float("BODY_READ_SECONDS", 5.0)
_collector: Collector | None = None


def _get_collector() -> Collector:
    # Created on first use so that importing this module (tests, cold start) opens no channel.
    global _collector
    if _collector is None:
        _collector = Collector(EventPublisher().publish_events, _config, _keys)
    return _collector


@functions_framework.aio.http
async def collect(request: Request) -> Response:
    """Accept GA4 hits (/g/collect, /mp/collect, /debug/mp/collect) and publish normalized events."""
    try:
        return await _collect(request)
    except Exception as exc:  # noqa: BLE001 - the last resort around the adapter itself
        jsonlog.error("collect internal error", exception=type(exc).__name__, path=request.url.path[:100])
        return Response(
            b'{"error":"internal_error","detail":"the request could not be processed"}',
            status_code=500,
            media_type="application/json",
            headers={"Cache-Control": "no-store"},
        )


async def _collect(request: Request) -> Response:
    collector = _get_collector()
    declared = request.headers.get("content-length", "")
    timed_out = False
    if declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        body, too_large = b"", True  # refuse before reading: a huge body must not cost memory
    else:
        try:
            async with asyncio.timeout(_body_deadline):
                body, too_large = await _read_body(request)
        except TimeoutError:
            body, too_large, timed_out = b"", False, True
    reply = await collector.handle(
        HttpRequest(
            method=request.method,
            path=request.url.path,
            query=request.url.query,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            remote_addr=request.client.host if request.client else "",
            body_too_large=too_large,
            body_timed_out=timed_out,
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
