"""Round trip over every real hit: the browser's request → collect (the real Starlette app)
→ normalized event → the ``/g/collect`` request the ``ga4`` function sends.

The oracle is the browser's own request, decoded independently with the standard library:
each event's parameters are the query overlaid with its body line (the merge rule of the
gtag protocol, docs: tests/fixtures and ../shared/reference/ga4-protocol.md §2; Stape's GA4
tag re-emits the same parameters, https://github.com/stape-io/ga4-advanced-tag). Google
receives every one of them with the same decoded text, plus ``_uip`` (the visitor's IP) and
the browser's User-Agent; only ``richsstsse`` (server-container only) may be left out.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from starlette.requests import Request

from functions.collect import main as collect_main
from functions.vendors.ga4.main import VENDOR
from shared.collect_app import CollectConfig, Collector

HITS = [
    json.loads(line)
    for line in (Path(__file__).parents[1] / "fixtures" / "ga4-real-hits.jsonl").read_text().splitlines()
    if line.strip()
]
USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/136.0.0.0 Safari/537.36"
)
VISITOR_IP = "198.51.100.23"


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict] = []

    async def __call__(self, events):
        self.events.extend(events)
        return [str(i) for i in range(len(events))]


def collect(hit: dict, monkeypatch) -> list[dict]:
    """The events collect publishes for ``hit``, through the real Starlette entry point."""
    recorder = Recorder()
    monkeypatch.setattr(collect_main, "_collector", Collector(recorder, CollectConfig()))
    body = hit["body"].encode()
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    headers = {
        "user-agent": USER_AGENT,
        "x-forwarded-for": f"{VISITOR_IP}, 10.0.0.1",
        "content-type": "text/plain;charset=UTF-8",
    }
    scope = {
        "type": "http",
        "method": hit["method"],
        "path": hit["path"],
        "query_string": hit["query"].encode(),
        "root_path": "",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "client": ("10.0.0.1", 5555),
        "server": ("127.0.0.1", 8080),
        "scheme": "http",
        "http_version": "1.1",
    }
    response = asyncio.run(collect_main.collect(Request(scope, receive)))
    assert response.status_code in (200, 204), response.body
    return recorder.events


def browser_events(hit: dict) -> list[dict[str, str]]:
    """Each event of the browser's request: the query overlaid with its line (line wins)."""
    shared = dict(parse_qsl(hit["query"], keep_blank_values=True))
    lines = [line.strip() for line in hit["body"].splitlines() if line.strip()]
    if not lines:
        return [shared]
    return [{**shared, **dict(parse_qsl(line, keep_blank_values=True))} for line in lines]


def sent_params(request) -> dict[str, str]:
    """What Google decodes from our request: the query overlaid with the body line."""
    params = dict(parse_qsl(urlsplit(request.url).query, keep_blank_values=True))
    if request.json:
        assert "\n" not in request.json, "one event per request"
        params.update(parse_qsl(request.json, keep_blank_values=True))
    return params


def plan(event: dict, **settings: str):
    return VENDOR.plan(event, {"MEASUREMENT_ID": "", **settings})


CASES = [pytest.param(i, id=f"hit{i}") for i in range(len(HITS))]


@pytest.mark.parametrize("index", CASES)
def test_every_parameter_of_the_browsers_event_reaches_google_unchanged(index, monkeypatch):
    hit = HITS[index]
    events = collect(hit, monkeypatch)
    expected_events = browser_events(hit)
    assert len(events) == len(expected_events)
    for event, browser in zip(events, expected_events, strict=True):
        result = plan(event, MEASUREMENT_ID=event["x-ga-measurement_id"])
        assert result.attempt is None, result.attempt
        request = result.request
        assert request.method == "POST"
        assert request.url.startswith("https://www.google-analytics.com/g/collect?")
        assert request.headers == {"Content-Type": "text/plain;charset=UTF-8", "User-Agent": USER_AGENT}
        expected = {k: v for k, v in browser.items() if k != "richsstsse"}
        expected["_uip"] = VISITOR_IP
        if result.debug and "_dbg" not in expected:
            expected["_dbg"] = "1"
        got = sent_params(request)
        missing = {k: v for k, v in expected.items() if got.get(k) != v}
        extra = sorted(set(got) - set(expected))
        assert (missing, extra) == ({}, []), {k: got.get(k) for k in missing}


def test_the_fixtures_cover_batches_gets_consent_and_debug():
    assert any(len(browser_events(h)) > 1 for h in HITS)
    assert any(h["method"] == "GET" for h in HITS)
    assert any(e.get("gcs") == "G100" for h in HITS for e in browser_events(h))
    assert any(e.get("_dbg") == "1" for h in HITS for e in browser_events(h))
