"""A local HTTP server standing in for www.googletagmanager.com (tests only).

It serves FIXTURE scripts, not Google's: the real gtag.js cannot be downloaded on these
machines (and must not be at test time). ``FIXTURE_GTAG`` behaves like gtag.js for what the
tests check: it reads the data layer's ``set``/``config`` commands, takes the client id from
``_ga`` (writing one like gtag when absent) and sends a ``/g/collect`` page_view hit to the
configured ``server_container_url``. (``fixture_gcs`` in the config stands in for consent mode's
``gcs`` value, which real gtag computes from ``gtag('consent', ...)``.)

Every request is recorded (path, query, headers) so tests can count upstream calls and see
what was forwarded; ``mode`` switches the answers (``ok``, ``fail`` = 503, ``hang`` = no answer
until the client gives up, ``gone`` = 404), and ``etag`` enables conditional answers (304).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FIXTURE_GTAG = r"""/* FIXTURE standing in for gtag.js (tests/upstream_tag.py): NOT Google's code. */
(function () {
  var w = window, l = "dataLayer";
  var dl = w[l] = w[l] || [];
  var settings = {}, pending = [];
  function command(a) {
    if (!a || typeof a.length !== "number") return;
    if (a[0] === "set" && a[1] && typeof a[1] === "object") { for (var k in a[1]) settings[k] = a[1][k]; }
    else if (a[0] === "config") {
      var p = {}; for (var s in settings) p[s] = settings[s];
      var extra = a[2] || {}; for (var e in extra) p[e] = extra[e];
      pending.push([a[1], p]);
    }
  }
  function clientId() {
    var m = document.cookie.match(/(?:^|; )_ga=GA1\.\d+\.(\d+\.\d+)/);
    if (m) return m[1];
    var id = Math.floor(Math.random() * 2e9) + "." + Math.floor(Date.now() / 1000);
    document.cookie = "_ga=GA1.1." + id + "; path=/; max-age=63072000";
    return id;
  }
  function flush() {
    while (pending.length) {
      var c = pending.shift(), id = c[0], p = c[1];
      var base = String(p.server_container_url || "https://region1.google-analytics.com").replace(/\/$/, "");
      var q = "v=2&tid=" + encodeURIComponent(id) + "&cid=" + clientId() + "&en=page_view&gcs=" + (p.fixture_gcs || "G111") +
        "&dl=" + encodeURIComponent(location.href) + "&dr=" + encodeURIComponent(document.referrer) +
        "&dt=" + encodeURIComponent(document.title);
      fetch(base + "/g/collect?" + q, { method: "POST", credentials: "include", keepalive: true })
        .then(function (r) { w.__fixtureHits = (w.__fixtureHits || []).concat([r.status]); },
              function (err) { w.__fixtureHits = (w.__fixtureHits || []).concat(["error: " + err]); });
    }
  }
  for (var i = 0; i < dl.length; i++) command(dl[i]);
  var push = dl.push;
  dl.push = function (a) { var r = push.apply(dl, arguments); command(a); flush(); return r; };
  flush();
})();
"""

FIXTURE_GTM = "/* FIXTURE standing in for gtm.js: NOT Google's code. */ window.__fixtureGtm = true;\n"
FIXTURE_NS = "<!doctype html><title>FIXTURE ns.html</title>\n"


@dataclass
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class LoopbackServer:
    """A ``ThreadingHTTPServer`` on a free loopback port, served from a thread; ``origin`` is
    its ``http://127.0.0.1:<port>``; leaving the ``with`` block stops it."""

    seen: list[Any]

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    @property
    def calls(self) -> int:
        return len(self.seen)


@dataclass
class UpstreamTag(LoopbackServer):
    """Start with ``with UpstreamTag() as up:``; ``up.origin`` is its http://127.0.0.1:<port>."""

    mode: str = "ok"
    etag: str = ""
    hang_seconds: float = 3.0
    seen: list[Seen] = field(default_factory=list)

    def __enter__(self) -> UpstreamTag:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                parts = urlsplit(self.path)
                owner.seen.append(
                    Seen(
                        parts.path,
                        dict(parse_qsl(parts.query, keep_blank_values=True)),
                        {k.lower(): v for k, v in self.headers.items()},
                    )
                )
                if owner.mode == "hang":
                    time.sleep(owner.hang_seconds)
                    return self._send(200, b"/* too late */", "text/javascript")
                if owner.mode == "fail":
                    return self._send(503, b"unavailable", "text/plain")
                if owner.mode == "gone" or parts.path not in ("/gtag/js", "/gtm.js", "/gtag/destination", "/ns.html"):
                    return self._send(404, b"not found", "text/plain")
                if owner.etag and self.headers.get("If-None-Match") == owner.etag:
                    return self._send(304, b"", None)
                if parts.path == "/ns.html":
                    return self._send(200, FIXTURE_NS.encode(), "text/html; charset=utf-8")
                body = FIXTURE_GTM if parts.path == "/gtm.js" else FIXTURE_GTAG
                return self._send(200, body.encode(), "application/javascript; charset=UTF-8")

            def _send(self, status, body, content_type):
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                # Headers that must never reach the browser through collect.
                self.send_header("Set-Cookie", "NID=upstream-cookie; Domain=.googletagmanager.com")
                self.send_header("Strict-Transport-Security", "max-age=31536000")
                self.send_header("Alt-Svc", 'h3=":443"')
                self.send_header("Access-Control-Allow-Origin", "*")
                self.send_header("Access-Control-Allow-Credentials", "true")
                self.send_header("Cache-Control", "private, max-age=900")
                if owner.etag:
                    self.send_header("ETag", owner.etag)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body:
                    self.wfile.write(body)

        self._serve(Handler)
        return self
