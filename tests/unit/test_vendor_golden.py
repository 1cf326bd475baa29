"""Golden tests for every vendor folder (rudder-transformer style), from tests/golden/vendors/.

``<vendor>/requests.json``: normalized event + settings → the exact HTTP request (URL,
headers, JSON body), or the gate's outcome and reason. ``<vendor>/responses.json``: the
vendor's answer, from a real local HTTP server (or a timeout, or a refused connection) →
the delivery outcome, the ack Pub/Sub gets and the log line's reason.
"""

from __future__ import annotations

import base64
import copy
import importlib
import itertools
import json
import time
from pathlib import Path
from typing import Any

import pytest

from devstack.mock_vendor import MockVendor, Reply
from devstack.processes import free_port
from shared.event import encode_event

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "vendors"
EVENTS = json.loads((GOLDEN / "events.json").read_text())["events"]
_message_ids = itertools.count(1)


def vendor_names() -> list[str]:
    return sorted(p.name for p in GOLDEN.iterdir() if (p / "requests.json").is_file())


def load_vendor(name: str):
    return importlib.import_module(f"functions.vendors.{name}.main").VENDOR


def resolve_event(case: dict[str, Any]) -> dict[str, Any]:
    """``"event"`` names an event of events.json or is one; ``"event_patch"`` changes keys
    (``null`` removes one)."""
    source = case["event"]
    event = copy.deepcopy(EVENTS[source] if isinstance(source, str) else source)
    for key, value in (case.get("event_patch") or {}).items():
        if value is None:
            event.pop(key, None)
        else:
            event[key] = value
    return event


def _cases(file_name: str) -> list:
    params = []
    for vendor in vendor_names():
        path = GOLDEN / vendor / file_name
        if not path.is_file():
            continue
        spec = json.loads(path.read_text())
        for case in spec["cases"]:
            params.append(pytest.param(vendor, spec, case, id=f"{vendor}:{case['name']}"))
    return params


@pytest.mark.parametrize("vendor, spec, case", _cases("requests.json"))
def test_event_maps_to_the_exact_request(vendor, spec, case):
    plan = load_vendor(vendor).plan(
        resolve_event(case), {**spec["settings"], **case.get("settings", {})}, case.get("attributes"), now=spec["now"]
    )
    got: dict[str, Any] = {}
    if plan.attempt is not None:
        got["outcome"] = plan.attempt.outcome.value
        got["reason"] = plan.attempt.reason
    if plan.request is not None:
        got["request"] = plan.request.as_dict()
    got["debug"] = plan.debug
    detail = plan.attempt.detail if plan.attempt is not None else ""
    assert got == case["expected"], detail


def test_every_vendor_has_golden_requests_for_the_core_events():
    core = {"page_view", "view_item", "add_to_cart", "begin_checkout", "purchase", "generate_lead", "sign_up", "search"}
    for vendor in ("ga4", "meta", "tiktok"):
        spec = json.loads((GOLDEN / vendor / "requests.json").read_text())
        sent = {
            c["event"]
            for c in spec["cases"]
            if isinstance(c["event"], str)
            and "request" in c["expected"]
            and "outcome" not in c["expected"]
            and not c.get("event_patch")
            and not c.get("settings")
        }
        assert core <= sent, f"{vendor} lacks golden requests for {sorted(core - sent)}"


def test_analytics_vendors_have_golden_requests_and_cite_their_docs():
    core = {"page_view", "view_item", "add_to_cart", "purchase", "sign_up"}
    for vendor in ("mixpanel", "amplitude", "segment"):
        for file_name in ("requests.json", "responses.json"):
            spec = json.loads((GOLDEN / vendor / file_name).read_text())
            for case in spec["cases"]:
                assert case.get("transport") or case.get("doc"), f"{vendor}/{file_name}: {case['name']} cites no doc"
        spec = json.loads((GOLDEN / vendor / "requests.json").read_text())
        sent = {c["event"] for c in spec["cases"] if "request" in c["expected"] and "outcome" not in c["expected"]}
        assert core <= sent, f"{vendor} lacks golden requests for {sorted(core - sent)}"


def test_ad_vendors_of_issue_17_have_golden_requests_and_cite_their_docs():
    core = {"page_view", "view_item", "add_to_cart", "begin_checkout", "purchase", "generate_lead", "sign_up"}
    for vendor in ("snapchat", "pinterest", "reddit", "linkedin", "microsoft", "googleads"):
        for file_name in ("requests.json", "responses.json"):
            spec = json.loads((GOLDEN / vendor / file_name).read_text())
            for case in spec["cases"]:
                assert case.get("doc"), f"{vendor}/{file_name}: {case['name']} cites no doc"
        spec = json.loads((GOLDEN / vendor / "requests.json").read_text())
        sent = {c["event"] for c in spec["cases"] if "request" in c["expected"] and "outcome" not in c["expected"]
                and not c.get("settings")}
        assert core <= sent, f"{vendor} lacks golden requests for {sorted(core - sent)}"


