"""Collect as a GA4 client: identity, cookies, debug mode, Measurement Protocol, guard rails, the hit log."""

from __future__ import annotations

import asyncio
import json

import pytest

from shared.collect_app import CollectConfig, Collector, HttpRequest
from tests.recording import RecordingPublisher

Q = "v=2&tid=G-TEST&cid=111.222&en=page_view&dl=https%3A%2F%2Fshop.example.com%2Fa"
DENIED = Q + "&gcs=G100"
TOKEN = "debug-token-for-tests"
SECRET = "mp-secret-for-tests"
UA = "Mozilla/5.0 (test)"


def handle(request: HttpRequest, config: CollectConfig | None = None, publisher: RecordingPublisher | None = None):
    publisher = publisher or RecordingPublisher()
    response = asyncio.run(Collector(publisher, config or CollectConfig()).handle(request))
    return response, publisher


def hit_lines(capsys) -> list[dict]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "hit"]


# -- identity and context ---------------------------------------------------------------


def test_ip_user_agent_and_geo_come_from_the_request():
    # Behind the load balancer: "<client>, <lb>" appended; geo trusted with the edge secret.
    headers = {
        "x-forwarded-for": "203.0.113.7, 10.0.0.1",
        "user-agent": UA,
        "x-client-geo-country": "DE",
        "x-client-geo-region": "DE-BY",
        "x-edge-auth": "edge-secret",
    }
    _, publisher = handle(
        HttpRequest("POST", "/g/collect", Q, headers), CollectConfig(edge_auth_secrets=("edge-secret",))
    )
    [event] = publisher.events
    assert event["ip_override"] == "203.0.113.7" and event["user_agent"] == UA
    assert event["event_location"] == {"country": "DE", "region": "DE-BY"}


def test_vendor_pixel_cookies_travel_with_the_event_and_nothing_else_of_the_cookie_header():
    cookie = "_fbp=fb.1.1700000000000.123; _fbc=fb.1.1700000000000.AbC; _ttp=ttp-id; session=secret; _ga=GA1.1.1.2"
    _, publisher = handle(HttpRequest("POST", "/g/collect", Q, {"cookie": cookie}))
    [event] = publisher.events
    assert event["cookies"] == {"_fbp": "fb.1.1700000000000.123", "_fbc": "fb.1.1700000000000.AbC", "_ttp": "ttp-id"}


def test_without_vendor_cookies_the_event_has_no_cookies_key():
    _, publisher = handle(HttpRequest("POST", "/g/collect", Q, {"cookie": "session=secret"}))
    assert "cookies" not in publisher.events[0]


def test_uip_on_a_browser_hit_does_not_override_the_forwarded_ip():
    headers = {"x-forwarded-for": "203.0.113.7, 10.0.0.1"}
    _, publisher = handle(
        HttpRequest("POST", "/g/collect", Q + "&_uip=198.51.100.4&ep.user_agent=Spoof", {**headers, "user-agent": UA})
    )
    [event] = publisher.events
    assert event["ip_override"] == "203.0.113.7" and event["user_agent"] == UA
    assert event["x-ga-mp2-_uip"] == "198.51.100.4" and event["x-ga-mp2-ep.user_agent"] == "Spoof"


def test_client_hints_from_the_hit_and_a_line_with_its_own_hints():
    body = b"en=a\r\nen=b&uap=Linux"
    _, publisher = handle(
        HttpRequest("POST", "/g/collect", Q + "&uap=macOS&uamb=0", {"sec-ch-ua": '"Chromium";v="1"'}, body)
    )
    first, second = publisher.events
    assert first["client_hints"] == {
        "platform": "macOS",
        "mobile": False,
        "brands": [{"brand": "Chromium", "version": "1"}],
    }
    assert second["client_hints"]["platform"] == "Linux"


def test_event_id_is_stable_for_the_same_hit_and_differs_per_line_and_hit():
    body = b"en=a\r\nen=a"
    _, first = handle(HttpRequest("POST", "/g/collect", Q, body=body))
    _, again = handle(HttpRequest("POST", "/g/collect", Q, body=body))
    _, other = handle(HttpRequest("POST", "/g/collect", Q + "&_s=2", body=body))
    ids = [e["event_id"] for e in first.events]
    assert ids == [e["event_id"] for e in again.events] and ids[0] != ids[1]
    assert not set(ids) & {e["event_id"] for e in other.events}


def test_the_pages_event_id_wins():
    _, publisher = handle(HttpRequest("POST", "/g/collect", Q + "&ep.event_id=browser-123"))
    assert publisher.events[0]["event_id"] == "browser-123"


