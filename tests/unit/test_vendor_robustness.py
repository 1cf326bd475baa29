"""Whatever shape an event has, every vendor's gates and mapping answer with a plan (a
request or a logged outcome) and never raise: property-based, over JSON-like junk."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from functions.vendors.ga4.main import VENDOR as GA4
from functions.vendors.meta.main import VENDOR as META
from functions.vendors.tiktok.main import VENDOR as TIKTOK
from functions.vendors.googleads.main import VENDOR as GOOGLEADS
from functions.vendors.linkedin.main import VENDOR as LINKEDIN
from functions.vendors.microsoft.main import VENDOR as MICROSOFT
from functions.vendors.pinterest.main import VENDOR as PINTEREST
from functions.vendors.reddit.main import VENDOR as REDDIT
from functions.vendors.snapchat.main import VENDOR as SNAPCHAT
from shared.delivery import Outcome

EVENTS = json.loads((Path(__file__).resolve().parent.parent / "golden" / "vendors" / "events.json").read_text())[
    "events"
]
SETTINGS = {
    "ga4": {"MEASUREMENT_ID": "G-TEST123", "API_SECRET": "s"},
    "meta": {"PIXEL_ID": "1", "ACCESS_TOKEN": "t"},
    "tiktok": {"PIXEL_CODE": "C", "ACCESS_TOKEN": "t"},
    "snapchat": {"PIXEL_ID": "p", "ACCESS_TOKEN": "t"},
    "pinterest": {"AD_ACCOUNT_ID": "1", "ACCESS_TOKEN": "t"},
    "reddit": {"PIXEL_ID": "p", "ACCESS_TOKEN": "t"},
    "linkedin": {"CONVERSION_RULES": json.dumps({e: "1" for e in EVENTS}), "ACCESS_TOKEN": "t"},
    "microsoft": {"TAG_ID": "1", "ACCESS_TOKEN": "t"},
    "googleads": {"CUSTOMER_ID": "1", "CONVERSIONS": json.dumps({e: "1" for e in EVENTS})},
}
VENDORS = {"ga4": GA4, "meta": META, "tiktok": TIKTOK, "snapchat": SNAPCHAT, "pinterest": PINTEREST,
           "reddit": REDDIT, "linkedin": LINKEDIN, "microsoft": MICROSOFT, "googleads": GOOGLEADS}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=10,
)
KEYS = sorted({key for event in EVENTS.values() for key in event} | {"fbclid", "ttclid", "x-fb-ck-fbc", "_ttp"}
              | {"x-ga-wire_keys", "x-ga-wire_text", "x-ga-system_properties", "x-sst-system_properties",
                 "client_hints", "user_properties", "x-ga-mp_sender_context", "device", "em"}
              | {"gclid", "msclkid", "rdt_cid", "li_fat_id"})
# GA4 rebuilds gtag hits from these wire keys: junk values under each of them must not break it.
WIRE_KEYS = [
    "v",
    "tid",
    "cid",
    "en",
    "_p",
    "_et",
    "epn.value",
    "ep.value",
    "pr1",
    "pr2",
    "pr3",
    "_ee",
    "_fv",
    "up.tier",
    "upn.ltv",
    "uafvl",
    "uamb",
    "uap",
    "sst.tft",
    "ep.user_data.email",
    "ep.event_id",
    "ep.debug_mode",
    "ck",
    "unknown",
    "richsstsse",
    "_uip",
    "gcs",
]


@pytest.mark.parametrize("vendor", sorted(VENDORS))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(sorted(EVENTS)),
    changes=st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6),
    wire=st.none() | st.lists(st.sampled_from(WIRE_KEYS), max_size=8),
)
@example(
    base="purchase",
    changes={"value": float("nan"), "items": [{"price": float("inf")}], "page_title": {"a": [1]}},
    wire=None,
)
@example(base="purchase", changes={"timestamp_micros": float("nan"), "consent": "denied", "user_data": [1]}, wire=None)
@example(
    base="purchase",
    changes={
        "x-ga-wire_keys": WIRE_KEYS,
        "x-ga-wire_text": {"pr1": "idA~prX", "uafvl": 3},
        "client_hints": {"full_version_list": [1, {"brand": None}], "mobile": "yes"},
        "x-ga-system_properties": ["fv"],
        "items": [{"price": [1]}, "x"],
    },
    wire=WIRE_KEYS,
)
@example(
    base="purchase",
    changes={
        "source": "mp",
        "user_properties": {"a": [1], "b": {"value": None}},
        "device": "junk",
        "items": [1, {"x": {"y": 1}, "price": "1"}],
        "x-ga-mp_sender_context": "ip_override",
        "event_location": {"city": [1]},
    },
    wire=None,
)
def test_any_event_shape_gives_a_plan_not_an_exception(vendor, base, changes, wire):
    event = {**EVENTS[base], **changes}
    if wire is not None:
        event["x-ga-wire_keys"] = wire
    plan = VENDORS[vendor].plan(event, SETTINGS[vendor], {}, now=1730000100)
    assert plan.request is not None or plan.attempt is not None
    if plan.attempt is not None:
        # Junk data is a gate or a rejection with a reason, never a bug-retry.
        assert plan.attempt.reason and plan.attempt.reason != "mapping_error", plan.attempt
    if plan.request is not None and plan.attempt is None:
        json.dumps(plan.request.json, allow_nan=False)  # what is sent is valid JSON
