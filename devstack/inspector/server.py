"""The inspector's HTTP server: the page, a JSON snapshot and a Server-Sent Events stream.

Standard library only (``ThreadingHTTPServer``); binds 127.0.0.1, because the page shows
raw hits and vendor requests that are meant for the developer's eyes only. Binding to
loopback is not enough against a web page in the same browser: every request must name a
loopback host (no DNS rebinding, shared/local_guard.py) and the page and its API need the
per-run token that ``make run`` prints in the inspector's URL.
"""

from __future__ import annotations

import hmac
import json
import mimetypes
import os
import queue
import re
import secrets as token_source
import threading
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devstack.inspector.correlate import OUTCOMES, Change, Timeline
from devstack.inspector.sources import DeadLetterWatcher, LogFollower
from shared import local_guard

SECRET_VARIABLE = re.compile(r"(TOKEN|SECRETS?|PASSWORD|API_KEY)$")
STATIC_DIR = Path(__file__).parent / "static"
KEEPALIVE_SECONDS = 15
_CLOSE = object()


class Inspector:
    """Follows the stack's logs (and optionally the dead-letter topic) and serves the page.

    ``log_paths`` maps a source name (``collect``, ``vendor-webhook``, ...) to its log file;
    ``vendors`` are the vendor names every event is expected to reach.
    """

    def __init__(
        self,
        log_paths: Mapping[str, Path],
        vendors: Iterable[str],
        port: int = 0,
        project: str | None = None,
        secrets: Iterable[str] = (),
        from_start: bool = False,
        collect_url: str | None = None,
    ) -> None:
        self.collect_url = collect_url
        # Per run: printed in page_url, required by the page and its API.
        self.token = token_source.token_urlsafe(24)
        self.vendors = tuple(vendors)
        self.timeline = Timeline(secrets=tuple(s for s in secrets if s))
        self._lock = threading.Lock()
        self._clients: list[queue.Queue] = []
        self._follower = LogFollower(log_paths, self._on_record, from_start=from_start)
        self._watcher = DeadLetterWatcher(project, self._on_dead_letter) if project else None
        self._server = _Server(("127.0.0.1", port), _handler_class(self))
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="inspector-http", daemon=True)

    @classmethod
    def for_stack(cls, stack, port: int = 0) -> Inspector:
        """An inspector wired to a started ``LocalStack``: its logs, vendors and emulator."""
        names = ["collect"] + [f"vendor-{v.name}" for v in stack.vendor_configs]
        return cls(
            {name: stack.log_path(name) for name in names},
            [v.name for v in stack.vendor_configs],
            port=port,
            project=stack.project,
            secrets=secret_values(stack),
            collect_url=stack.collect_url,
        )

    @property
    def url(self) -> str:
        """The server's base URL (API paths are relative to it; they need the token)."""
        return f"http://127.0.0.1:{self.port}/"

    @property
    def page_url(self) -> str:
        """The URL to open: the page with this run's token."""
        return f"{self.url}?token={self.token}"

    def token_ok(self, offered: str) -> bool:
        return hmac.compare_digest(offered.encode("utf-8", "surrogatepass"), self.token.encode("ascii"))

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Inspector:
        try:
            if self._watcher is not None:
                self._watcher.start()
            self._follower.start()
            self._thread.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop reading, close every open stream, free the port. Safe to call more than once."""
        self._follower.stop()
        if self._watcher is not None:
            self._watcher.stop()
        with self._lock:
            for client in self._clients:
                client.put(_CLOSE)
        if self._thread.is_alive():  # shutdown() would wait forever for a loop never started
            self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Inspector:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- state -----------------------------------------------------------------------------

    def _on_record(self, source: str, record: dict[str, Any]) -> None:
        with self._lock:
            self._publish(self.timeline.ingest(record))

    def _on_dead_letter(self, data, attributes, message_id, published) -> None:
        with self._lock:
            self._publish(self.timeline.add_dead_letter(data, attributes, message_id, published))

    def _publish(self, changes: list[Change]) -> None:
        """Serialize under the lock (hits mutate), then fan out to every open stream."""
        if not changes:
            return
        frames = [_sse(kind, payload if kind == "hit" else {"id": payload}) for kind, payload in changes]
        for client in self._clients:
            for frame in frames:
                client.put(frame)

    def config(self) -> dict[str, Any]:
        return {"vendors": list(self.vendors), "outcomes": list(OUTCOMES), "collect_url": self.collect_url}

    def snapshot(self) -> bytes:
        with self._lock:
            return json.dumps({**self.config(), "hits": list(self.timeline.hits.values())}, default=str).encode()

    def subscribe(self) -> tuple[queue.Queue, bytes]:
        """A new stream's queue and its first frame (the state), taken atomically."""
        client: queue.Queue = queue.Queue()
        with self._lock:
            first = _sse("snapshot", {**self.config(), "hits": list(self.timeline.hits.values())})
            self._clients.append(client)
        return client, first

    def unsubscribe(self, client: queue.Queue) -> None:
        with self._lock:
            if client in self._clients:
                self._clients.remove(client)