# -- the server-managed client id cookie ---------------------------------------------------


def test_first_hit_sets_an_fpid_cookie_holding_the_pages_client_id():
    response, publisher = handle(HttpRequest("POST", "/g/collect", Q))
    assert publisher.events[0]["client_id"] == "111.222"
    [cookie] = response.cookies
    assert cookie.startswith("FPID=FPID2.2.111.222;")
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert f"Max-Age={395 * 86400}" in cookie and "Domain" not in cookie


def test_cookie_domain_and_lifetime_are_configurable_up_to_400_days():
    response, _ = handle(
        HttpRequest("POST", "/g/collect", Q), CollectConfig(cookie_domain="example.com", cookie_max_age_days=400)
    )
    assert "Domain=example.com" in response.cookies[0] and f"Max-Age={400 * 86400}" in response.cookies[0]
    # Browsers reduce larger values to 400 days (RFC 6265bis): clamped with a warning, not an error.
    assert CollectConfig(cookie_max_age_days=401).cookie_max_age_days == 400
    with pytest.raises(ValueError):
        CollectConfig(cookie_max_age_days=0)


def test_a_returning_browser_keeps_the_server_id_and_the_pages_id_is_kept_aside():
    response, publisher = handle(HttpRequest("POST", "/g/collect", Q, {"cookie": "_ga=GA1.1.x; FPID=FPID2.2.999.888"}))
    [event] = publisher.events
    assert event["client_id"] == "999.888" and event["x-ga-js_client_id"] == "111.222"
    assert response.cookies[0].startswith("FPID=FPID2.2.999.888;")


def test_no_cookie_is_read_or_set_when_analytics_storage_is_denied():
    response, publisher = handle(HttpRequest("POST", "/g/collect", DENIED, {"cookie": "FPID=FPID2.2.999.888"}))
    # A consent change to denied clears the server cookie the browser still has.
    assert response.status == 204 and response.cookies == ["FPID=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax"]
    assert publisher.events[0]["client_id"] == "111.222" and "x-ga-js_client_id" not in publisher.events[0]


def test_a_batch_with_one_denied_event_sets_no_cookie():
    response, publisher = handle(HttpRequest("POST", "/g/collect", Q, body=b"en=a\r\nen=b&gcs=G100"))
    assert len(publisher.events) == 2 and response.cookies == []


def test_a_malformed_fpid_cookie_is_ignored():
    _, publisher = handle(HttpRequest("POST", "/g/collect", Q, {"cookie": "FPID=garbage; FPID2=x"}))
    assert publisher.events[0]["client_id"] == "111.222"


def test_measurement_protocol_requests_get_no_cookie():
    response, _ = handle(mp_request(), CollectConfig(mp_api_secrets=(SECRET,)))
    assert response.status == 204 and response.cookies == []


# -- debug mode ------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{"x-tagging-debug": TOKEN}, {"cookie": f"a=1; tagging_debug={TOKEN}"}])
def test_a_valid_debug_token_returns_the_events_and_marks_them_debug(headers):
    body = b"en=a\r\nv=9&en=b\r\nen=c"
    response, publisher = handle(HttpRequest("POST", "/g/collect", Q, headers, body), CollectConfig(debug_token=TOKEN))
    assert response.status == 200
    payload = response.json()
    assert payload["debug"] is True
    assert [e["event_name"] for e in payload["events"]] == ["a", "c"] == [e["event_name"] for e in publisher.events]
    assert all(e["debug_mode"] is True for e in publisher.events)
    assert [a["debug"] for a in payload["attributes"]] == ["true", "true"]
    assert payload["attributes"][0]["event_name"] == "a"
    assert payload["rejected"][0]["line"] == 1 and payload["rejected"][0]["reason"] == "unsupported_version"


@pytest.mark.parametrize(
    "config, headers",
    [
        (CollectConfig(debug_token=TOKEN), {"x-tagging-debug": "wrong"}),
        (CollectConfig(debug_token=TOKEN), {}),
        (CollectConfig(), {"x-tagging-debug": ""}),
        (CollectConfig(), {"x-tagging-debug": TOKEN}),
    ],
)
def test_without_a_valid_token_debug_mode_is_off(config, headers):
    response, publisher = handle(HttpRequest("POST", "/g/collect", Q, headers), config)
    assert response.status == 204 and publisher.events[0]["debug_mode"] is False


