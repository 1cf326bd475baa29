"""Gateway mode (Google tag gateway) of collect's script serving, against a real local HTTP
server standing in for ``<TAG_ID>.fps.goog`` (tests/upstream_gateway.py).

Acceptance F1 items 8-10 of the team's first-party reference (§1.1 "Google tag gateway",
§1.2 items 5-7): prefix kept and Host = fps.goog, placeholder rewritten in JS bodies and
3xx ``Location`` only, non-JS bodies untouched, only Google cookies upstream,
``X-Forwarded-For``/``X-Forwarded-CountryRegion`` from trusted load balancer headers only,
health routes, the hit path ingested by collect, hostile paths refused without an upstream call.
"""

from __future__ import annotations

import asyncio
import json

import brotli
import pytest

from shared.collect_app import CollectConfig, Collector, HttpRequest
from shared.first_party.scripts import ScriptConfig
from tests.recording import RecordingPublisher
from tests.upstream_gateway import (
    FIXTURE_GATEWAY_HTML,
    FIXTURE_GATEWAY_JS,
    FIXTURE_GATEWAY_TEXT,
    PLACEHOLDER,
    UpstreamGateway,
)

TAG = "G-ABCD1234"
PATH = "/metrics"
EDGE = "edge-secret"
# What the load balancer adds (infra/modules/custom_domain): geo plus the edge secret; the
# client IP is the entry left of the load balancer's own in X-Forwarded-For.
LB = {
    "x-client-geo-country": "US",
    "x-client-geo-region": "USCA",
    "x-client-geo-city": "Mountain View",
    "x-edge-auth": EDGE,
    "x-forwarded-for": "203.0.113.7, 198.51.100.1",
}
BROWSER = {
    "cookie": "_ga=GA1.1.111.222; _gid=GA1.1.3.4; _gcl_au=1.1.5.6; FPID=FPID2.2.7.8; FPLC=abc; "
    "_fbp=fb.1.1700000000000.1; session=secret-app-session; x_ga=nope; _ga_ABC123=GS1.1.1",
    "authorization": "Bearer secret-not-for-upstream",
    "referer": "https://shop.example.com/private?email=a@b.c",
    "user-agent": "Mozilla/5.0 (test)",
}


def collector(upstream: UpstreamGateway, publisher: RecordingPublisher | None = None, **scripts) -> Collector:
    config = ScriptConfig(
        allowed_tag_ids=(TAG,),
        upstream_origin="http://127.0.0.1:9",  # the non-gateway upstream is never used here
        gateway_path=PATH,
        gateway_tag_id=TAG,
        gateway_origin=upstream.origin,
        **scripts,
    )
    return Collector(
        publisher or RecordingPublisher(),
        CollectConfig(scripts=config, edge_auth_secrets=(EDGE,), allowed_measurement_ids=(TAG,)),
    )


def call(c: Collector, path: str, query: str = "", method: str = "GET", body: bytes = b"", **headers: str):
    return asyncio.run(c.handle(HttpRequest(method, path, query, {**BROWSER, **headers}, body)))


def lb(**extra: str) -> dict[str, str]:
    return {**LB, **extra}


# -- F1.9: proxying, rewrite, cookies, forwarded headers -----------------------------------------


def test_script_is_proxied_with_prefix_kept_host_rewritten_and_placeholder_rewritten():
    with UpstreamGateway() as up:
        c = collector(up)
        response = call(c, f"{PATH}/gtag/js", f"id={TAG}&evil=1", **lb())
        assert response.status == 200
        expected = FIXTURE_GATEWAY_JS.replace(f"/{PLACEHOLDER}/", f"{PATH}/")
        assert response.body == expected.encode() and PLACEHOLDER.encode() not in response.body
        assert response.headers["Content-Type"] == "text/javascript; charset=utf-8"
        assert response.headers["Cache-Control"] == "private, max-age=900"
        assert response.headers["Vary"] == "Accept-Encoding"
        assert not any(k.lower() in ("set-cookie", "alt-svc") for k in response.headers)
        seen = up.seen[0]
        assert seen.path == f"{PATH}/gtag/js" and seen.query == {"id": TAG}
        assert seen.headers["host"] == f"{TAG.lower()}.fps.goog"


def test_only_google_first_party_cookies_go_upstream_and_no_credentials():
    with UpstreamGateway() as up:
        c = collector(up)
        assert call(c, f"{PATH}/td", "x=1", **lb()).status == 200
        cookie = up.seen[0].headers["cookie"]
        names = [part.split("=")[0] for part in cookie.split("; ")]
        assert names == ["_ga", "_gid", "_gcl_au", "FPID", "FPLC", "_ga_ABC123"]
        assert "authorization" not in up.seen[0].headers and "referer" not in up.seen[0].headers


