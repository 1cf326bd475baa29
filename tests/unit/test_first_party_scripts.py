"""Serving the Google tag from collect, against a real local upstream HTTP server.

Acceptance F1 of the team's first-party reference (docs/first-party.md): routes and methods,
allow-list with zero upstream calls, forwarded query keys and headers, cache/ETag/304,
stale copy, 502 as a JS comment, preview bypass, header stripping, gzip, alias paths and
the loader that points hits at collect. The upstream serves fixture scripts
(tests/upstream_tag.py), not Google's.
"""

from __future__ import annotations

import asyncio
import gzip

import brotli
import pytest

from shared.collect_app import CollectConfig, Collector, HttpRequest
from shared.first_party import scripts as scripts_module
from shared.first_party.scripts import ScriptConfig, ScriptServer
from tests.recording import RecordingPublisher
from tests.upstream_tag import FIXTURE_GTAG, FIXTURE_GTM, UpstreamTag

GTAG = "G-ABCD1234"
GTM = "GTM-WXYZ99"
ALLOWED = (GTAG, GTM, "AW-123456789")
BROWSER = {
    "cookie": "_ga=GA1.1.1.2; FPID=FPID2.2.1.2",
    "authorization": "Bearer secret-not-for-upstream",
    "referer": "https://shop.example.com/private?email=a@b.c",
    "user-agent": "Mozilla/5.0 (test)",
}


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def collector(upstream: UpstreamTag, clock: Clock | None = None, **scripts) -> Collector:
    config = ScriptConfig(allowed_tag_ids=ALLOWED, upstream_origin=upstream.origin, **scripts)
    result = Collector(RecordingPublisher(), CollectConfig(scripts=config))
    if clock is not None:
        # The same server with a test clock, to step past the TTL without sleeping.
        result.scripts = ScriptServer(config, clock=clock)
    return result


def get(c: Collector, path: str, query: str = "", method: str = "GET", **headers: str):
    return asyncio.run(c.handle(HttpRequest(method, path, query, {**BROWSER, **headers})))


# -- routes, methods, ids --------------------------------------------------------------------------


def test_gtag_js_is_served_with_our_headers_and_head_has_no_body():
    with UpstreamTag() as up:
        c = collector(up)
        response = get(c, "/gtag/js", f"id={GTAG}")
        assert response.status == 200 and response.body == FIXTURE_GTAG.encode()
        assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
        assert response.headers["Vary"] == "Accept-Encoding" and response.headers["ETag"].startswith('"')
        assert response.headers["Cache-Control"] == "private, max-age=900"
        head = get(c, "/gtag/js", f"id={GTAG}", method="HEAD")
        assert head.status == 200 and head.body == b""
        assert {k: v for k, v in head.headers.items() if k != "Content-Length"} == response.headers
        assert head.headers["Content-Length"] == str(len(FIXTURE_GTAG.encode()))
        assert up.calls == 1  # HEAD came from the cache


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_other_methods_are_405_with_allow(method):
    with UpstreamTag() as up:
        response = get(collector(up), "/gtag/js", f"id={GTAG}", method=method)
        assert response.status == 405 and response.headers["Allow"] == "GET, HEAD" and up.calls == 0


@pytest.mark.parametrize(
    "path, query, status",
    [
        ("/gtag/js", "id=G-NOTLISTED1", 404),
        ("/gtm.js", "id=GTM-OTHER1", 404),
        ("/gtag/js", "", 400),
        ("/gtag/js", "l=dataLayer", 400),
        ("/gtag/js", "id=g-abcd1234", 400),
        ("/gtag/js", "id=UA-1234-1", 400),
        ("/gtag/js", "id=G-AB", 400),
        ("/gtag/js", "id=G-ABCD1234%0D%0AX:1", 400),
        ("/gtag/js", f"id={GTAG}&l=x;alert(1)", 400),
    ],
)
def test_unlisted_and_malformed_ids_never_reach_upstream(path, query, status):
    with UpstreamTag() as up:
        response = get(collector(up), path, query)
        assert response.status == status and up.calls == 0
        assert response.headers["Content-Type"] == "text/javascript; charset=utf-8" and response.body.startswith(b"/*")