def secret_values(stack) -> list[str]:
    """Values the page must never show: every secret-looking variable the stack's processes
    get (debug token, access tokens, API secrets), wherever it may surface in a line."""
    environments = [dict(os.environ), stack.collect_env, *stack.vendor_env.values()]
    names = {f"{vendor.name.upper()}_{name}" for vendor in stack.vendor_configs for name in vendor.secrets}
    values = set()
    for env in environments:
        for name, value in env.items():
            if value and (name in names or SECRET_VARIABLE.search(name)):
                # MP_API_SECRETS is a list: each of its secrets may appear on its own.
                values.update(part for part in [value, *value.split(",")] if len(part.strip()) >= 6)
    return sorted(v.strip() for v in values)


def _sse(kind: str, payload: Any) -> bytes:
    data = json.dumps(payload, default=str, separators=(",", ":"))
    return f"event: {kind}\ndata: {data}\n\n".encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address) -> None:
        # A closed browser tab resets its stream: not an error worth a traceback.
        pass


def _query_token(query: str) -> str:
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "token":
            return value
    return ""


def _handler_class(inspector: Inspector):
    class Handler(BaseHTTPRequestHandler):
        server_version = "tagging-inspector"

        def log_message(self, format, *args) -> None:  # noqa: A002 - the stack's logs stay quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path, _, query = self.path.partition("?")
            if local_guard.host_name(self.headers.get("Host", "")) not in local_guard.LOOPBACK_NAMES:
                return self._send(
                    403, "application/json", b'{"error":"host_not_loopback","detail":"open the inspector at 127.0.0.1"}'
                )
            if path.startswith("/static/"):
                # Static files are the page's code, not data: no token needed.
                target = (STATIC_DIR / path[len("/static/") :]).resolve()
                if STATIC_DIR.resolve() in target.parents and target.is_file():
                    return self._file(target)
                return self._send(
                    404, "application/json", json.dumps({"error": "not_found", "detail": path[:200]}).encode()
                )
            offered = _query_token(query) or self.headers.get("X-Inspector-Token", "")
            if not inspector.token_ok(offered):
                return self._send(
                    403,
                    "application/json",
                    b'{"error":"token_required","detail":"open the URL make run printed (it carries ?token=...)"}',
                )
            if path == "/":
                return self._file(STATIC_DIR / "index.html")
            if path == "/api/state":
                return self._send(200, "application/json", inspector.snapshot())
            if path == "/api/stream":
                return self._stream()
            return self._send(404, "application/json", json.dumps({"error": "not_found", "detail": path}).encode())

        def _file(self, path: Path) -> None:
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            if kind.startswith("text/") or kind.endswith("javascript"):
                kind += "; charset=utf-8"
            self._send(200, kind, path.read_bytes())

        def _send(self, status: int, kind: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def _stream(self) -> None:
            client, first = inspector.subscribe()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-store")
                self.send_header("Connection", "keep-alive")
                self.end_headers()
                self.wfile.write(b"retry: 1000\n\n" + first)
                self.wfile.flush()
                while True:
                    try:
                        frame = client.get(timeout=KEEPALIVE_SECONDS)
                    except queue.Empty:
                        frame = b": keepalive\n\n"
                    if frame is _CLOSE:
                        return
                    self.wfile.write(frame)
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return
            finally:
                inspector.unsubscribe(client)
                self.close_connection = True

    return Handler