def test_dbg_alone_sets_debug_mode_but_returns_no_events(capsys):
    response, publisher = handle(HttpRequest("POST", "/g/collect", Q + "&_dbg=1"), CollectConfig(debug_token=TOKEN))
    assert response.status == 204 and response.body == b""
    assert publisher.events[0]["debug_mode"] is True
    assert hit_lines(capsys)[-1]["debug"] is True


def test_the_debug_token_never_reaches_the_log(capsys):
    handle(
        HttpRequest("POST", "/g/collect", Q, {"x-tagging-debug": TOKEN}),
        CollectConfig(debug_token=TOKEN, log_hits=True),
    )
    output = capsys.readouterr().out
    assert TOKEN not in output and '"debug":true' in output


# -- Measurement Protocol ----------------------------------------------------------------------


def mp_request(
    body=None, query=f"measurement_id=G-TEST&api_secret={SECRET}", path="/mp/collect", headers=None
) -> HttpRequest:
    body = (
        body
        if body is not None
        else {"client_id": "5.6", "events": [{"name": "sign_up", "params": {"method": "email"}}]}
    )
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpRequest("POST", path, query, headers or {"content-type": "application/json"}, raw)


def test_mp_with_a_configured_secret_publishes_normalized_events():
    response, publisher = handle(
        mp_request(headers={"user-agent": "server/1", "x-forwarded-for": "192.0.2.5, 10.0.0.1"}),
        CollectConfig(mp_api_secrets=("other", SECRET)),
    )
    assert response.status == 204
    [event] = publisher.events
    assert (event["event_name"], event["client_id"], event["method"], event["source"]) == (
        "sign_up",
        "5.6",
        "email",
        "mp",
    )
    # The MP sender's server is not the visitor: its IP and user agent never reach vendors.
    assert event["x-ga-measurement_id"] == "G-TEST" and "ip_override" not in event and "user_agent" not in event


@pytest.mark.parametrize(
    "config, query, status, reason",
    [
        (CollectConfig(), f"measurement_id=G-TEST&api_secret={SECRET}", 403, "mp_disabled"),
        (CollectConfig(mp_api_secrets=(SECRET,)), "measurement_id=G-TEST&api_secret=nope", 403, "api_secret_invalid"),
        (CollectConfig(mp_api_secrets=(SECRET,)), "measurement_id=G-TEST", 403, "api_secret_invalid"),
        (CollectConfig(mp_api_secrets=(SECRET,)), f"api_secret={SECRET}", 400, "missing_measurement_id"),
        (
            CollectConfig(mp_api_secrets=(SECRET,), allowed_measurement_ids=("G-OTHER",)),
            f"measurement_id=G-TEST&api_secret={SECRET}",
            403,
            "measurement_id_not_allowed",
        ),
    ],
)
def test_mp_refusals(config, query, status, reason):
    response, publisher = handle(mp_request(query=query), config)
    assert response.status == status and response.json()["error"] == reason and publisher.events == []


@pytest.mark.parametrize("raw", [b"not json", b"\xff", b'{"client_id": NaN}'])
def test_mp_unparseable_body_is_400(raw):
    response, _ = handle(mp_request(body=raw), CollectConfig(mp_api_secrets=(SECRET,)))
    assert response.status == 400 and response.json()["error"] == "body_not_json"


def test_mp_request_level_problem_is_400_with_validation_messages():
    response, _ = handle(mp_request(body={"events": [{"name": "a"}]}), CollectConfig(mp_api_secrets=(SECRET,)))
    assert response.status == 400 and response.json()["validationMessages"][0]["fieldPath"] == "client_id"


def test_mp_bad_events_are_reported_and_good_ones_published():
    body = {"client_id": "5.6", "events": [{"name": "ok_one"}, {"name": "first_visit"}, {"name": "ok_two"}]}
    response, publisher = handle(mp_request(body=body), CollectConfig(mp_api_secrets=(SECRET,)))
    assert response.status == 200
    payload = response.json()
    assert (
        payload["accepted"] == 2
        and payload["rejected"][0]["line"] == 1
        and payload["rejected"][0]["reason"] == "name_reserved"
    )
    assert [e["event_name"] for e in publisher.events] == ["ok_one", "ok_two"]