def test_nothing_is_served_when_no_tag_id_is_allowed():
    with UpstreamTag() as up:
        c = Collector(RecordingPublisher(), CollectConfig(scripts=ScriptConfig(upstream_origin=up.origin)))
        assert get(c, "/gtag/js", f"id={GTAG}").status == 404 and up.calls == 0


def test_the_four_routes_are_served_from_the_same_upstream_paths():
    with UpstreamTag() as up:
        c = collector(up)
        assert get(c, "/gtm.js", f"id={GTM}").body == FIXTURE_GTM.encode()
        assert get(c, "/gtag/destination", "id=AW-123456789").status == 200
        ns = get(c, "/ns.html", f"id={GTM}")
        assert ns.status == 200 and ns.headers["Content-Type"] == "text/html; charset=utf-8"
        assert [s.path for s in up.seen] == ["/gtm.js", "/gtag/destination", "/ns.html"]


# -- what goes upstream ----------------------------------------------------------------------------


def test_only_id_l_cx_and_gtm_keys_and_no_browser_credentials_go_upstream():
    with UpstreamTag() as up:
        query = f"id={GTAG}&l=myLayer&cx=c&gtm_cookies_win=x&utm_source=mail&email=a%40b.c&host=evil.example"
        assert get(collector(up), "/gtag/js", query).status == 200
        [seen] = up.seen
        assert seen.query == {"id": GTAG, "l": "myLayer", "cx": "c", "gtm_cookies_win": "x"}
        assert not {"cookie", "authorization", "referer"} & set(seen.headers)
        assert seen.headers["host"] == up.origin.removeprefix("http://")  # the configured origin, always


def test_upstream_origin_must_be_an_origin():
    with pytest.raises(ValueError, match="TAG_UPSTREAM_ORIGIN"):
        ScriptConfig(upstream_origin="https://www.googletagmanager.com/gtag/js?x=")


# -- cache, ETag, stale, 502 -----------------------------------------------------------------------


def test_cache_within_ttl_then_a_conditional_request_after_it():
    clock = Clock()
    with UpstreamTag(etag='"up-1"') as up:
        c = collector(up, clock)
        first = get(c, "/gtag/js", f"id={GTAG}")
        clock.now += 899
        assert get(c, "/gtag/js", f"id={GTAG}").body == first.body and up.calls == 1
        clock.now += 2  # past the 900 s TTL
        again = get(c, "/gtag/js", f"id={GTAG}")
        assert up.calls == 2 and up.seen[1].headers.get("if-none-match") == '"up-1"'  # revalidated, 304 upstream
        assert again.status == 200 and again.body == first.body and again.headers["ETag"] == first.headers["ETag"]


def test_concurrent_misses_make_one_upstream_request():
    with UpstreamTag() as up:
        c = collector(up)

        async def burst():
            return await asyncio.gather(
                *(c.handle(HttpRequest("GET", "/gtag/js", f"id={GTAG}", {})) for _ in range(20))
            )

        responses = asyncio.run(burst())
        assert {r.status for r in responses} == {200} and up.calls == 1


def test_ttl_is_at_most_15_minutes():
    with pytest.raises(ValueError, match="TAG_CACHE_SECONDS"):
        ScriptConfig(ttl_seconds=901)


def test_if_none_match_with_the_served_etag_is_304():
    with UpstreamTag() as up:
        c = collector(up)
        etag = get(c, "/gtag/js", f"id={GTAG}").headers["ETag"]
        response = get(c, "/gtag/js", f"id={GTAG}", **{"if-none-match": etag})
        assert response.status == 304 and response.body == b"" and response.headers["ETag"] == etag
        assert get(c, "/gtag/js", f"id={GTAG}", **{"if-none-match": '"other"'}).status == 200


