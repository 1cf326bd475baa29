"""Snapchat, Pinterest, Reddit, LinkedIn, Microsoft and Google Ads end to end over real parts:
a hit to collect → the Pub/Sub emulator → each vendor function (functions-framework) → a real
local HTTP server standing in for the vendor's API (VENDOR_API_BASE). LinkedIn mints its
access token from a refresh token at a local OAuth server; Google Ads gets the function's
Google identity from a local metadata server through google-auth; Pinterest answers 429 with
Retry-After first, and the event still arrives (nothing lost)."""

from __future__ import annotations

import json
import urllib.parse

import pytest
import requests

from devstack import config as stack_config
from devstack.mock_vendor import MockVendor, Received, Reply
from devstack.stack import LocalStack
from tests.stackutil import delivery_lines, wait_until

pytestmark = pytest.mark.integration

USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) E2E/1.0"
LANDING = ("https://shop.example/thanks?ScCid=sc-e2e&epik=epik-e2e&rdt_cid=rdt-e2e&li_fat_id=fat-e2e"
           "&msclkid=ms-e2e&gclid=gclid-e2e")
COOKIES = {"_scid": "scid-e2e", "_rdt_uuid": "1729990000000.6b3b1f5e-1c2d-4f4e-9a8b-0123456789ab",
           "_uetvid": "0d5c1f60aa1d11ef8a3b5b6b2c3d4e5f", "_epik": "older-epik"}
VENDORS = ("snapchat", "pinterest", "reddit", "linkedin", "microsoft", "googleads")
REPLIES = {
    "snapchat": Reply(200, body={"status": "VALID", "reason": "ok"}),
    "pinterest": Reply(200, body={"num_events_received": 1, "num_events_processed": 1,
                                  "events": [{"status": "processed"}]}),
    "reddit": Reply(200, body={}),
    "linkedin": Reply(201, body=b""),
    "microsoft": Reply(200, body={"eventsReceived": 1}),
    "googleads": Reply(200, body={"requestId": "e2e"}),
}
SETTINGS = {
    "snapchat": {"SNAPCHAT_PIXEL_ID": "snap-e2e", "SNAPCHAT_ACCESS_TOKEN": "test-e2e-snap"},
    "pinterest": {"PINTEREST_AD_ACCOUNT_ID": "549", "PINTEREST_ACCESS_TOKEN": "test-e2e-pin"},
    "reddit": {"REDDIT_PIXEL_ID": "t2_e2e", "REDDIT_ACCESS_TOKEN": "test-e2e-reddit"},
    "linkedin": {"LINKEDIN_CONVERSION_RULES": json.dumps({"purchase": "104012"}), "LINKEDIN_CLIENT_ID": "test-e2e-id",
                 "LINKEDIN_CLIENT_SECRET": "test-e2e-secret", "LINKEDIN_REFRESH_TOKEN": "test-e2e-refresh"},
    "microsoft": {"MICROSOFT_TAG_ID": "343", "MICROSOFT_ACCESS_TOKEN": "test-e2e-ms"},
    "googleads": {"GOOGLEADS_CUSTOMER_ID": "123-456-7890", "GOOGLEADS_CONVERSIONS": json.dumps({"purchase": "705"})},
}


def _metadata(request: Received) -> Reply:
    flavor = {"Metadata-Flavor": "Google"}
    if "/service-accounts/default/token" in request.path:
        return Reply(200, body={"access_token": "test-e2e-google", "expires_in": 3600, "token_type": "Bearer"},
                     headers=flavor)
    return Reply(200, body={"email": "tag-vendor-googleads@p.iam.gserviceaccount.com"}, headers=flavor)


def _oauth(request: Received) -> Reply:
    form = dict(urllib.parse.parse_qsl(request.body.decode()))
    if form.get("refresh_token") != "test-e2e-refresh":
        return Reply(400, body={"error": "invalid_grant"})
    return Reply(200, body={"access_token": "test-e2e-linkedin-access", "expires_in": 5184000})


@pytest.fixture
def servers(tmp_path):
    found = {name: MockVendor(default=reply) for name, reply in REPLIES.items()}
    found["oauth"], found["metadata"] = MockVendor(), MockVendor()
    found["oauth"].responder, found["metadata"].responder = _oauth, _metadata
    for server in found.values():
        server.__enter__()
    try:
        yield found
    finally:
        for server in found.values():
            server.close()


def _stack(servers: dict[str, MockVendor], home: str) -> LocalStack:
    env = {name: {**SETTINGS[name], "VENDOR_API_BASE": servers[name].url, "LOG_REQUESTS": "1",
                  "SECRETS_BACKEND": "env"} for name in VENDORS}
    env["linkedin"]["LINKEDIN_TOKEN_URL"] = f"{servers['oauth'].url}/oauth/v2/accessToken"
    metadata = servers["metadata"].url.removeprefix("http://")
    env["googleads"].update(GCE_METADATA_HOST=metadata, GCE_METADATA_IP=metadata, HOME=home,
                            GOOGLE_APPLICATION_CREDENTIALS="")
    return LocalStack(stack_config.load(), vendors=VENDORS, vendor_env=env)


