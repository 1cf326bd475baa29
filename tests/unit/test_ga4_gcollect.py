"""GA4's two paths beyond the plain round trip: awkward wire values, rules that change the
event, consent, IP redaction, the EU origin, long hits, debug answers and the Measurement
Protocol limits.

Docs: the gtag wire protocol (tests/fixtures, ../shared/reference/ga4-protocol.md §2-§5;
https://github.com/stape-io/ga4-advanced-tag re-emits it to /g/collect with ``_uip``);
consent mode's cookieless pings
(https://developers.google.com/tag-platform/security/concepts/consent-mode); the
Measurement Protocol's limits
(https://developers.google.com/analytics/devguides/collection/protocol/ga4/sending-events).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from devstack.mock_vendor import MockVendor, Reply
from functions.vendors.ga4.main import VENDOR
from shared.event import encode_event
from shared.ga4 import mp_validation
from tests.unit.test_ga4_gcollect_roundtrip import HITS, VISITOR_IP, browser_events, collect, plan, sent_params

GOLDEN = Path(__file__).parents[1] / "golden" / "vendors" / "ga4" / "requests.json"

# Values whose parsed form does not print back the same, flags without "=", duplicates,
# empty values, unknown keys, custom and unknown item fields, double-encoded client hints.
EDGE_QUERY = "&".join(
    [
        "v=2",
        "tid=G-EDGE",
        "cid=1.2",
        "sid=1730000000",
        "sct=02",
        "en=purchase",
        "ep.value=1150.00",
        "epn.tax=08",
        "_et=NaN",
        "epn.shipping=-330",
        "epn.percent=1.600000023841858",
        "cu=EUR",
        "pr1=idA~nmTee%20~pr10.50~qt01~k0color~v0red~zzodd",
        "pr3=",
        "pr2=idB~pr5",
        "up.tier=gold",
        "upn.ltv=12.0",
        "sst.tft=1",
        "uafvl=Google%2520Chrome%3B119%7CNot%253FA_Brand%3B24",
        "uamb=0",
        "uaw=1",
        "uap=macOS",
        "ck=term1",
        "ep.empty=",
        "unknown_flag",
        "_ee=1",
        "dup=1",
        "dup=2",
        "gcs=G111",
        "gcd=13r3r3r2r5l1",
        "_p=1712887260750",
        "tfd=0042",
        "dl=https%3A%2F%2Fshop.example%2Fa%3Fb%3Dc%2Bd",
        "richsstsse",
    ]
)


def edge_hit(query: str = EDGE_QUERY, body: str = "") -> dict:
    return {"method": "POST", "path": "/g/collect", "query": query, "body": body}


def golden_event(name: str) -> dict:
    """An event of tests/golden/vendors/events.json, stamped now (the age gate is not under test)."""
    event = copy.deepcopy(json.loads((GOLDEN.parent.parent / "events.json").read_text())["events"][name])
    event["timestamp_micros"] = int(time.time() * 1_000_000)
    return event


def one_event(hit: dict, monkeypatch) -> dict:
    [event] = collect(hit, monkeypatch)
    return event


def request_for(event: dict, **settings: str):
    result = plan(event, MEASUREMENT_ID=event["x-ga-measurement_id"], **settings)
    assert result.attempt is None, result.attempt
    return result.request


def test_awkward_values_reach_google_with_the_browsers_text(monkeypatch):
    hit = edge_hit()
    event = one_event(hit, monkeypatch)
    [browser] = browser_events(hit)
    sent = sent_params(request_for(event))
    expected = {k: v for k, v in browser.items() if k != "richsstsse"}
    assert sent == {**expected, "_uip": VISITOR_IP}
    # The same text, not a reprint of the parsed number.
    assert (sent["ep.value"], sent["epn.tax"], sent["_et"], sent["_p"], sent["sct"]) == (
        "1150.00",
        "08",
        "NaN",
        "1712887260750",
        "02",
    )
    assert sent["pr1"] == "idA~nmTee ~pr10.50~qt01~k0color~v0red~zzodd" and sent["pr3"] == ""


def test_a_rule_that_changes_the_event_changes_what_google_receives(monkeypatch):
    event = one_event(edge_hit(), monkeypatch)
    event["value"] = 99.5  # a transformation rewrote the value: printed from the event, key kept
    del event["page_location"]  # a privacy rule removed the page URL
    event["items"][0]["price"] = 12  # an item changed: re-encoded, the other kept as sent
    event["user_properties"]["tier"] = "silver"
    sent = sent_params(request_for(event))
    assert sent["ep.value"] == "99.5" and "dl" not in sent and sent["up.tier"] == "silver"
    assert sent["pr1"] == "idA~nmTee ~pr12~qt1~zzodd~k0color~v0red" and sent["pr2"] == "idB~pr5"
    event["items"].pop()  # an item removed: the rest renumbered pr1..prN
    sent = sent_params(request_for(event))
    assert sent["pr1"].startswith("idA~") and "pr2" not in sent and sent["pr3"] == ""


def test_analytics_storage_denied_is_forwarded_as_the_cookieless_ping_it_is(monkeypatch):
    [hit] = [h for h in HITS if "gcs=G100" in h["query"]]
    [event] = collect(hit, monkeypatch)
    [browser] = browser_events(hit)
    assert event["consent"]["analytics_storage"] == "denied"
    sent = sent_params(request_for(event))
    # Consent parameters unchanged, the page's own cid, no server-set id read or added.
    assert (sent["gcs"], sent["gcd"], sent["cid"]) == (browser["gcs"], browser["gcd"], browser["cid"])
    assert "x-ga-js_client_id" not in event
    result = plan(event, MEASUREMENT_ID=event["x-ga-measurement_id"], COOKIELESS_PINGS="false")
    assert (result.attempt.outcome.value, result.attempt.reason) == ("skipped", "consent_denied:analytics_storage")
    # A ping without any client id stays without one: collect invents none for denied hits.
    event = one_event(
        edge_hit("v=2&tid=G-EDGE&en=page_view&gcs=G100&gcd=13p3p3p2p5l1&dl=https%3A%2F%2Fshop.example%2F"), monkeypatch
    )
    sent = sent_params(request_for(event))
    assert "cid" not in sent and sent["gcs"] == "G100" and sent["en"] == "page_view"


def test_user_data_goes_hashed_in_em_and_not_at_all_without_ad_user_data(monkeypatch):
    base = "v=2&tid=G-EDGE&cid=1.2&en=sign_up&ep.user_data.email=%20John_Smith%40gmail.com%20"
    event = one_event(edge_hit(base + "&gcd=13r3r3r2r5l1"), monkeypatch)
    sent = sent_params(request_for(event))
    assert not any(k.startswith("ep.user_data.") for k in sent), "plain user data must not reach Google"
    digest = hashlib.sha256(b"john_smith@gmail.com").digest()
    assert sent["em"] == "tv.1~em." + base64.urlsafe_b64encode(digest).decode().rstrip("=")
    # The page's own hashed em is forwarded as sent...
    event = one_event(edge_hit("v=2&tid=G-EDGE&cid=1.2&en=x&em=tv.1~em.abc&gcd=13r3r3r2r5l1"), monkeypatch)
    assert sent_params(request_for(event))["em"] == "tv.1~em.abc"
    # ...and with ad_user_data denied (third gcd letter q), neither is.
    for query in (base, "v=2&tid=G-EDGE&cid=1.2&en=x&em=tv.1~em.abc"):
        event = one_event(edge_hit(query + "&gcd=13r3r3q2q5l1"), monkeypatch)
        assert event["consent"]["ad_user_data"] == "denied"
        sent = sent_params(request_for(event))
        assert "em" not in sent and not any(k.startswith("ep.user_data.") for k in sent)


@pytest.mark.parametrize("index", range(len(HITS)))
def test_redacted_ip_and_the_eu_origin_on_every_real_hit(index, monkeypatch):
    for event in collect(HITS[index], monkeypatch):
        request = request_for(event, REDACT_IP="true", REGION="eu")
        assert request.url.startswith("https://region1.google-analytics.com/g/collect?")
        assert sent_params(request)["_uip"] == "::"
        assert VISITOR_IP not in request.url + request.json


def test_a_long_hit_puts_the_events_own_parameters_in_one_body_line(monkeypatch):
    [hit] = [h for h in HITS if h["body"].count("\n") >= 5]
    events = collect(hit, monkeypatch)
    request = request_for(events[1])  # 16 items
    assert request.json and "\n" not in request.json
    query = request.url.split("?", 1)[1]
    assert "pr1=" not in query and "en=" not in query and "tid=" in query and "_uip=" in query
    assert len(request.url) < 4000
    assert sent_params(request)["en"] == "view_item_list"


def test_an_event_collect_did_not_build_from_a_hit_is_encoded_from_its_keys():
    event = {**golden_event("purchase")}
    sent = sent_params(request_for(event))
    assert (sent["en"], sent["tid"], sent["cid"], sent["sid"], sent["sct"], sent["_et"]) == (
        "purchase",
        "G-TEST123",
        "1712345678.1699999999",
        "1730000000",
        "3",
        "1200",
    )
    assert (sent["epn.value"], sent["ep.transaction_id"], sent["cu"], sent["uid"]) == ("143.5", "T-1024", "EUR", "u_42")
    assert sent["pr1"] == "idSKU1~nmShirt~brAcme~caApparel~pr69~qt2" and sent["gcs"] == "G111"
    assert not any(k.startswith("ep.user_data") for k in sent) and sent["em"].startswith("tv.1~em.")


def _mp_golden_requests() -> list:
    spec = json.loads(GOLDEN.read_text())
    return [
        pytest.param(c["expected"]["request"]["json"], id=c["name"])
        for c in spec["cases"]
        if "/mp/collect" in c["expected"].get("request", {}).get("url", "")
    ]


@pytest.mark.parametrize("body", _mp_golden_requests())
def test_every_golden_mp_request_passes_googles_validation_rules(body):
    now = body["timestamp_micros"] + 1_000_000
    assert mp_validation.validate_request(body, now) == []
    for index, event in enumerate(body["events"]):
        assert mp_validation.validate_event(event, index, now) == []
    if "user_data" in body:
        assert body.get("user_id")


def test_mp_limits_hold_for_a_sender_that_pushes_them(monkeypatch):
    event = {
        **golden_event("page_view"),
        "source": "mp",
        "user_properties": {f"p{i}": "v" * 50 for i in range(30)},
        **{f"param_{i}": "x" * 150 for i in range(40)},
    }
    result = VENDOR.plan(event, {"MEASUREMENT_ID": "G-TEST123", "API_SECRET": "s3cret-value"})
    body = result.request.json
    now = body["timestamp_micros"] + 1_000_000
    assert mp_validation.validate_request(body, now) == []
    assert mp_validation.validate_event(body["events"][0], 0, now) == []
    assert len(body["events"][0]["params"]) == mp_validation.MAX_PARAMS


def _push(event: dict, message_id: str) -> bytes:
    message = {"data": base64.b64encode(encode_event(event)).decode(), "attributes": {}, "messageId": message_id}
    return json.dumps({"message": message, "subscription": "projects/p/subscriptions/ga4"}).encode()


def test_the_debug_answer_shows_the_exact_outgoing_url_with_secrets_redacted(monkeypatch):
    event = golden_event("page_view")
    monkeypatch.setenv("GA4_MEASUREMENT_ID", "G-TEST123")
    monkeypatch.setenv("GA4_API_SECRET", "test-debug-secret")
    monkeypatch.setenv("SECRETS_BACKEND", "env")
    # A local run (make run, the inspector): the exact URL. In the cloud the hit's query is
    # personal data and stays out of logs (shared/personal_data.py; test below).
    monkeypatch.setenv("LOG_REQUESTS", "1")
    with MockVendor(default=Reply(204, body=b"")) as google:
        monkeypatch.setenv("VENDOR_API_BASE", google.url)
        fresh = {**event, "debug_mode": True}
        status, payload = VENDOR.handle_push(_push(fresh, "dbg-1"))
        assert (status, payload["outcome"]) == (200, "delivered")
        assert (
            payload["request"]["url"].startswith(f"{google.url}/g/collect?") and "_dbg=1" in payload["request"]["url"]
        )
        assert google.received[0].path == payload["request"]["url"][len(google.url) :].replace(
            "[REDACTED]", "203.0.113.7"
        )
        status, payload = VENDOR.handle_push(_push({**fresh, "source": "mp"}, "dbg-2"))
        assert payload["outcome"] == "delivered"
        assert payload["request"]["url"] == f"{google.url}/mp/collect?" + urlencode(
            {"measurement_id": "G-TEST123", "api_secret": "[REDACTED]"}, safe="[]"
        )
        assert "test-debug-secret" not in json.dumps(payload)
        # Not a debug event: the answer carries no request.
        status, payload = VENDOR.handle_push(_push({**fresh, "debug_mode": False}, "dbg-3"))
        assert "request" not in payload


def test_in_the_cloud_the_debug_answer_keeps_the_endpoint_not_the_hit(monkeypatch):
    """Without LOG_REQUESTS (deployed), a debug event's logged /g/collect URL drops its query
    (the whole hit, personal data included); the MP endpoint's own query stays."""
    event = golden_event("page_view")
    monkeypatch.setenv("GA4_MEASUREMENT_ID", "G-TEST123")
    monkeypatch.setenv("GA4_API_SECRET", "test-debug-secret")
    monkeypatch.setenv("SECRETS_BACKEND", "env")
    monkeypatch.delenv("LOG_REQUESTS", raising=False)
    with MockVendor(default=Reply(204, body=b"")) as google:
        monkeypatch.setenv("VENDOR_API_BASE", google.url)
        fresh = {**event, "debug_mode": True}
        status, payload = VENDOR.handle_push(_push(fresh, "dbg-c1"))
        assert (status, payload["request"]["url"]) == (200, f"{google.url}/g/collect?[REDACTED]")
        status, payload = VENDOR.handle_push(_push({**fresh, "source": "mp"}, "dbg-c2"))
        assert payload["request"]["url"] == f"{google.url}/mp/collect?" + urlencode(
            {"measurement_id": "G-TEST123", "api_secret": "[REDACTED]"}, safe="[]"
        )
        assert "test-debug-secret" not in json.dumps(payload)
