"""Collect's request handling: routes, guard rails and batches, with a recording publisher."""

from __future__ import annotations

import asyncio

import pytest

from shared.collect_app import CollectConfig, Collector, HttpRequest
from tests.recording import RecordingPublisher


def handle(request: HttpRequest, publisher=None, config=None):
    publisher = publisher or RecordingPublisher()
    response = asyncio.run(Collector(publisher, config or CollectConfig()).handle(request))
    return response, publisher


Q = "v=2&tid=G-TEST&cid=1.2&en=page_view&dl=https%3A%2F%2Fexample.com%2Fa"


def test_a_single_event_hit_is_published_and_answered_204():
    response, publisher = handle(HttpRequest("POST", "/g/collect", Q))
    assert response.status == 204
    [event] = publisher.events
    assert event["event_name"] == "page_view" and event["client_id"] == "1.2"
    assert event["x-ga-measurement_id"] == "G-TEST" and event["source"] == "gtag"
    assert event["page_location"] == "https://example.com/a"
    assert isinstance(event["timestamp_micros"], int) and event["event_id"]


def test_the_same_hit_twice_has_the_same_event_id():
    first, a = handle(HttpRequest("GET", "/g/collect", Q))
    second, b = handle(HttpRequest("GET", "/g/collect", Q))
    assert a.events[0]["event_id"] == b.events[0]["event_id"]


def test_line_params_override_the_url_and_each_line_is_an_event():
    body = b"en=scroll&dl=https%3A%2F%2Fexample.com%2Fb\r\nen=click\n\n"
    response, publisher = handle(HttpRequest("POST", "/g/collect", Q, body=body))
    assert response.status == 204
    assert [e["event_name"] for e in publisher.events] == ["scroll", "click"]
    assert publisher.events[0]["page_location"] == "https://example.com/b"
    assert publisher.events[1]["page_location"] == "https://example.com/a"


def test_a_bad_line_is_reported_and_the_good_ones_published():
    body = b"en=scroll\r\nv=1&en=old\r\nen=click"
    response, publisher = handle(HttpRequest("POST", "/g/collect", Q, body=body))
    assert response.status == 200
    assert response.json()["accepted"] == 2
    assert response.json()["rejected"][0]["line"] == 1
    assert [e["event_name"] for e in publisher.events] == ["scroll", "click"]


@pytest.mark.parametrize(
    "request_, status, reason",
    [
        (HttpRequest("POST", "/nope", Q), 404, "unknown_path"),
        (HttpRequest("PUT", "/g/collect", Q), 405, "method_not_allowed"),
        (HttpRequest("POST", "/g/collect", Q, body=b"x" * (64 * 1024 + 1)), 413, "body_too_large"),
        (HttpRequest("POST", "/g/collect", "v=2&cid=1&en=x"), 400, "missing_measurement_id"),
        (HttpRequest("POST", "/g/collect", Q, body=b"\xff\xfe"), 400, "body_not_utf8"),
    ],
)
def test_refusals_are_4xx_with_a_json_reason(request_, status, reason):
    response, publisher = handle(request_)
    assert response.status == status
    assert response.json()["error"] == reason
    assert publisher.events == []


def test_measurement_id_not_on_the_allow_list_is_forbidden():
    response, _ = handle(
        HttpRequest("POST", "/g/collect", Q), config=CollectConfig(allowed_measurement_ids=("G-OTHER",))
    )
    assert response.status == 403


def test_broker_down_answers_503_never_2xx():
    response, _ = handle(HttpRequest("POST", "/g/collect", Q), publisher=RecordingPublisher(fail=True))
    assert response.status == 503 and response.json()["error"] == "broker_unavailable"


def test_preflight_echoes_an_allowed_origin_with_credentials():
    request = HttpRequest("OPTIONS", "/g/collect", headers={"origin": "https://shop.example.com"})
    response, _ = handle(request, config=CollectConfig(allowed_origins=("https://shop.example.com",)))
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    denied, _ = handle(
        HttpRequest("OPTIONS", "/g/collect", headers={"origin": "https://evil.example"}),
        config=CollectConfig(allowed_origins=("https://shop.example.com",)),
    )
    assert "Access-Control-Allow-Origin" not in denied.headers
