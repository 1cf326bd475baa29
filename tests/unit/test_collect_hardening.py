"""Collect against hostile traffic (issue 13): each input that broke collect, reproduced.

Every case here answered 500 with a traceback, or fanned out into hundreds of events and
megabytes, before the fix. Bounds follow GA4's own collection limits (shared/ga4/limits.py,
docs/ga4-client.md "Bounds").
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from starlette.requests import Request

from functions.collect import main
from shared.collect_app import CollectConfig, Collector, HttpRequest
from shared.event import encode_event
from shared.ga4 import limits, signature
from tests.recording import RecordingPublisher

Q = "v=2&tid=G-TEST&cid=111.222&en=page_view&dl=https%3A%2F%2Fshop.example.com%2Fa"
LB = {"x-forwarded-for": "203.0.113.7, 10.0.0.1"}  # what the load balancer forwards
SIGNING = "signing-secret-for-tests"
OLD_SIGNING = "previous-signing-secret"


def handle(request: HttpRequest, config: CollectConfig | None = None, publisher=None):
    publisher = publisher or RecordingPublisher()
    response = asyncio.run(Collector(publisher, config or CollectConfig()).handle(request))
    return response, publisher


def log_lines(capsys) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]


# -- no 5xx from input (issue item 2): each listed crash, at its cause ----------------------

CRASHES = [
    pytest.param("GET", "/g/collect", Q + "&_et=%C2%B2", b"", id="non-ascii-digit-engagement-time"),
    pytest.param("GET", "/g/collect", Q + "&sct=" + "9" * 5000, b"", id="5000-digit-session-count"),
    pytest.param("GET", "/g/collect", Q + "&pr%C2%B2=x", b"", id="non-ascii-digit-item-index"),
    pytest.param("GET", "/g/collect", Q + "&ep.user_data.address.%C2%B2=x", b"", id="non-ascii-digit-user-data-key"),
    pytest.param("GET", "/g/collect", Q + "&ep.user_data." + "a." * 1200 + "=x", b"", id="1200-level-user-data-path"),
    pytest.param("POST", "/g/collect", Q, ("epn.value=" + "9" * 5000).encode(), id="5000-digit-value"),
    pytest.param("POST", "/g/collect", Q, ("pr1=id1~k" + "9" * 5000 + "x").encode(), id="5000-digit-custom-item-slot"),
]


@pytest.mark.parametrize("method, path, query, body", CRASHES)
def test_inputs_that_used_to_crash_get_an_answer_below_500_with_a_hit_line(method, path, query, body, capsys):
    response, publisher = handle(HttpRequest(method, path, query, LB, body))
    assert response.status < 500, response.body[:300]
    lines = log_lines(capsys)
    assert any(json.loads(line)["message"] == "hit" for line in lines)
    assert all("Traceback" not in line for line in lines)
    for event in publisher.events:
        assert len(encode_event(event)) <= limits.MAX_EVENT_BYTES


def test_the_crashing_values_are_kept_as_raw_text_not_lost():
    _, publisher = handle(HttpRequest("GET", "/g/collect", Q + "&_et=%C2%B2&sct=" + "9" * 5000, LB))
    [event] = publisher.events
    assert event["engagement_time_msec"] is None and event["x-ga-raw-engagement_time_msec"] == "²"
    assert event["ga_session_number"] is None and len(event["x-ga-raw-ga_session_number"]) <= limits.PARAM_VALUE_CHARS


def test_a_deep_user_data_path_is_kept_verbatim_not_nested():
    _, publisher = handle(
        HttpRequest("GET", "/g/collect", Q + "&ep.user_data." + "a." * 1200 + "b=x&ep.user_data.address.%C2%B2=y", LB)
    )
    [event] = publisher.events
    assert event["user_data"] == {"address": {"²": "y"}}
    assert [key for key in event if key.startswith("x-ga-mp2-ep.user_data.a.a.")]


@pytest.mark.parametrize("path", ["/debug/mp/collect", "/mp/collect"])
def test_deeply_nested_mp_json_is_a_400_or_a_validation_message(path):
    config = CollectConfig(mp_api_secrets=("s",))
    response, publisher = handle(
        HttpRequest("POST", path, "measurement_id=G-T&api_secret=s", {}, b"[" * 50_000), config
    )
    assert response.status in (200, 400) and publisher.events == []
    if path == "/mp/collect":
        assert response.json()["error"] == "body_not_json"
    else:
        assert response.json()["validationMessages"][0]["validationCode"] == "VALUE_INVALID"
    nested = b'{"client_id":"1","events":[{"name":"a","params":{"x":' + b"[" * 100 + b"]" * 100 + b"}}]}"
    response, _ = handle(HttpRequest("POST", path, "measurement_id=G-T&api_secret=s", {}, nested), config)
    assert response.status in (200, 400)


class Exploding:
    async def __call__(self, events):
        raise RuntimeError("a bug with a secret-looking message: api_secret=hunter2")


def test_the_last_resort_answers_a_short_json_500_and_logs_one_short_line(capsys):
    response, _ = handle(HttpRequest("POST", "/g/collect", Q, LB), publisher=Exploding())
    assert response.status == 500
    assert response.json() == {"error": "internal_error", "detail": "the request could not be processed"}
    lines = log_lines(capsys)
    errors = [json.loads(line) for line in lines if json.loads(line)["message"] == "collect internal error"]
    assert len(errors) == 1 and errors[0]["exception"] == "RuntimeError" and errors[0]["at"]
    assert all(len(line) < 1000 and "Traceback" not in line and "hunter2" not in line for line in lines)


# -- bounds (issue item 1) -----------------------------------------------------------------


def test_the_amplification_request_publishes_at_most_the_configured_events_and_bytes(capsys):
    # The 22 KB request: 200 items in the query, 500 body lines.
    items = "&".join(f"pr{i}=id{i}~nmProduct%20{i}~pr10.5~qt1" for i in range(1, 201))
    query = Q + "&" + items
    body = "\n".join(f"en=view_item&ep.n={i}" for i in range(500)).encode()
    assert len(query) + len(body) < 64 * 1024
    response, publisher = handle(HttpRequest("POST", "/g/collect", query, LB, body))
    assert response.status == 200
    assert len(publisher.events) == limits.DEFAULT_MAX_EVENTS
    published = sum(len(encode_event(event)) for event in publisher.events)
    assert published <= limits.DEFAULT_MAX_EVENTS * limits.MAX_EVENT_BYTES
    answer = response.json()
    assert answer["rejected_reasons"] == {"too_many_events": 475} and len(response.body) < 2048
    # The shared items were parsed once for the whole request.
    assert publisher.events[0]["items"][0] is publisher.events[24]["items"][0]
    assert all(len(line) < 8192 for line in log_lines(capsys))


def test_configured_event_cap():
    body = "\n".join("en=a" for _ in range(10)).encode()
    response, publisher = handle(HttpRequest("POST", "/g/collect", Q, LB, body), CollectConfig(max_events=3))
    assert len(publisher.events) == 3 and response.json()["rejected_reasons"] == {"too_many_events": 7}


def test_a_64_kb_body_of_garbage_lines_answers_a_small_summary(capsys):
    response, publisher = handle(HttpRequest("POST", "/g/collect", "", LB, b"a\n" * 32_000))
    assert response.status == 400 and publisher.events == []
    answer = response.json()
    assert answer["rejected_count"] == 32_000 and len(answer["rejected"]) == limits.SHOWN_REJECTIONS
    assert len(response.body) < 2048
    assert all(len(line) < 4096 for line in log_lines(capsys))


def test_a_15000_character_event_name_on_500_lines_is_refused_and_logs_stay_small(capsys):
    body = "\n".join("en=" + "x" * 15_000 for _ in range(4)).encode()
    response, _ = handle(HttpRequest("POST", "/g/collect", Q, LB, body))
    assert response.status == 400 and response.json()["error"] == "event_name_too_long"
    assert all(len(line) < 4096 for line in log_lines(capsys))


def test_values_are_truncated_as_ga4_truncates():
    query = (
        Q.replace("en=page_view", "en=" + "e" * 40)
        + "&dl=https://a.example/"
        + "p" * 2000
        + "&dt="
        + "t" * 400
        + "&dr="
        + "r" * 500
    )
    query += (
        "&ep.note=" + "n" * 300 + "&up.tier=" + "u" * 50 + "&pr1=id" + "i" * 300 + "~nmShort&x_unknown=" + "z" * 3000
    )
    _, publisher = handle(HttpRequest("GET", "/g/collect", query, LB))
    [event] = publisher.events
    assert len(event["event_name"]) == 40
    assert (
        len(event["page_location"]) == 1000 and len(event["page_title"]) == 300 and len(event["page_referrer"]) == 420
    )
    assert len(event["note"]) == 100 and len(event["user_properties"]["tier"]) == 36
    assert len(event["items"][0]["item_id"]) == 100 and event["items"][0]["item_name"] == "Short"
    assert len(event["x-ga-mp2-x_unknown"]) == 1000


def test_an_overlong_query_is_414():
    response, _ = handle(HttpRequest("GET", "/g/collect", Q + "&x=" + "a" * limits.MAX_QUERY_CHARS, LB))
    assert response.status == 414 and response.json()["error"] == "query_too_long"


def test_an_event_over_the_encoded_size_limit_is_refused_and_the_others_kept():
    huge = "&".join(f"ep.p{i}=" + "v" * 100 for i in range(400))
    response, publisher = handle(HttpRequest("POST", "/g/collect", Q, LB, f"en=small\n{huge}&en=huge".encode()))
    assert response.status == 200 and [e["event_name"] for e in publisher.events] == ["small"]
    assert response.json()["rejected"][0]["reason"] == "event_too_large"


def test_mp_validation_messages_are_summarized():
    events = [{"name": "e", "params": {f"p{i}": "v" * 101 for i in range(20)}} for _ in range(25)]
    body = json.dumps({"client_id": "1", "events": events}).encode()
    response, _ = handle(HttpRequest("POST", "/debug/mp/collect", "measurement_id=G-T", {}, body))
    answer = response.json()
    assert (
        len(answer["validationMessages"]) == limits.SHOWN_VALIDATION_MESSAGES
        and answer["validationMessages_count"] >= 500
    )
    assert len(response.body) < 8192


# -- trusted client context (issue item 3) -------------------------------------------------


def test_a_client_chosen_forwarded_for_does_not_reach_vendors():
    # The load balancer appends "<client>,<lb>" to the client's own header.
    headers = {"x-forwarded-for": "8.8.8.8, 203.0.113.7, 10.0.0.1"}
    _, publisher = handle(HttpRequest("GET", "/g/collect", Q, headers))
    assert publisher.events[0]["ip_override"] == "203.0.113.7"
    _, publisher = handle(
        HttpRequest("GET", "/g/collect", Q, {"x-forwarded-for": "8.8.8.8, 203.0.113.7"}),
        CollectConfig(trusted_proxy_hops=0),
    )
    assert publisher.events[0]["ip_override"] == "203.0.113.7"


def test_geo_headers_count_only_with_the_edge_secret():
    geo = {**LB, "x-client-geo-country": "DE", "x-client-geo-city": "munich"}
    config = CollectConfig(edge_auth_secrets=("old-edge", "edge-secret"))
    for headers in (geo, {**geo, "x-edge-auth": "wrong"}):
        _, publisher = handle(HttpRequest("GET", "/g/collect", Q, headers), config)
        assert "event_location" not in publisher.events[0]
    _, publisher = handle(HttpRequest("GET", "/g/collect", Q, {**geo, "x-edge-auth": "edge-secret"}), config)
    assert publisher.events[0]["event_location"] == {"country": "DE", "city": "munich"}
    _, publisher = handle(HttpRequest("GET", "/g/collect", Q, {**geo, "x-edge-auth": ""}), CollectConfig())
    assert "event_location" not in publisher.events[0]


def mp_body(**extra) -> bytes:
    return json.dumps({"client_id": "5.6", "events": [{"name": "sign_up"}], **extra}).encode()


def test_mp_events_carry_only_the_ip_and_user_agent_the_sender_supplied():
    config = CollectConfig(mp_api_secrets=("s",))
    headers = {**LB, "user-agent": "python-requests/2"}
    _, publisher = handle(
        HttpRequest("POST", "/mp/collect", "measurement_id=G-T&api_secret=s", headers, mp_body()), config
    )
    assert "ip_override" not in publisher.events[0] and "user_agent" not in publisher.events[0]
    body = mp_body(ip_override="198.51.100.9", user_agent="Visitor UA")
    _, publisher = handle(HttpRequest("POST", "/mp/collect", "measurement_id=G-T&api_secret=s", headers, body), config)
    assert (publisher.events[0]["ip_override"], publisher.events[0]["user_agent"]) == ("198.51.100.9", "Visitor UA")


# -- signed server-to-server requests (issue item 5) ---------------------------------------


def signed(body: bytes, secret: str = SIGNING, at: int | None = None) -> dict[str, str]:
    return {"x-signature": signature.sign(secret.encode(), body, int(time.time()) if at is None else at)}


def test_a_signed_mp_request_needs_no_api_secret_and_cannot_be_replayed():
    config = CollectConfig(mp_signing_secrets=(SIGNING, OLD_SIGNING))
    collector = Collector(RecordingPublisher(), config)
    body = mp_body()
    headers = signed(body)
    first = asyncio.run(collector.handle(HttpRequest("POST", "/mp/collect", "measurement_id=G-T", headers, body)))
    assert first.status == 204
    again = asyncio.run(collector.handle(HttpRequest("POST", "/mp/collect", "measurement_id=G-T", headers, body)))
    assert again.status == 401 and again.json()["error"] == "signature_replayed"
    rotated = asyncio.run(
        collector.handle(HttpRequest("POST", "/mp/collect", "measurement_id=G-T", signed(body, OLD_SIGNING), body))
    )
    assert rotated.status == 204


@pytest.mark.parametrize(
    "headers, reason",
    [
        (lambda body: signed(body, at=int(time.time()) - 301), "signature_expired"),
        (lambda body: signed(body, at=int(time.time()) + 301), "signature_expired"),
        (lambda body: signed(body + b" "), "signature_invalid"),
        (lambda body: signed(body, "another-secret"), "signature_invalid"),
        (lambda body: {"x-signature": "v1=abc"}, "signature_malformed"),
    ],
)
def test_bad_signatures_are_401(headers, reason):
    body = mp_body()
    response, publisher = handle(
        HttpRequest("POST", "/mp/collect", "measurement_id=G-T", headers(body), body),
        CollectConfig(mp_signing_secrets=(SIGNING,)),
    )
    assert response.status == 401 and response.json()["error"] == reason and publisher.events == []


def test_a_signed_gtag_request_may_set_the_visitors_ip_and_user_agent():
    query = Q + "&_uip=198.51.100.4&ep.user_agent=Visitor%20UA"
    config = CollectConfig(mp_signing_secrets=(SIGNING,))
    _, publisher = handle(HttpRequest("POST", "/g/collect", query, {**LB, **signed(b"")}, b""), config)
    assert (publisher.events[0]["ip_override"], publisher.events[0]["user_agent"]) == ("198.51.100.4", "Visitor UA")


# -- CORS and debug (issue item 6) ------------------------------------------------------------


def test_the_debug_cookie_counts_only_from_an_allowed_origin():
    config = CollectConfig(debug_token="tok", allowed_origins=("https://shop.example.com",))
    cookie = {"cookie": "tagging_debug=tok"}
    evil, _ = handle(HttpRequest("POST", "/g/collect", Q, {**LB, **cookie, "origin": "https://evil.example"}), config)
    assert evil.status == 204
    shop, _ = handle(
        HttpRequest("POST", "/g/collect", Q, {**LB, **cookie, "origin": "https://shop.example.com"}), config
    )
    assert shop.status == 200 and shop.json()["debug"] is True
    unlisted, _ = handle(
        HttpRequest("POST", "/g/collect", Q, {**LB, **cookie, "origin": "https://shop.example.com"}),
        CollectConfig(debug_token="tok"),
    )
    assert unlisted.status == 204


def call_adapter(pieces: list[bytes], delay: float) -> tuple[int, dict]:
    async def run():
        queue = list(pieces)

        async def receive():
            if not queue:
                return {"type": "http.disconnect"}
            await asyncio.sleep(delay)
            piece = queue.pop(0)
            return {"type": "http.request", "body": piece, "more_body": bool(queue)}

        scope = {
            "type": "http",
            "method": "POST",
            "path": "/g/collect",
            "query_string": Q.encode(),
            "root_path": "",
            "headers": [],
            "client": ("192.0.2.9", 5555),
            "server": ("127.0.0.1", 8080),
            "scheme": "http",
            "http_version": "1.1",
        }
        response = await main.collect(Request(scope, receive))
        return response.status_code, json.loads(response.body or b"{}")

    return asyncio.run(run())


def test_a_slow_body_is_cut_at_the_read_deadline(monkeypatch):
    publisher = RecordingPublisher()
    monkeypatch.setattr(main, "_collector", Collector(publisher, CollectConfig()))
    monkeypatch.setattr(main, "_body_deadline", 0.3)
    started = time.monotonic()
    status, payload = call_adapter([b"e", b"n", b"=", b"a"] * 10, delay=0.1)
    assert status == 408 and payload["error"] == "body_timeout" and publisher.events == []
    assert time.monotonic() - started < 2
    status, _ = call_adapter([b"en=a"], delay=0.01)
    assert status == 204


def test_header_borne_bulk_counts_towards_the_event_size():
    headers = {**LB, "cookie": "_fbp=" + "f" * 40_000, "sec-ch-ua": ", ".join(f'"B{i}";v="{i}"' for i in range(10))}
    response, publisher = handle(HttpRequest("GET", "/g/collect", Q, headers))
    assert response.status == 400 and response.json()["error"] == "event_too_large" and publisher.events == []