def test_stale_copy_when_upstream_fails_then_502_after_24_hours():
    clock = Clock()
    with UpstreamTag() as up:
        c = collector(up, clock)
        fresh = get(c, "/gtag/js", f"id={GTAG}")
        up.mode = "fail"
        clock.now += 3600
        stale = get(c, "/gtag/js", f"id={GTAG}")
        assert stale.status == 200 and stale.body == fresh.body and up.calls == 2
        clock.now += 24 * 3600  # the copy is now older than 24 h
        gone = get(c, "/gtag/js", f"id={GTAG}")
        assert (
            gone.status == 502
            and gone.body.startswith(b"/*")
            and gone.headers["Content-Type"] == "text/javascript; charset=utf-8"
        )


def test_no_copy_and_upstream_down_or_too_slow_is_502():
    with UpstreamTag(mode="fail") as up:
        assert get(collector(up), "/gtag/js", f"id={GTAG}").status == 502
    with UpstreamTag(mode="hang", hang_seconds=3) as up:
        response = get(collector(up, total_timeout=0.5), "/gtag/js", f"id={GTAG}")
        assert response.status == 502 and response.body.startswith(b"/*")
    # Nothing listening at all.
    response = get(
        Collector(
            RecordingPublisher(),
            CollectConfig(scripts=ScriptConfig(allowed_tag_ids=ALLOWED, upstream_origin="http://127.0.0.1:9")),
        ),
        "/gtag/js",
        f"id={GTAG}",
    )
    assert response.status == 502


def test_upstream_404_is_passed_on_and_not_cached():
    with UpstreamTag(mode="gone") as up:
        c = collector(up)
        assert get(c, "/gtag/js", f"id={GTAG}").status == 404
        assert get(c, "/gtag/js", f"id={GTAG}").status == 404 and up.calls == 2


def test_preview_parameters_bypass_the_cache_with_no_store():
    with UpstreamTag() as up:
        c = collector(up)
        get(c, "/gtm.js", f"id={GTM}")
        for key in ("gtm_auth=abc&gtm_preview=env-3", "gtm_debug=x"):
            response = get(c, "/gtm.js", f"id={GTM}&{key}")
            assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
        assert up.calls == 3
        assert up.seen[1].query == {"id": GTM, "gtm_auth": "abc", "gtm_preview": "env-3"}
        # and the cached copy was not replaced by the preview one
        assert get(c, "/gtm.js", f"id={GTM}").headers["Cache-Control"] == "private, max-age=900" and up.calls == 3


# -- response headers, gzip ------------------------------------------------------------------------

FORBIDDEN = (
    "set-cookie",
    "strict-transport-security",
    "alt-svc",
    "access-control-allow-origin",
    "access-control-allow-credentials",
    "connection",
    "transfer-encoding",
    "keep-alive",
)


@pytest.mark.parametrize("query", [f"id={GTAG}", f"id={GTAG}&gtm_debug=x"])
def test_upstream_cookies_hsts_alt_svc_and_cors_never_pass(query):
    with UpstreamTag() as up:
        response = get(collector(up), "/gtag/js", query, origin="https://shop.example.com")
        assert not {name.lower() for name in response.headers} & set(FORBIDDEN)
        assert response.cookies == []


def test_gzip_when_accepted():
    with UpstreamTag() as up:
        c = collector(up)
        zipped = get(c, "/gtag/js", f"id={GTAG}", **{"accept-encoding": "gzip, deflate"})
        assert zipped.headers["Content-Encoding"] == "gzip" and gzip.decompress(zipped.body) == FIXTURE_GTAG.encode()
        plain = get(c, "/gtag/js", f"id={GTAG}", **{"accept-encoding": "gzip;q=0, identity"})
        assert "Content-Encoding" not in plain.headers and plain.body == FIXTURE_GTAG.encode()
        assert zipped.headers["ETag"] == plain.headers["ETag"] and zipped.headers["Vary"] == "Accept-Encoding"


