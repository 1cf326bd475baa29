"""The event's location for vendors (shared/delivery/geo.py): validated, CLDR → ISO 3166-2,
removed by a vendor's privacy rule like any key, and recorded in the delivery log line.

The load balancer's variables: ``{client_region}`` (ISO 3166-1 alpha-2), ``{client_region_subdivision}``
(a Unicode CLDR subdivision id, e.g. ``USCA``), ``{client_city}``
(https://cloud.google.com/load-balancing/docs/https/custom-headers#variables). GA4's
``region_id`` is "The ISO 3166 country and subdivision. For example, US-CA, US-AR, CA-BC,
GB-LND" (https://developers.google.com/analytics/devguides/collection/protocol/ga4/reference#geographic_information).
The vendor mappings themselves are golden cases in tests/golden/vendors/*/requests.json.
"""

from __future__ import annotations

import base64
import copy
import importlib
import json
from pathlib import Path

import pytest

from shared.delivery import geo
from shared.event import encode_event
from shared.privacy import rules

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "vendors"
EVENTS = json.loads((GOLDEN / "events.json").read_text())["events"]
TRUSTED = {"country": "US", "region": "USCA", "city": "Mountain View"}


@pytest.mark.parametrize(
    "raw, expected",
    [
        (TRUSTED, {"country": "US", "region": "US-CA", "city": "Mountain View"}),
        ({"country": "CA", "region": "CAON"}, {"country": "CA", "region": "CA-ON"}),
        ({"country": "GB", "region": "GBENG"}, {"country": "GB", "region": "GB-ENG"}),
        ({"country": "DE", "region": "deby"}, {"country": "DE", "region": "DE-BY"}),  # CLDR's own case
        ({"country": "US", "region": "US-CA"}, {"country": "US", "region": "US-CA"}),  # already ISO (MP senders)
        ({"country": "FR", "region": "FR75C"}, {"country": "FR", "region": "FR-75C"}),
        # A region of another country, or without a country, says nothing reliable.
        ({"country": "US", "region": "CAON"}, {"country": "US"}),
        ({"region": "USCA", "city": "Mountain View"}, {"city": "Mountain View"}),
        # Malformed pieces are dropped one by one.
        ({"country": "us", "region": "usca"}, {}),
        ({"country": "USA", "city": "Boston"}, {"city": "Boston"}),
        ({"country": "ZZ"}, {}),
        ({"country": "US", "region": "USCALIF"}, {"country": "US"}),
        ({"country": "US", "region": "US-C<A"}, {"country": "US"}),
        ({"country": "US", "city": "x" * 101}, {"country": "US"}),
        ({"country": "US", "city": "Mountain\nView"}, {"country": "US"}),
        ({"country": "US", "city": "  "}, {"country": "US"}),
        ({"country": ["US"], "region": {"a": 1}, "city": 7}, {}),
        ({"subcontinent": "021", "continent": "19"}, {"subcontinent": "021"}),
        ("US", {}),
        (None, {}),
    ],
)
def test_location_is_validated_key_by_key(raw, expected):
    event = {} if raw is None else {"event_location": raw}
    assert geo.location(event) == expected


def test_provenance_tells_the_load_balancer_a_sender_and_unknown_apart():
    assert geo.provenance({"event_location": TRUSTED}) == "lb"
    assert geo.provenance({"event_location": TRUSTED, "x-ga-mp_sender_context": []}) == "sender"
    assert geo.provenance({"event_location": {"country": "zz"}}) == "unknown"
    assert geo.provenance({}) == "unknown"


def _mixpanel():
    return importlib.import_module("functions.vendors.mixpanel.main").VENDOR


def test_a_privacy_rule_removing_event_location_keeps_it_from_the_vendor():
    # Vendor mappings read the vendor's copy, after its rules (shared/privacy/transform.py).
    event = dict(copy.deepcopy(EVENTS["page_view"]), event_location=TRUSTED)
    settings = {"SERVICE_ACCOUNT": "u:s", "EVENT": "page_view"}
    sent = _mixpanel().plan(event, settings, now=1730000100).request
    assert sent is not None and sent.json[0]["properties"]["mp_country_code"] == "US"
    rule = [{"name": "no-geo", "type": "exclude", "scope": ["mixpanel"], "keys": ["event_location"]}]
    plan = _mixpanel().plan(event, {**settings, "TRANSFORMATIONS": rules.encode(rule)}, now=1730000100)
    assert plan.request is not None
    properties = plan.request.json[0]["properties"]
    assert "mp_country_code" not in properties and "$city" not in properties


@pytest.mark.parametrize(
    "location, rule, expected",
    [
        (TRUSTED, None, "lb"),
        (None, None, "unknown"),
        ({"country": "U$"}, None, "unknown"),
        (TRUSTED, {"name": "no-geo", "type": "exclude", "keys": ["event_location"]}, "unknown"),
    ],
)
def test_the_delivery_log_line_records_where_the_location_came_from(monkeypatch, capsys, location, rule, expected):
    monkeypatch.delenv("MIXPANEL_SERVICE_ACCOUNT", raising=False)
    monkeypatch.delenv("MIXPANEL_PROJECT_TOKEN", raising=False)
    if rule:
        monkeypatch.setenv("MIXPANEL_TRANSFORMATIONS", rules.encode([rule]))
    else:
        monkeypatch.delenv("MIXPANEL_TRANSFORMATIONS", raising=False)
    event = copy.deepcopy(EVENTS["page_view"])
    event["timestamp_micros"] = int(__import__("time").time() * 1_000_000)
    if location is not None:
        event["event_location"] = location
    message = {"data": base64.b64encode(encode_event(event)).decode(), "attributes": {}, "messageId": "geo-1"}
    _mixpanel().handle_push(json.dumps({"message": message}).encode())
    line = [json.loads(text) for text in capsys.readouterr().out.splitlines() if text.startswith("{")][-1]
    assert line["outcome"] == "dry_run"
    assert line["geo"] == expected
    properties = line["request"]["json"][0]["properties"]
    assert ("mp_country_code" in properties) == (expected == "lb")