def test_mp_debug_endpoint_validates_like_google_and_publishes_nothing():
    body = {"client_id": "5.6", "events": [{"name": "_badEventName"}]}
    response, publisher = handle(
        mp_request(body=body, path="/debug/mp/collect"), CollectConfig(mp_api_secrets=(SECRET,))
    )
    assert response.status == 200 and publisher.events == []
    assert response.json() == {
        "validationMessages": [
            {
                "fieldPath": "events[0].name",
                "description": "Event at index: [0] has invalid event name [_badEventName]. Names must start with an alphabetic character and contain only alphanumeric characters and underscores.",
                "validationCode": "NAME_INVALID",
            }
        ]
    }
    valid, _ = handle(mp_request(path="/debug/mp/collect"), CollectConfig(mp_api_secrets=(SECRET,)))
    assert valid.json() == {"validationMessages": []}


def test_mp_debug_endpoint_says_when_the_secret_or_body_would_be_refused():
    response, _ = handle(mp_request(body=b"{", path="/debug/mp/collect", query="api_secret=x"))
    assert [m["fieldPath"] for m in response.json()["validationMessages"]] == ["measurement_id", "api_secret", ""]


def test_mp_with_a_debug_token_returns_its_events_marked_debug():
    response, publisher = handle(
        mp_request(headers={"x-tagging-debug": TOKEN}), CollectConfig(mp_api_secrets=(SECRET,), debug_token=TOKEN)
    )
    assert response.status == 200 and response.json()["debug"] is True
    assert response.json()["events"][0]["source"] == "mp" and publisher.events[0]["debug_mode"] is True


def test_mp_is_post_only():
    response, _ = handle(
        HttpRequest("GET", "/mp/collect", f"measurement_id=G-TEST&api_secret={SECRET}"),
        CollectConfig(mp_api_secrets=(SECRET,)),
    )
    assert response.status == 405 and response.headers["Allow"] == "POST, OPTIONS"


# -- guard rails and batches ---------------------------------------------------------------------


def test_one_bad_line_among_good_ones_publishes_the_good_ones_and_reports_the_bad_one(capsys):
    body = b"en=add_to_cart\r\ntid=&en=broken\r\nen=purchase&epn.value=5"
    response, publisher = handle(HttpRequest("POST", "/g/collect", Q, body=body))
    assert response.status == 200
    assert response.json() == {
        "accepted": 2,
        "rejected": [{"line": 1, "reason": "missing_measurement_id", "detail": "tid (measurement ID) is required"}],
        "rejected_count": 1,
        "rejected_reasons": {"missing_measurement_id": 1},
    }
    assert [e["event_name"] for e in publisher.events] == ["add_to_cart", "purchase"]
    [line] = hit_lines(capsys)
    assert line["accepted"] == 2 and line["rejected"][0]["line"] == 1 and line["severity"] == "WARNING"


def test_a_batch_past_the_event_cap_reports_the_extra_lines():
    from shared.collect_app import MAX_GTAG_EVENTS

    body = "\n".join(f"en=e{i}" for i in range(MAX_GTAG_EVENTS + 2)).encode()
    response, publisher = handle(HttpRequest("POST", "/g/collect", Q, body=body))
    assert response.status == 200 and len(publisher.events) == MAX_GTAG_EVENTS == 25
    assert response.json()["rejected"] == [
        {
            "line": MAX_GTAG_EVENTS,
            "reason": "too_many_events",
            "detail": "a request can carry at most 25 events",
            "count": 2,
        }
    ]
    assert response.json()["rejected_count"] == 2


@pytest.mark.parametrize(
    "request_", [HttpRequest("GET", "/g/collect", Q), HttpRequest("GET", "/nope"), HttpRequest("OPTIONS", "/g/collect")]
)
def test_answers_are_never_cacheable(request_):
    response, _ = handle(request_)
    assert response.headers["Cache-Control"] == "no-store"


def test_get_hits_are_accepted():
    response, publisher = handle(HttpRequest("GET", "/g/collect", Q))
    assert response.status == 204 and len(publisher.events) == 1


def test_oversized_bodies_get_413_with_cors_headers():
    config = CollectConfig(allowed_origins=("https://shop.example.com",))
    request = HttpRequest("POST", "/g/collect", Q, {"origin": "https://shop.example.com"}, body_too_large=True)
    response, _ = handle(request, config)
    assert response.status == 413 and response.json()["error"] == "body_too_large"
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"


def test_cors_never_answers_a_wildcard_and_without_an_allow_list_never_credentials():
    response, _ = handle(HttpRequest("POST", "/g/collect", Q, {"origin": "https://any.example"}))
    assert response.headers["Access-Control-Allow-Origin"] == "https://any.example"
    assert "Access-Control-Allow-Credentials" not in response.headers
    allowed = CollectConfig(allowed_origins=("https://any.example",))
    response, _ = handle(HttpRequest("POST", "/g/collect", Q, {"origin": "https://any.example"}), allowed)
    assert response.headers["Access-Control-Allow-Origin"] == "https://any.example"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"