@pytest.mark.parametrize(
    ("accept", "encoding"),
    [
        ("gzip, deflate, br", "br"),
        ("br", "br"),
        ("br;q=0, gzip", "gzip"),
        ("br;q=0.0, gzip;q=0.5", "gzip"),
        ("gzip;q=1, br;q=0.5", "gzip"),
        ("br;q=0.8, gzip;q=0.8", "br"),
        ("*", "br"),
        ("*;q=0.5, br;q=0", "gzip"),
        ("br;q=0, gzip;q=0", ""),
        ("identity", ""),
        ("", ""),
        ("br;q=nonsense, gzip", "gzip"),
    ],
)
def test_brotli_gzip_or_identity_by_accept_encoding_q_values(accept, encoding):
    with UpstreamTag() as up:
        c = collector(up)
        response = get(c, "/gtag/js", f"id={GTAG}", **{"accept-encoding": accept})
        assert response.status == 200 and response.headers["Vary"] == "Accept-Encoding"
        assert response.headers.get("Content-Encoding", "") == encoding
        decode = {"br": brotli.decompress, "gzip": gzip.decompress, "": bytes}[encoding]
        assert decode(response.body) == FIXTURE_GTAG.encode()


def test_each_encoding_is_compressed_once_per_cached_copy(monkeypatch):
    calls: list[str] = []
    real = scripts_module.compress
    monkeypatch.setattr(scripts_module, "compress", lambda body, enc: calls.append(enc) or real(body, enc))
    with UpstreamTag() as up:
        c = collector(up)
        for _ in range(3):
            for accept in ("br", "gzip", "identity"):
                assert get(c, "/gtag/js", f"id={GTAG}", **{"accept-encoding": accept}).status == 200
        assert sorted(calls) == ["br", "gzip"] and up.calls == 1


# -- alias paths and the loader --------------------------------------------------------------------


def test_an_alias_serves_its_bound_id_whatever_the_query_says():
    with UpstreamTag() as up:
        c = collector(up, aliases={"/k7x2q9": GTM, "/p4r8s2t1": GTAG})
        assert get(c, "/k7x2q9", "id=GTM-EVIL99").body == FIXTURE_GTM.encode()
        assert get(c, "/p4r8s2t1").body == FIXTURE_GTAG.encode()
        assert [(s.path, s.query["id"]) for s in up.seen] == [("/gtm.js", GTM), ("/gtag/js", GTAG)]


@pytest.mark.parametrize(
    "path",
    ["/gtm123", "/mygtag1", "/GoogleX1", "/analytics", "/collect1", "/abc", "/abcdefghijk", "/ab-cd12", "/a/bcdef"],
)
def test_alias_paths_are_validated(path):
    with pytest.raises(ValueError, match="TAG_ALIASES"):
        ScriptConfig(aliases={path: GTAG})


def test_the_loader_points_gtag_hits_at_collect_without_touching_googles_code():
    with UpstreamTag() as up:
        c = collector(up, server_container_url="https://metrics.example.com")
        body = get(c, "/gtag/js", f"id={GTAG}&l=myLayer").body.decode()
        loader, rest = body.split("\n", 1)
        assert rest == FIXTURE_GTAG
        assert (
            "'set',{server_container_url:\"https://metrics.example.com\"}" in loader and '(window,"myLayer")' in loader
        )
        # gtm.js is not prefixed: GTM's Google tag takes server_container_url from the container.
        assert get(c, "/gtm.js", f"id={GTM}").body == FIXTURE_GTM.encode()


def test_script_requests_publish_nothing_and_hits_still_work():
    with UpstreamTag() as up:
        publisher = RecordingPublisher()
        c = Collector(
            publisher, CollectConfig(scripts=ScriptConfig(allowed_tag_ids=ALLOWED, upstream_origin=up.origin))
        )
        get(c, "/gtag/js", f"id={GTAG}")
        assert publisher.events == []
        hit = asyncio.run(c.handle(HttpRequest("POST", "/g/collect", f"v=2&tid={GTAG}&cid=1.2&en=page_view")))
        assert hit.status == 204 and len(publisher.events) == 1
