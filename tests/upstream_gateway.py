"""A local HTTP server standing in for ``<TAG_ID>.fps.goog`` (Google tag gateway; tests only).

It serves FIXTURES, not Google's code. Like Google's GTG library expects, the fixture
JavaScript names the measurement path by the placeholder ``/PHP_GTG_REPLACE_PATH/``
(first-party reference §1.1: google/site-kit-wp ``gtg/measurement.php`` and its tests), which
collect rewrites to its own gateway path. Every request is recorded (method, path, query,
headers). Paths (under any prefix, which the gateway must keep):

- ``.../gtag/js``, ``.../gtm.js``: JavaScript containing the placeholder;
- ``.../ns.html``: HTML containing the placeholder (must stay untouched);
- ``.../td``: ``text/plain`` containing the placeholder (must stay untouched);
- ``.../hop``: a 302 whose ``Location`` holds the placeholder;
- anything else: 404. ``mode="fail"`` answers 503 everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from tests.upstream_tag import LoopbackServer

PLACEHOLDER = "PHP_GTG_REPLACE_PATH"
FIXTURE_GATEWAY_JS = (
    "/* FIXTURE standing in for a gateway gtag.js: NOT Google's code. */\n"
    'var measurementPath = "/PHP_GTG_REPLACE_PATH/";\n'
    'var hits = "https://shop.example/PHP_GTG_REPLACE_PATH/g/collect";\n' + "/* padding */" * 120 + "\n"
)
FIXTURE_GATEWAY_HTML = '<!doctype html><title>FIXTURE</title><a href="/PHP_GTG_REPLACE_PATH/x">x</a>\n'
FIXTURE_GATEWAY_TEXT = "plain /PHP_GTG_REPLACE_PATH/ text\n"


@dataclass
class GatewaySeen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class UpstreamGateway(LoopbackServer):
    """``with UpstreamGateway() as up:``; ``up.origin`` is its http://127.0.0.1:<port>."""

    mode: str = "ok"
    seen: list[GatewaySeen] = field(default_factory=list)

    def __enter__(self) -> UpstreamGateway:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_HEAD(self):
                self.do_GET()

            def do_GET(self):
                parts = urlsplit(self.path)
                owner.seen.append(
                    GatewaySeen(
                        self.command,
                        parts.path,
                        dict(parse_qsl(parts.query, keep_blank_values=True)),
                        {k.lower(): v for k, v in self.headers.items()},
                    )
                )
                if owner.mode == "fail":
                    return self._send(503, b"unavailable", "text/plain")
                tail = parts.path.rsplit("/", 2)
                if parts.path.endswith(("/gtag/js", "/gtm.js")):
                    return self._send(200, FIXTURE_GATEWAY_JS.encode(), "application/javascript; charset=UTF-8")
                if tail[-1] == "ns.html":
                    return self._send(200, FIXTURE_GATEWAY_HTML.encode(), "text/html; charset=utf-8")
                if tail[-1] == "td":
                    return self._send(200, FIXTURE_GATEWAY_TEXT.encode(), "text/plain")
                if tail[-1] == "hop":
                    return self._send(
                        302, b"", None, location=f"https://shop.example/{PLACEHOLDER}/gtag/js?id=G-ABCD1234"
                    )
                return self._send(404, b"not found", "text/plain")

            def _send(self, status, body, content_type, location=None):
                self.send_response(status)
                if content_type:
                    self.send_header("Content-Type", content_type)
                if location:
                    self.send_header("Location", location)
                self.send_header("Set-Cookie", "NID=upstream-cookie; Domain=.fps.goog")
                self.send_header("Alt-Svc", 'h3=":443"')
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if body and self.command != "HEAD":
                    self.wfile.write(body)

        self._serve(Handler)
        return self