def test_all_lines_with_a_foreign_measurement_id_is_403():
    response, _ = handle(
        HttpRequest("POST", "/g/collect", Q, body=b"en=a\nen=b"), CollectConfig(allowed_measurement_ids=("G-OTHER",))
    )
    assert response.status == 403 and response.json()["accepted"] == 0 and len(response.json()["rejected"]) == 2


def test_missing_event_name_is_400():
    response, _ = handle(HttpRequest("POST", "/g/collect", "v=2&tid=G-TEST&cid=1"))
    assert response.status == 400 and response.json()["error"] == "missing_event_name"


# -- the hit log line ---------------------------------------------------------------------------------


def test_hit_line_fields_without_raw_data_by_default(capsys):
    headers = {"x-forwarded-for": "203.0.113.77", "user-agent": UA}
    handle(HttpRequest("POST", "/g/collect", Q + "&ep.user_data.email=test%40example.com", headers, b"en=a\nen=b"))
    [line] = hit_lines(capsys)
    assert set(line) == {
        "severity",
        "message",
        "time",
        "request_id",
        "path",
        "method",
        "status",
        "accepted",
        "rejected",
        "events",
        "debug",
    }
    assert (line["path"], line["method"], line["status"], line["accepted"], line["rejected"], line["debug"]) == (
        "/g/collect",
        "POST",
        204,
        2,
        [],
        False,
    )
    assert [set(e) for e in line["events"]] == [{"event_id", "event_name", "measurement_id"}] * 2
    assert line["events"][0]["measurement_id"] == "G-TEST"
    text = json.dumps(line)
    assert "203.0.113.77" not in text and "test@example.com" not in text


def test_hit_line_with_log_hits_has_raw_and_normalized(capsys):
    handle(HttpRequest("POST", "/g/collect", Q, body=b"en=a"), CollectConfig(log_hits=True))
    [line] = hit_lines(capsys)
    assert line["raw"] == {"query": Q, "body": "en=a"}
    assert line["normalized"][0]["event"]["event_name"] == "a"
    assert line["normalized"][0]["attributes"]["measurement_id"] == "G-TEST"


def test_mp_api_secret_is_redacted_even_in_local_raw_logs(capsys):
    handle(mp_request(), CollectConfig(mp_api_secrets=(SECRET,), log_hits=True))
    [line] = hit_lines(capsys)
    assert SECRET not in json.dumps(line) and "api_secret=REDACTED" in line["raw"]["query"]


@pytest.mark.parametrize(
    "request_, status, error",
    [
        (HttpRequest("POST", "/nope", Q), 404, "unknown_path"),
        (HttpRequest("DELETE", "/g/collect", Q), 405, "method_not_allowed"),
        (HttpRequest("POST", "/g/collect", Q, body_too_large=True), 413, "body_too_large"),
        (HttpRequest("POST", "/g/collect", "v=2&en=x"), 400, "missing_measurement_id"),
    ],
)
def test_refused_requests_write_a_hit_line_with_an_error(capsys, request_, status, error):
    handle(request_)
    [line] = hit_lines(capsys)
    assert (line["status"], line["accepted"], line["error"]) == (status, 0, error)


def test_publish_failure_is_503_and_logged(capsys):
    response, _ = handle(HttpRequest("POST", "/g/collect", Q), publisher=RecordingPublisher(fail=True))
    assert response.status == 503 and response.cookies == []
    line = hit_lines(capsys)[-1]
    assert (line["status"], line["error"], line["accepted"], line["events"]) == (503, "broker_unavailable", 0, [])


def test_config_from_env(monkeypatch):
    monkeypatch.setenv("ALLOWED_MEASUREMENT_IDS", "G-A, G-B")
    monkeypatch.setenv("ALLOWED_ORIGINS", "https://a.example")
    monkeypatch.setenv("MP_API_SECRETS", "s1,s2")
    monkeypatch.setenv("DEBUG_TOKEN", "t")
    monkeypatch.setenv("COOKIE_DOMAIN", "example.com")
    monkeypatch.setenv("COOKIE_MAX_AGE_DAYS", "30")
    monkeypatch.setenv("LOG_HITS", "1")
    assert CollectConfig.from_env() == CollectConfig(
        ("G-A", "G-B"), ("https://a.example",), ("s1", "s2"), "t", "example.com", 30, True
    )