@pytest.fixture
def google_token_server(monkeypatch, tmp_path):
    """A local GCE metadata server behind google-auth's real default-credentials path, for
    vendors that authenticate as the function's own service account (``"google_token": true``
    in responses.json): the same calls Cloud Run's metadata server answers."""
    import google.auth.compute_engine._metadata as metadata_module

    def answer(request):
        flavor = {"Metadata-Flavor": "Google"}
        if "/service-accounts/default/token" in request.path:
            return Reply(200, body={"access_token": "test-google-access", "expires_in": 3600, "token_type": "Bearer"},
                         headers=flavor)
        return Reply(200, body={"email": "googleads@p.iam.gserviceaccount.com", "aliases": ["default"]}, headers=flavor)

    with MockVendor() as server:
        server.responder = answer
        host = server.url.removeprefix("http://")
        for key, value in (("GCE_METADATA_HOST", host), ("GCE_METADATA_IP", host), ("HOME", str(tmp_path))):
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
        importlib.reload(metadata_module)  # google-auth reads the metadata address at import
        yield server
    monkeypatch.undo()
    importlib.reload(metadata_module)


@pytest.fixture(scope="module")
def vendor_server():
    """One real HTTP server for all response cases; each case sets its answer."""
    with MockVendor() as server:
        yield server


def _push_body(event: dict[str, Any]) -> bytes:
    message = {
        "data": base64.b64encode(encode_event(event)).decode(),
        "attributes": {},
        "messageId": f"golden-{next(_message_ids)}",
    }
    return json.dumps({"message": message, "subscription": "projects/p/subscriptions/golden"}).encode()


def _reply(raw: dict[str, Any]) -> Reply:
    body = raw.get("body", "")
    return Reply(
        status=raw["status"], body=body.encode() if isinstance(body, str) else body, headers=raw.get("headers", {})
    )


@pytest.mark.parametrize("vendor, spec, case", _cases("responses.json"))
def test_vendor_answer_maps_to_the_outcome(vendor, spec, case, monkeypatch, capsys, vendor_server, request):
    declared = load_vendor(vendor)
    prefix = vendor.upper()
    if spec.get("google_token"):
        token_server = request.getfixturevalue("google_token_server")
        declared.auth.reset()
    for key, value in spec["settings"].items():
        monkeypatch.setenv(f"{prefix}_{key}", value)
    monkeypatch.setenv("SECRETS_BACKEND", "env")
    monkeypatch.setenv("LOG_REQUESTS", "1")
    event = resolve_event({"event": spec["event"]})
    # A fresh, recent timestamp: the age gate must not decide these cases.
    event["timestamp_micros"] = int(time.time() * 1_000_000)
    event["event_id"] = f"golden-{next(_message_ids)}"
    transport = case.get("transport")
    received: list = []
    if transport == "refused":
        monkeypatch.setenv("VENDOR_API_BASE", f"http://127.0.0.1:{free_port()}")  # nothing listens there
        status, payload = declared.handle_push(_push_body(event))
    else:
        server = vendor_server
        server.received.clear()
        if transport == "timeout":
            server.default = Reply(200, delay=2.0)
            monkeypatch.setenv(f"{prefix}_TIMEOUT_SECONDS", "0.3")
        else:
            server.default = _reply(case["reply"])
        monkeypatch.setenv("VENDOR_API_BASE", server.url)
        status, payload = declared.handle_push(_push_body(event))
        received = list(server.received)
    if spec.get("google_token"):
        assert token_server.received, "the Google token was not minted through google-auth"
    line = [json.loads(ln) for ln in capsys.readouterr().out.splitlines() if ln.startswith("{")][-1]
    expected = case["expected"]
    assert line["message"] == "delivery" and line["vendor"] == vendor
    assert (line["outcome"], line["reason"], line["http_status"]) == (
        expected["outcome"],
        expected["reason"],
        expected["http_status"],
    )
    assert status == (200 if expected["ack"] else 503) and payload["outcome"] == expected["outcome"]
    if "severity" in expected:
        assert line["severity"] == expected["severity"]
    if "detail_contains" in expected:
        assert expected["detail_contains"] in line.get("detail", "")
    if transport is None:
        # The request reached the mock through VENDOR_API_BASE, and the log line redacted it.
        assert len(received) == 1
        assert line["response"]["status"] == expected["http_status"]
        assert "test-" not in json.dumps(line["request"]), "a secret leaked into the log line"
        if declared.auth is not None:
            assert received[0].headers["authorization"].startswith("Bearer test-"), "the runtime's token was not sent"


@pytest.mark.parametrize("vendor", ["meta", "tiktok"])
def test_every_meta_and_tiktok_case_cites_the_vendor_doc(vendor):
    # Goldens encode the vendor's documentation: each case names the page it follows.
    for file_name in ("requests.json", "responses.json"):
        for case in json.loads((GOLDEN / vendor / file_name).read_text())["cases"]:
            assert str(case.get("doc", "")).startswith("https://"), f"{vendor}/{file_name}: {case['name']}"
