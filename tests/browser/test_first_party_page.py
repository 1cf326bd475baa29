"""A real page in headless Chromium loads the Google tag from collect and keeps its ids.

The stack is real: Pub/Sub emulator + collect under functions-framework. The "Google" side
is a local upstream serving a FIXTURE that stands in for gtag.js (tests/upstream_tag.py;
the real script cannot be downloaded here): it reads the page's config and sends a
``/g/collect`` hit to ``server_container_url``, which collect's loader put in the data layer.

Cookies: collect marks every cookie ``Secure``. Over plain http Chromium stores Secure
cookies only from "potentially trustworthy" origins; ``localhost`` and ``127.0.0.1`` both
are (checked with Debian's Chromium 156: a Secure ``Set-Cookie`` over http is kept for both). Page and collect are both addressed as
``localhost`` on different ports: one host (cookies ignore ports, so ``get_cookies`` on the
page shows collect's cookies) and one site (``SameSite=Lax`` cookies flow with the
credentialed fetch). Without a registrable domain collect sets host-only cookies.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from selenium.webdriver.support.ui import WebDriverWait

from devstack import config as stack_config
from devstack.stack import LocalStack
from reliability.accounting import read_json_lines
from tests.stackutil import wait_until
from tests.upstream_tag import UpstreamTag

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(300)]

TAG = "G-FIXTURE1"
WAIT = 60
DAY = 86400

PAGE = """<!doctype html>
<html><head><title>First-party landing</title>
<script>
  // A visitor who already has gtag's JS cookie: the server cookie must keep this id.
  if (!/(^|; )_ga=/.test(document.cookie)) document.cookie = "_ga=GA1.1.424242.1700000000; path=/; max-age=63072000";
  window.dataLayer = window.dataLayer || [];
  function gtag(){dataLayer.push(arguments);}
  gtag('js', new Date());
  gtag('config', '%(tag)s'%(config)s);
</script>
<script async src="%(collect)s/gtag/js?id=%(tag)s"></script>
</head><body>landing</body></html>
"""


class PageServer:
    """Serves the landing page on http://localhost:<port>/landing[?denied=1]."""

    def __init__(self, collect_origin: str) -> None:
        origin = collect_origin

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                denied = "denied=1" in self.path
                body = PAGE % {"tag": TAG, "collect": origin, "config": ", {fixture_gcs: 'G100'}" if denied else ""}
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://localhost:{self.server.server_address[1]}"

    def __enter__(self) -> PageServer:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def _lines(stack: LocalStack, message: str) -> list[dict]:
    return [r for r in read_json_lines([stack.log_path("collect")]) if r.get("message") == message]


def _hits(browser) -> list:
    return browser.execute_script("return window.__fixtureHits || []")


def test_page_loads_the_tag_from_collect_and_gets_long_lived_server_cookies(browser):
    with UpstreamTag() as upstream:
        stack = LocalStack(stack_config.load(), vendors=())
        collect_origin = f"http://localhost:{stack.collect_port}"
        page_server = PageServer(collect_origin)
        stack.collect_env.update(
            {
                # The page fetches collect with credentials: CORS allows them only for an
                # allowed origin (docs/ga4-client.md).
                "ALLOWED_ORIGINS": page_server.url,
                "LOG_HITS": "1",
                "ALLOWED_TAG_IDS": TAG,
                "TAG_UPSTREAM_ORIGIN": upstream.origin,
                "TAG_SERVER_CONTAINER_URL": collect_origin,
                "SERVER_COOKIES": "all",
            }
        )
        with stack, page_server as page:
            landing = f"{page.url}/landing?gclid=TeSt-GclId_1&fbclid=FbClick-1&msclkid=abc123&li_fat_id=5f7c2d3e-1111"
            browser.get(landing)
            WebDriverWait(browser, WAIT).until(lambda b: _hits(b))
            assert _hits(browser) == [204]
            started = time.time()

            # The script came from collect's origin, fetched once from the upstream, without
            # the browser's cookies.
            resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
            assert f"{collect_origin}/gtag/js?id={TAG}" in resources
            assert upstream.calls == 1 and "cookie" not in upstream.seen[0].headers
            [script] = wait_until(lambda: _lines(stack, "script"), WAIT)
            assert script["status"] == 200 and script["cache"] == "miss"
            # Through the real adapter (functions-framework): HEAD has the length and no body,
            # POST is refused, gzip is served, upstream cookies never pass.
            url = f"http://127.0.0.1:{stack.collect_port}/gtag/js?id={TAG}"
            head = requests.head(url, timeout=30)
            got = requests.get(url, timeout=30, headers={"Accept-Encoding": "gzip"})
            assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) > 0
            assert got.headers["content-encoding"] == "gzip" and got.headers["etag"] == head.headers["etag"]
            assert "set-cookie" not in got.headers and "alt-svc" not in got.headers
            refused = requests.post(url, timeout=30)
            assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"

            # Its hit arrived at collect, with the _ga-derived client id and the click ids as cookies.
            [hit] = wait_until(lambda: [h for h in _lines(stack, "hit") if h.get("accepted")], WAIT)
            [event] = [n["event"] for n in hit["normalized"]]
            assert event["event_name"] == "page_view" and event["x-ga-measurement_id"] == TAG
            assert event["client_id"] == "424242.1700000000"
            assert (
                event["cookies"]["_gcl_aw"].endswith(".TeSt-GclId_1")
                and event["cookies"]["_uetmsclkid"] == "_uetabc123"
            )

            # The browser stored the server's cookies, with their attributes and lifetimes.
            jar = {c["name"]: c for c in browser.get_cookies()}
            fpid = jar["FPID"]
            assert fpid["value"] == "FPID2.2.424242.1700000000"
            assert (
                fpid["httpOnly"] is True
                and fpid["secure"] is True
                and fpid["sameSite"] == "Lax"
                and fpid["path"] == "/"
            )
            assert (
                fpid["expiry"] - started >= 395 * DAY - 600
            )  # 395 days (COOKIE_MAX_AGE_DAYS default), minus test time
            fbp, fbc = jar["_fbp"], jar["_fbc"]
            assert (
                fbp["value"].startswith("fb.0.")
                and fbc["value"].startswith("fb.0.")
                and fbc["value"].endswith(".FbClick-1")
            )
            assert fbp["httpOnly"] is False and fbp["secure"] is True and fbp["sameSite"] == "Lax"
            for name in ("_fbp", "_fbc", "_gcl_aw", "_uetmsclkid"):
                assert 90 * DAY - 600 <= jar[name]["expiry"] - started <= 90 * DAY + 60, name
            assert jar["li_fat_id"]["value"] == "5f7c2d3e-1111"
            assert 30 * DAY - 600 <= jar["li_fat_id"]["expiry"] - started <= 30 * DAY + 60
            # The page's scripts can read the ad cookies, never FPID.
            readable = browser.execute_script("return document.cookie")
            assert "_fbp=" in readable and "FPID=" not in readable

            # A second page with consent denied for both storages: the server clears its cookies.
            browser.get(f"{page.url}/landing?denied=1")
            WebDriverWait(browser, WAIT).until(lambda b: _hits(b))
            assert _hits(browser) == [204]
            remaining = {c["name"] for c in browser.get_cookies()}
            assert not {"FPID", "_fbp", "_fbc", "_gcl_aw", "_uetmsclkid", "li_fat_id"} & remaining
            assert "_ga" in remaining  # the page's own JS cookie is the page's business
            assert upstream.calls == 1  # the second page load was served from collect's cache