def test_forwarded_for_and_country_region_come_from_the_trusted_load_balancer_headers():
    with UpstreamGateway() as up:
        c = collector(up)
        call(c, f"{PATH}/td", **lb())
        assert up.seen[-1].headers["x-forwarded-for"] == "203.0.113.7"
        assert up.seen[-1].headers["x-forwarded-countryregion"] == "US-CA"
        # Without the edge secret the geo headers are the client's own: not forwarded.
        call(c, f"{PATH}/td", **lb(**{"x-edge-auth": "guess"}))
        assert "x-forwarded-countryregion" not in up.seen[-1].headers
        # A country without a usable region: the country alone.
        call(c, f"{PATH}/td", **lb(**{"x-client-geo-region": "FRIDF"}))
        assert up.seen[-1].headers["x-forwarded-countryregion"] == "US"


@pytest.mark.parametrize(
    ("country", "region"),
    [("US\r\nX-Evil: 1", "USCA"), ("US", "USCA\r\nX-Evil: 1"), ("U$", "USCA"), ("USA", "USCA"), ("", "")],
)
def test_header_injection_in_geo_values_never_reaches_upstream(country, region):
    with UpstreamGateway() as up:
        c = collector(up)
        response = call(c, f"{PATH}/td", **lb(**{"x-client-geo-country": country, "x-client-geo-region": region}))
        assert response.status == 200
        headers = up.seen[-1].headers
        assert "x-evil" not in headers
        assert headers.get("x-forwarded-countryregion", "") in ("", "US", "US-CA")
        assert "\r" not in headers.get("x-forwarded-countryregion", "")


def test_non_js_bodies_are_untouched():
    with UpstreamGateway() as up:
        c = collector(up)
        text = call(c, f"{PATH}/td", **lb())
        assert text.body == FIXTURE_GATEWAY_TEXT.encode() and text.headers["Content-Type"] == "text/plain"
        html = call(c, f"{PATH}/ns.html", f"id={TAG}", **lb())
        assert html.status == 200 and html.body == FIXTURE_GATEWAY_HTML.encode()
        assert text.headers["Cache-Control"] == "no-store"  # non-script paths are never cached


def test_redirect_location_is_rewritten():
    with UpstreamGateway() as up:
        c = collector(up)
        response = call(c, f"{PATH}/hop", **lb())
        assert response.status == 302
        assert response.headers["Location"] == f"https://shop.example{PATH}/gtag/js?id={TAG}"


def test_scripts_use_the_cache_single_flight_and_brotli():
    with UpstreamGateway() as up:
        c = collector(up)
        first = call(c, f"{PATH}/gtag/js", f"id={TAG}", **lb(**{"accept-encoding": "br"}))
        assert first.headers["Content-Encoding"] == "br"
        assert brotli.decompress(first.body) == FIXTURE_GATEWAY_JS.replace(f"/{PLACEHOLDER}/", f"{PATH}/").encode()
        again = call(c, f"{PATH}/gtag/js", f"id={TAG}", **lb(**{"if-none-match": first.headers["ETag"]}))
        assert again.status == 304 and up.calls == 1

        async def burst():
            return await asyncio.gather(
                *(c.handle(HttpRequest("GET", f"{PATH}/gtm.js", f"id={TAG}", lb())) for _ in range(5))
            )

        assert {r.status for r in asyncio.run(burst())} == {200} and up.calls == 2


def test_unlisted_tag_id_is_404_without_upstream_call():
    with UpstreamGateway() as up:
        c = collector(up)
        assert call(c, f"{PATH}/gtag/js", "id=G-OTHER999", **lb()).status == 404
        assert call(c, f"{PATH}/gtag/js", "", **lb()).status == 400
        assert up.calls == 0


def test_upstream_down_is_502_as_js_comment_for_scripts():
    with UpstreamGateway(mode="fail") as up:
        c = collector(up)
        response = call(c, f"{PATH}/gtag/js", f"id={TAG}", **lb())
        assert response.status == 502 and response.body.startswith(b"/*")


# -- F1.10: health routes -------------------------------------------------------------------------


