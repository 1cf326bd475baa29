"""The inspector's log tailing and HTTP server (page, snapshot, Server-Sent Events), on real files
and a real socket; the browser test drives the same server from Chromium."""

from __future__ import annotations

import json
import time

import pytest
import requests

from devstack.inspector import Inspector
from devstack.inspector.sources import LogFollower


def append(path, *records, raw: str = ""):
    with open(path, "a") as handle:
        handle.write(raw)
        for record in records:
            handle.write(json.dumps(record) + "\n")


def read_frames(response, count, timeout=20.0):
    """The next ``count`` SSE frames as (event, data) pairs."""
    frames, event, deadline = [], None, time.monotonic() + timeout
    for line in response.iter_lines(chunk_size=1, decode_unicode=True):
        if time.monotonic() > deadline:
            break
        if line.startswith("event: "):
            event = line[len("event: ") :]
        elif line.startswith("data: ") and event:
            frames.append((event, json.loads(line[len("data: ") :])))
            event = None
            if len(frames) == count:
                return frames
    raise AssertionError(f"got {frames}, wanted {count} frames")


def test_follower_reads_appended_lines_only_whole_and_survives_truncation(tmp_path):
    log = tmp_path / "collect.log"
    append(log, {"message": "old run"})
    seen = []
    follower = LogFollower({"collect": log, "vendor-x": tmp_path / "not-yet.log"}, lambda s, r: seen.append((s, r)))
    assert follower.poll_once() == 0  # what was there before start() is a previous run
    append(log, {"message": "hit", "n": 1}, raw=" * Running on http://127.0.0.1\n")
    with open(log, "a") as handle:
        handle.write('{"message": "hit", "n"')  # a line still being written
    assert follower.poll_once() == 1
    with open(log, "a") as handle:
        handle.write(": 2}\n")
    append(tmp_path / "not-yet.log", {"message": "delivery"})
    assert follower.poll_once() == 2
    assert [r.get("n") for _, r in seen] == [1, 2, None]
    assert seen[-1][0] == "vendor-x"
    log.write_text(json.dumps({"message": "after truncation"}) + "\n")
    assert follower.poll_once() == 1 and seen[-1][1]["message"] == "after truncation"


@pytest.fixture
def inspector(tmp_path):
    logs = {"collect": tmp_path / "collect.log", "vendor-webhook": tmp_path / "vendor-webhook.log"}
    with Inspector(logs, ["webhook"], collect_url="http://127.0.0.1:1") as running:
        running.logs = logs
        yield running


def test_page_and_static_files_are_served_and_nothing_else(inspector):
    assert inspector.url.startswith("http://127.0.0.1:")
    page = requests.get(inspector.page_url, timeout=5)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "Tagging inspector" in page.text
    script = requests.get(inspector.url + "static/app.js", timeout=5)
    assert script.status_code == 200 and "EventSource" in script.text
    for path in ("static/../server.py", "static/%2e%2e/server.py", "nope"):
        response = requests.get(inspector.url + path, params={"token": inspector.token}, timeout=5)
        assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_the_stream_starts_with_the_state_and_pushes_each_change(inspector):
    append(
        inspector.logs["collect"],
        {
            "message": "hit",
            "request_id": "r1",
            "status": 204,
            "time": 1.0,
            "events": [{"event_id": "e1", "event_name": "page_view"}],
        },
    )
    deadline = time.monotonic() + 20
    token = {"token": inspector.token}
    while (
        not requests.get(inspector.url + "api/state", params=token, timeout=5).json()["hits"]
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    with requests.get(inspector.url + "api/stream", params=token, stream=True, timeout=30) as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        ((kind, snapshot),) = read_frames(stream, 1)
        assert kind == "snapshot"
        assert snapshot["vendors"] == ["webhook"] and snapshot["collect_url"] == "http://127.0.0.1:1"
        assert [h["id"] for h in snapshot["hits"]] == ["req-r1"]
        append(
            inspector.logs["vendor-webhook"],
            {
                "message": "delivery",
                "vendor": "webhook",
                "event_id": "e1",
                "event_name": "page_view",
                "outcome": "delivered",
                "attempt": 1,
            },
        )
        ((kind, hit),) = read_frames(stream, 1)
    assert kind == "hit" and hit["id"] == "req-r1"
    assert hit["events"][0]["vendors"]["webhook"]["outcome"] == "delivered"


def test_the_page_and_its_api_need_the_runs_token_and_a_loopback_host(inspector):
    # DNS rebinding: a page of evil.example re-pointed at 127.0.0.1 sends its own Host.
    for path in ("", "api/state", "api/stream", "static/app.js"):
        rebound = requests.get(
            inspector.url + path, params={"token": inspector.token}, headers={"Host": "evil.example:8090"}, timeout=5
        )
        assert rebound.status_code == 403 and rebound.json()["error"] == "host_not_loopback"
    for path in ("", "api/state", "api/stream"):
        for params in ({}, {"token": "guess"}, {"token": inspector.token[:-1]}):
            response = requests.get(inspector.url + path, params=params, timeout=5)
            assert response.status_code == 403 and response.json()["error"] == "token_required"
    assert (
        requests.get(inspector.url + "api/state", headers={"X-Inspector-Token": inspector.token}, timeout=5).status_code
        == 200
    )
    for host in ("localhost", "127.0.0.1:1", "[::1]:8090"):
        assert requests.get(inspector.page_url, headers={"Host": host}, timeout=5).status_code == 200
    assert inspector.page_url == f"{inspector.url}?token={inspector.token}" and len(inspector.token) >= 32


def test_an_inspector_that_never_started_stops_at_once_and_frees_its_port(tmp_path):
    inspector = Inspector({"collect": tmp_path / "collect.log"}, [])
    port = inspector.port
    inspector.stop()
    inspector.stop()
    again = Inspector({"collect": tmp_path / "collect.log"}, [], port=port)
    again.stop()


def test_secret_values_come_from_every_secret_looking_variable_of_the_stack(monkeypatch):
    from types import SimpleNamespace

    from devstack.config import VendorConfig
    from devstack.inspector.server import secret_values

    monkeypatch.setenv("META_ACCESS_TOKEN", "meta-token-value")
    monkeypatch.setenv("GA4_CUSTOM_KEY", "declared-secret-value")
    stack = SimpleNamespace(
        collect_env={
            "DEBUG_TOKEN": "debug-token-value",
            "MP_API_SECRETS": "first-secret,second-secret",
            "LOG_HITS": "1",
        },
        vendor_env={"ga4": {"GA4_API_SECRET": "ga4-secret-value", "GA4_MEASUREMENT_ID": "G-123456"}},
        vendor_configs=[VendorConfig("ga4", secrets=("CUSTOM_KEY",))],
    )
    values = secret_values(stack)
    for expected in (
        "meta-token-value",
        "declared-secret-value",
        "debug-token-value",
        "first-secret",
        "second-secret",
        "ga4-secret-value",
    ):
        assert expected in values
    assert "G-123456" not in values and "1" not in values
