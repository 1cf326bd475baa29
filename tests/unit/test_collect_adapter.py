"""functions/collect/main.py: the Starlette adapter around Collector (real Starlette requests)."""

from __future__ import annotations

import asyncio

import pytest
from starlette.requests import Request

from functions.collect import main
from shared.collect_app import MAX_BODY_BYTES, CollectConfig, Collector

Q = b"v=2&tid=G-TEST&cid=1.2&en=page_view"
ORIGIN = "https://shop.example.com"


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict] = []

    async def __call__(self, events):
        self.events.extend(events)
        return ["1"] * len(events)


@pytest.fixture
def recorder(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(main, "_collector", Collector(recorder, CollectConfig(allowed_origins=(ORIGIN,))))
    return recorder


def call(
    method: str, path: str, query: bytes = b"", body: bytes = b"", headers: dict[str, str] | None = None, chunk: int = 0
):
    """Run main.collect on a real Starlette request; ``chunk`` streams the body in pieces."""
    headers = {"origin": ORIGIN, **(headers or {})}
    pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)] if chunk else [body]
    messages = [
        {"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1} for i, piece in enumerate(pieces)
    ]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query,
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("192.0.2.9", 5555),
        "server": ("127.0.0.1", 8080),
        "scheme": "http",
        "http_version": "1.1",
    }
    return asyncio.run(main.collect(Request(scope, receive)))


def test_a_hit_is_published_with_the_peer_address_and_the_fpid_cookie(recorder):
    response = call("POST", "/g/collect", Q)
    assert response.status_code == 204
    assert recorder.events[0]["ip_override"] == "192.0.2.9"
    [cookie] = response.headers.getlist("set-cookie")
    assert cookie.startswith("FPID=FPID2.2.1.2;") and "HttpOnly" in cookie
    assert response.headers["access-control-allow-origin"] == ORIGIN


def test_declared_oversize_is_refused_before_reading_with_cors(recorder):
    response = call("POST", "/g/collect", Q, b"", {"content-length": str(MAX_BODY_BYTES + 1)})
    assert response.status_code == 413 and b"body_too_large" in response.body
    assert response.headers["access-control-allow-origin"] == ORIGIN and recorder.events == []


def test_streamed_oversize_is_refused_with_cors(recorder):
    response = call("POST", "/g/collect", Q, b"en=x\n" * (MAX_BODY_BYTES // 5 + 10), chunk=4096)
    assert response.status_code == 413 and response.headers["access-control-allow-origin"] == ORIGIN
    assert recorder.events == []


def test_a_batch_body_is_read_in_chunks(recorder):
    response = call("POST", "/g/collect", Q, b"en=a\r\nen=b\r\nen=c", chunk=3)
    assert response.status_code == 204 and [e["event_name"] for e in recorder.events] == ["a", "b", "c"]
