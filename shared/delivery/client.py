"""The vendor functions' HTTP client: one pooled async session per event loop, per process.

Vendor functions are ``aio`` functions (uvicorn, one event loop per instance), so every
delivery of an instance shares one session with keep-alive connections.

Two transports behind :func:`send`:

* **aiohttp** (default): HTTP/1.1 keep-alive. Measured on the bench machine it costs about
  0.33 ms of CPU per request against 1.3 ms for httpx (pure-Python h11/h2), and vendor CPU per
  event is what a vendor function costs (docs/cost.md).
* **httpx + h2** (``VENDOR_HTTP2=1``): HTTP/2 wherever the vendor's server offers it in TLS
  ALPN (graph.facebook.com, business-api.tiktok.com and www.google-analytics.com do; plain
  HTTP origins such as the local mock vendors get HTTP/1.1): one multiplexed connection per
  vendor instead of a pool, at about four times the CPU per request.

Synchronous callers (tests, tools) go through :func:`run_sync`, which runs the coroutine on
one background event loop, so they exercise the same I/O code and reuse connections too.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import gzip as gzip_module
import urllib.parse
import threading
import weakref
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
import orjson
import yarl

from shared import settings as env_settings
from shared.delivery.http import Response

T = TypeVar("T")

# Per event loop: a session's connections belong to the loop that opened them.
_sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()
_sync_loop: asyncio.AbstractEventLoop | None = None
_sync_lock = threading.Lock()

# Transport failures, by how the runtime names them in the log line's reason (``except``
# reads these when an exception is raised, so _httpx() can extend them once it is loaded).
TimeoutError_: tuple[type[BaseException], ...] = (asyncio.TimeoutError,)
ConnectError: tuple[type[BaseException], ...] = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError)
RequestError: tuple[type[BaseException], ...] = (aiohttp.ClientError,)
_httpx_module: Any = None


def _httpx() -> Any:
    """httpx, imported on first use only: it adds about 0.2 s to a cold start."""
    global _httpx_module, TimeoutError_, ConnectError, RequestError
    if _httpx_module is None:
        import httpx

        TimeoutError_ = (*TimeoutError_, httpx.TimeoutException)
        ConnectError = (*ConnectError, httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)
        RequestError = (*RequestError, httpx.HTTPError)
        _httpx_module = httpx
    return _httpx_module


def http2_enabled() -> bool:
    return env_settings.env_bool("VENDOR_HTTP2", False)


def _new_session() -> Any:
    """A pooled session sized for one instance's concurrent deliveries."""
    max_connections = env_settings.env_int("VENDOR_MAX_CONNECTIONS", 100)
    if http2_enabled():
        httpx = _httpx()
        limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=env_settings.env_int("VENDOR_MAX_KEEPALIVE", 20),
            keepalive_expiry=30.0,
        )
        # trust_env off: no proxy or netrc surprises, the destination is the vendor's.
        return httpx.AsyncClient(http2=True, limits=limits, follow_redirects=False, trust_env=False)
    connector = aiohttp.TCPConnector(limit=max_connections, keepalive_timeout=30.0, enable_cleanup_closed=True)
    return aiohttp.ClientSession(connector=connector, trust_env=False)


def session() -> Any:
    """This event loop's session, created on first use (and again if the transport changed)."""
    loop = asyncio.get_running_loop()
    found = _sessions.get(loop)
    wanted = _httpx().AsyncClient if http2_enabled() else aiohttp.ClientSession
    if found is None or not isinstance(found, wanted) or _closed(found):
        found = _sessions[loop] = _new_session()
    return found


def _is_httpx(client: Any) -> bool:
    return not isinstance(client, aiohttp.ClientSession)


def _closed(client: Any) -> bool:
    return bool(client.is_closed if _is_httpx(client) else client.closed)


def encode_json(body: Any) -> bytes:
    """The request body: compact UTF-8 JSON (orjson; the mapping already proved it is JSON)."""
    return orjson.dumps(body)


def encode_body(body: Any, encoding: str = "json", gzip: bool = False) -> tuple[bytes | None, dict[str, str]]:
    """The request body's bytes and the headers that describe them.

    ``encoding``: ``json`` (compact UTF-8) or ``form`` (``application/x-www-form-urlencoded``
    from a flat object: OAuth token endpoints). ``gzip``: compressed, with
    ``Content-Encoding: gzip``, for vendors that accept it.
    """
    if body is None:
        return None, {}
    if isinstance(body, str):
        # A text body (GA4's /g/collect lines) is sent as it is.
        content, extra = (body.encode("utf-8") if body else None), {}
        if gzip and content:
            content = gzip_module.compress(content, compresslevel=5)
            extra["Content-Encoding"] = "gzip"
        return content, extra
    if encoding == "form":
        content = urllib.parse.urlencode({str(k): "" if v is None else str(v) for k, v in body.items()}).encode()
        extra = {"Content-Type": "application/x-www-form-urlencoded"}
    elif encoding == "json":
        content, extra = encode_json(body), {}
    else:
        raise ValueError(f"unknown body encoding {encoding!r}")
    if gzip:
        content = gzip_module.compress(content, compresslevel=5)
        extra["Content-Encoding"] = "gzip"
    return content, extra


async def send(method: str, url: str, headers: dict[str, str], body: Any, timeout: tuple[float, float],
               encoding: str = "json", gzip: bool = False) -> Response:
    """One HTTP call; raises one of :data:`TimeoutError_`, :data:`ConnectError`,
    :data:`RequestError` on transport failures. Redirects are not followed: a vendor
    answering a POST with a redirect is a permanent problem to surface, not to chase."""
    content, extra = encode_body(body, encoding, gzip)
    if extra:
        present = {k.lower() for k in headers}
        headers = {**headers, **{k: v for k, v in extra.items() if k.lower() not in present}}
    connect, read = timeout
    client = session()
    if _is_httpx(client):
        response = await client.request(
            method, url, headers=headers, content=content, timeout=_httpx().Timeout(read, connect=connect, pool=connect)
        )
        return Response(response.status_code, response.text, {k.lower(): v for k, v in response.headers.items()})
    limits = aiohttp.ClientTimeout(total=connect + read, sock_connect=connect, sock_read=read)
    # encoded=True: the URL goes out byte for byte (yarl would otherwise re-quote the query,
    # and GA4's /g/collect parameters must reach Google exactly as built).
    async with client.request(
        method, yarl.URL(url, encoded=True), headers=headers, data=content, timeout=limits, allow_redirects=False
    ) as response:
        raw = await response.read()
        text = raw.decode(response.charset or "utf-8", errors="replace")
        return Response(response.status, text, {k.lower(): v for k, v in response.headers.items()})


async def close() -> None:
    """Close this event loop's session (its keep-alive connections)."""
    found = _sessions.pop(asyncio.get_running_loop(), None)
    if found is not None:
        await (found.aclose() if _is_httpx(found) else found.close())


def _close_sync_loop() -> None:
    if _sync_loop is not None and _sync_loop.is_running():
        with contextlib.suppress(Exception):  # noqa: BLE001 - exiting anyway
            asyncio.run_coroutine_threadsafe(close(), _sync_loop).result(timeout=2)


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
            atexit.register(_close_sync_loop)
        loop = _sync_loop
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result()  # type: ignore[arg-type]
