"""The vendor functions' HTTP client: one pooled async client per event loop, per process.

Vendor functions are ``aio`` functions (uvicorn, one event loop per instance), so every
delivery of an instance shares one :class:`httpx.AsyncClient`: keep-alive connections, and
HTTP/2 (``h2``) wherever the vendor's server offers it in TLS ALPN (graph.facebook.com,
business-api.tiktok.com and www.google-analytics.com do); plain-HTTP origins such as the
local mock vendors speak HTTP/1.1. ``VENDOR_HTTP2=0`` turns HTTP/2 off.

Synchronous callers (tests, tools, the golden runner) go through :func:`run_sync`, which
runs the coroutine on one background event loop, so they exercise the same I/O code and
still reuse connections between calls.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any, Awaitable, TypeVar

import httpx
import orjson

from shared import settings as env_settings
from shared.delivery.http import Response

T = TypeVar("T")

# Per event loop: an AsyncClient's connections belong to the loop that opened them.
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = weakref.WeakKeyDictionary()
_sync_loop: asyncio.AbstractEventLoop | None = None
_sync_lock = threading.Lock()

# Transport failures, by how the runtime names them in the log line's reason.
TimeoutError_ = httpx.TimeoutException
ConnectError = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
RequestError = httpx.HTTPError


def new_client() -> httpx.AsyncClient:
    """A client with a keep-alive pool sized for one instance's concurrent deliveries."""
    limits = httpx.Limits(
        max_connections=env_settings.env_int("VENDOR_MAX_CONNECTIONS", 100),
        max_keepalive_connections=env_settings.env_int("VENDOR_MAX_KEEPALIVE", 20),
        keepalive_expiry=30.0,
    )
    return httpx.AsyncClient(
        http2=env_settings.env_bool("VENDOR_HTTP2", True),
        limits=limits,
        follow_redirects=False,  # a redirected POST is a permanent problem to surface
        trust_env=False,  # no proxy or netrc surprises: the destination is the vendor's
    )


def client() -> httpx.AsyncClient:
    """This event loop's client, created on first use."""
    loop = asyncio.get_running_loop()
    found = _clients.get(loop)
    if found is None or found.is_closed:
        found = _clients[loop] = new_client()
    return found


def encode_json(body: Any) -> bytes:
    """The request body: compact UTF-8 JSON (orjson; the mapping already proved it is JSON)."""
    return orjson.dumps(body)


async def send(method: str, url: str, headers: dict[str, str], body: Any, timeout: tuple[float, float]) -> Response:
    """One HTTP call; raises :class:`httpx.HTTPError` subclasses on transport failures."""
    content = encode_json(body) if body is not None else None
    connect, read = timeout
    response = await client().request(
        method, url, headers=headers, content=content,
        timeout=httpx.Timeout(read, connect=connect, pool=connect),
    )
    return Response(response.status_code, response.text, {k.lower(): v for k, v in response.headers.items()})


def run_sync(coroutine: Awaitable[T]) -> T:
    """Run ``coroutine`` on the background loop and wait for its result (sync callers only)."""
    global _sync_loop
    with _sync_lock:
        if _sync_loop is None or not _sync_loop.is_running():
            _sync_loop = asyncio.new_event_loop()
            started = threading.Event()

            def serve(loop: asyncio.AbstractEventLoop) -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(started.set)
                loop.run_forever()

            threading.Thread(target=serve, args=(_sync_loop,), name="delivery-sync-loop", daemon=True).start()
            started.wait()
        loop = _sync_loop
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result()  # type: ignore[arg-type]