def test_a_purchase_reaches_the_six_ad_apis_with_tokens_and_a_rate_limit(servers, tmp_path):
    servers["pinterest"].play(Reply(429, body={"code": 8, "message": "rate limited"}, headers={"Retry-After": "1"}))
    with _stack(servers, str(tmp_path)) as stack:
        query = urllib.parse.urlencode({
            "v": "2", "tid": "G-E2E", "cid": "111.222", "sid": "1730000000", "en": "purchase", "dl": LANDING,
            "dt": "Thanks", "cu": "EUR", "ep.transaction_id": "T-E2E", "epn.value": "10.5",
            "pr1": "idSKU1~nmShirt~pr10.5~qt1", "uid": "user-42",
        })
        # The vendors' first-party cookies, as the browser sends them: collect copies them into
        # the event (docs/contracts.md), so conversions after the landing page still match.
        cookie = "; ".join(f"{k}={v}" for k, v in COOKIES.items())
        response = requests.post(f"{stack.collect_url}/g/collect?{query}",
                                 headers={"User-Agent": USER_AGENT, "Cookie": cookie}, timeout=10)
        assert response.status_code in (200, 204), response.text
        got = {name: servers[name].wait_for(2 if name == "pinterest" else 1, timeout=120) for name in VENDORS}
        lines = {name: wait_until(lambda n=name: [l for l in delivery_lines(stack.log_path(f"vendor-{n}"))
                                                  if l["outcome"] == "delivered"], timeout=60)
                 for name in VENDORS}
        all_lines = {name: delivery_lines(stack.log_path(f"vendor-{name}")) for name in VENDORS}

    snap = got["snapchat"][0]
    assert snap.path == "/v3/snap-e2e/events" and snap.headers["authorization"] == "Bearer test-e2e-snap"
    event = snap.json()["data"][0]
    assert (event["event_name"], event["action_source"]) == ("PURCHASE", "WEB")
    assert event["user_data"]["sc_click_id"] == "sc-e2e" and event["user_data"]["client_user_agent"] == USER_AGENT
    assert event["user_data"]["sc_cookie1"] == "scid-e2e"  # the _scid cookie, through collect
    event_id = event["event_id"]

    # Pinterest: the 429 paused it and the message was redelivered; the same event arrived.
    first, second = got["pinterest"][:2]
    assert first.json() == second.json()
    pin = second.json()["data"][0]
    assert (pin["event_name"], pin["event_id"], pin["user_data"]["click_id"]) == ("checkout", event_id, "epik-e2e")
    assert pin["custom_data"]["value"] == "10.50"
    assert [l["reason"] for l in all_lines["pinterest"]][0] == "http_429"

    reddit = got["reddit"][0].json()["data"]["events"][0]
    assert (reddit["type"], reddit["click_id"]) == ({"tracking_type": "PURCHASE"}, "rdt-e2e")
    assert reddit["metadata"]["conversion_id"] == event_id
    assert reddit["user"]["uuid"] == "6b3b1f5e-1c2d-4f4e-9a8b-0123456789ab"  # from _rdt_uuid

    linkedin = got["linkedin"][0]
    assert linkedin.headers["authorization"] == "Bearer test-e2e-linkedin-access"
    assert linkedin.headers["linkedin-version"] and linkedin.json()["eventId"] == event_id
    assert {"idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "idValue": "fat-e2e"} in linkedin.json()["user"]["userIds"]
    assert len(servers["oauth"].received) == 1

    microsoft = got["microsoft"][0].json()["data"][0]
    assert (microsoft["eventType"], microsoft["eventName"], microsoft["eventId"]) == ("custom", "purchase", event_id)
    assert microsoft["userData"]["msclkid"] == "ms-e2e" and microsoft["adStorageConsent"] == "G"
    assert microsoft["userData"]["anonymousId"] == "0d5c1f60aa1d11ef8a3b5b6b2c3d4e5f"  # from _uetvid

    google = got["googleads"][0]
    assert google.path == "/v1/events:ingest" and google.headers["authorization"] == "Bearer test-e2e-google"
    body = google.json()
    assert body["destinations"][0]["productDestinationId"] == "705"
    assert body["events"][0]["adIdentifiers"]["gclid"] == "gclid-e2e"
    assert body["events"][0]["transactionId"] == "T-E2E"

    for name in VENDORS:
        assert len(lines[name]) == 1, name
        assert "test-e2e" not in json.dumps(all_lines[name]), f"a credential leaked into {name}'s log"