def test_health_routes():
    with UpstreamGateway() as up:
        c = collector(up)
        healthy = call(c, f"{PATH}/healthy")
        assert (healthy.status, healthy.body) == (200, b"ok")
        geo = call(c, f"{PATH}/", "validate_geo=healthy", **lb())
        assert (geo.status, geo.body) == (200, b"ok")
        assert call(c, f"{PATH}/", "validate_geo=healthy").status == 503  # no geo header
        untrusted = call(c, f"{PATH}/", "validate_geo=healthy", **lb(**{"x-edge-auth": "guess"}))
        assert untrusted.status == 503
        assert up.calls == 0


# -- what collect keeps: hits ----------------------------------------------------------------------


def test_gateway_hits_are_ingested_by_collect_not_proxied():
    publisher = RecordingPublisher()
    with UpstreamGateway() as up:
        c = collector(up, publisher)
        query = f"v=2&tid={TAG}&cid=111.222&en=page_view&dl=https%3A%2F%2Fshop.example%2F"
        response = call(c, f"{PATH}/g/collect", query, method="POST", **lb())
        assert response.status in (200, 204)
        assert up.calls == 0
        assert [e["event_name"] for e in publisher.events] == ["page_view"]


# -- hostile input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"{PATH}/../gtag/js",
        f"{PATH}/./td",
        f"{PATH}/a/../../etc/passwd",
        f"{PATH}//td",
        f"{PATH}/%2e%2e/td",
        f"{PATH}/a%2Fb",
        f"{PATH}/td%00",
        f"{PATH}/td\r\nX-Evil: 1",
        f"{PATH}/" + "a" * 400,
        f"{PATH}/" + "/".join(["a"] * 20),
        f"{PATH}/ü",
    ],
)
def test_hostile_paths_are_4xx_json_without_upstream_call(path):
    with UpstreamGateway() as up:
        c = collector(up)
        response = call(c, path, **lb())
        assert 400 <= response.status < 500
        assert json.loads(response.body)["error"] == "invalid_path"
        assert up.calls == 0


def test_other_methods_are_405_and_long_queries_414():
    with UpstreamGateway() as up:
        c = collector(up)
        response = call(c, f"{PATH}/td", method="POST", body=b"x", **lb())
        assert response.status == 405 and response.headers["Allow"] == "GET, HEAD"
        assert call(c, f"{PATH}/td", "q=" + "a" * 3000, **lb()).status == 414
        assert call(c, f"{PATH}/td", "q=%0d%0a", **lb()).status == 400
        assert up.calls == 0


def test_paths_outside_the_gateway_are_not_proxied():
    with UpstreamGateway() as up:
        c = collector(up)
        assert call(c, "/metricsX/td").status == 404
        assert call(c, "/metric/td").status == 404
        assert up.calls == 0


# -- settings --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "tag_id", "message"),
    [
        ("/metrics", "", "both"),
        ("", TAG, "both"),
        ("/gtmpath1", TAG, "6-10 letters"),
        ("/mygoogle1", TAG, "6-10 letters"),
        ("/Analytics", TAG, "6-10 letters"),
        ("/collects", TAG, "6-10 letters"),
        ("/short", TAG, "6-10 letters"),
        ("/toolongpath1", TAG, "6-10 letters"),
        ("/met/rics", TAG, "6-10 letters"),
        ("metrics", TAG, "6-10 letters"),
        ("/metrics", "UA-1234", "not a tag id"),
    ],
)
def test_gateway_settings_fail_at_start_up_with_a_clear_message(path, tag_id, message):
    with pytest.raises(ValueError, match=message):
        ScriptConfig(gateway_path=path, gateway_tag_id=tag_id)


def test_gateway_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("SCRIPT_GATEWAY_PATH", "/metrics")
    monkeypatch.setenv("SCRIPT_GATEWAY_TAG_ID", TAG)
    config = ScriptConfig.from_env()
    assert (config.gateway_path, config.gateway_tag_id, config.gateway_placeholder) == (PATH, TAG, PLACEHOLDER)
    monkeypatch.setenv("SCRIPT_GATEWAY_PATH", "/gtag")
    with pytest.raises(ValueError, match="SCRIPT_GATEWAY_PATH"):
        ScriptConfig.from_env()


def test_without_gateway_mode_nothing_is_rewritten_or_proxied():
    with UpstreamGateway() as up:
        config = ScriptConfig(allowed_tag_ids=(TAG,), upstream_origin=up.origin)
        c = Collector(RecordingPublisher(), CollectConfig(scripts=config))
        assert call(c, f"{PATH}/gtag/js", f"id={TAG}").status == 404
        assert up.calls == 0
