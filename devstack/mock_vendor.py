"""A real HTTP server standing in for a vendor API, for tests, benchmarks and fault injection.

It records every request it receives and answers according to a programmable behaviour:
a script of responses to play in order, then a default. Runs in a background thread of the
calling process (``MockVendor``) or as its own process (``python -m devstack.mock_vendor``).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    peer: str = ""  # the client's address:port, one per TCP connection

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # Clients that give up (timeouts in fault-injection runs) reset connections: not news.
        pass


class MockVendor:
    """``with MockVendor() as vendor: ... vendor.url ... vendor.received``."""

    def __init__(self, port: int = 0, default: Reply | None = None) -> None:
        self.default = default or Reply()
        self.script: list[Reply] = []
        self.responder: Callable[[Received], Reply | None] | None = None
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="mock-vendor", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> MockVendor:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def play(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies`` in order, then with the default."""
        with self._lock:
            self.script.extend(replies)

    def requests_json(self) -> list[Any]:
        with self._lock:
            return [r.json() for r in self.received]

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        """Wait until at least ``count`` requests arrived; return them all."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.02)
        with self._lock:
            return list(self.received)

    def _next_reply(self, request: Received) -> Reply:
        with self._lock:
            self.received.append(request)
            if self.responder is not None:
                reply = self.responder(request)
                if reply is not None:
                    return reply
            if self.script:
                return self.script.pop(0)
            return self.default

    def _handler_class(self):
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without TCP_NODELAY, Nagle plus
            # delayed ACKs add ~40 ms to every response on a reused connection.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Received(
                    self.command,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                    time.time(),
                    "{}:{}".format(*self.client_address[:2]),
                )
                reply = vendor._next_reply(request)
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json")
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_POST = do_GET = do_PUT = _serve

            def log_message(self, *args) -> None:  # quiet: tests read .received instead
                pass

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description="a mock vendor API that answers 200 and logs bodies")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args()
    vendor = MockVendor(args.port)
    vendor.responder = lambda r: print(json.dumps({"path": r.path, "body": r.json()}), flush=True)
    print(f"mock vendor on {vendor.url}", flush=True)
    with vendor:
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
