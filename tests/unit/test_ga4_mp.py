"""Measurement Protocol: validation like Google's validation server, mapping to normalized events."""

import json
import time

import pytest

from shared.ga4 import mp
from shared.ga4 import mp_validation as v

NOW = int(time.time() * 1_000_000)


def codes(messages):
    return [(m["fieldPath"], m["validationCode"]) for m in messages]


def test_a_valid_request_has_no_messages():
    body = {
        "client_id": "1.2",
        "events": [{"name": "purchase", "params": {"value": 1, "items": [{"item_id": "A", "price": "9.99"}]}}],
    }
    assert v.validate_request(body, NOW) == [] and v.validate_event(body["events"][0], 0, NOW) == []


@pytest.mark.parametrize(
    "body, expected",
    [
        ([], [("", "VALUE_INVALID")]),
        ({"events": [{"name": "a"}]}, [("client_id", "VALUE_REQUIRED")]),
        ({"client_id": 5, "events": [{"name": "a"}]}, [("client_id", "VALUE_INVALID")]),
        ({"client_id": "1"}, [("events", "VALUE_REQUIRED")]),
        ({"client_id": "1", "events": [{"name": "a"}] * 26}, [("events", "EXCEEDED_MAX_ENTITIES")]),
        (
            {"client_id": "1", "events": [{"name": "a"}], "timestamp_micros": NOW - 73 * 3600 * 10**6},
            [("timestamp_micros", "VALUE_OUT_OF_BOUNDS")],
        ),
        (
            {"client_id": "1", "events": [{"name": "a"}], "timestamp_micros": "soon"},
            [("timestamp_micros", "VALUE_INVALID")],
        ),
        (
            {
                "client_id": "1",
                "events": [{"name": "a"}],
                "user_properties": {f"p{i}": {"value": 1} for i in range(26)},
            },
            [("user_properties", "EXCEEDED_MAX_ENTITIES")],
        ),
        (
            {"client_id": "1", "events": [{"name": "a"}], "user_properties": {"first_open_time": {"value": 1}}},
            [("user_properties.first_open_time", "NAME_RESERVED")],
        ),
        (
            {"client_id": "1", "events": [{"name": "a"}], "user_properties": {"a" * 25: {"value": 1}}},
            [("user_properties." + "a" * 25, "NAME_INVALID")],
        ),
        (
            {"client_id": "1", "events": [{"name": "a"}], "user_properties": {"tier": {"value": "x" * 37}}},
            [("user_properties.tier.value", "VALUE_OUT_OF_BOUNDS")],
        ),
        (
            {"client_id": "1", "events": [{"name": "a"}], "user_properties": {"tier": "gold"}},
            [("user_properties.tier", "VALUE_REQUIRED")],
        ),
        (
            {"client_id": "1", "events": [{"name": "a"}], "consent": {"ad_user_data": "YES"}},
            [("consent.ad_user_data", "VALUE_INVALID")],
        ),
        (
            {"client_id": "1", "events": [{"name": "a"}], "non_personalized_ads": "no"},
            [("non_personalized_ads", "VALUE_INVALID")],
        ),
    ],
)
def test_request_level_problems(body, expected):
    assert codes(v.validate_request(body, NOW)) == expected


@pytest.mark.parametrize(
    "event, expected",
    [
        ({"name": "_bad"}, [("events[0].name", "NAME_INVALID")]),
        ({"name": "a" * 41}, [("events[0].name", "NAME_INVALID")]),
        ({}, [("events[0].name", "VALUE_REQUIRED")]),
        ({"name": "session_start"}, [("events[0].name", "NAME_RESERVED")]),
        ({"name": "google_thing"}, [("events[0].name", "NAME_RESERVED")]),
        (
            {"name": "ok", "params": {"firebase_conversion": 1}},
            [("events[0].params.firebase_conversion", "NAME_RESERVED")],
        ),
        ({"name": "ok", "params": {"ga_x": 1}}, [("events[0].params.ga_x", "NAME_RESERVED")]),
        ({"name": "ok", "params": {f"p{i}": 1 for i in range(26)}}, [("events[0].params", "EXCEEDED_MAX_ENTITIES")]),
        ({"name": "ok", "params": {"p": "x" * 101}}, [("events[0].params.p", "VALUE_OUT_OF_BOUNDS")]),
        ({"name": "ok", "params": {"p": {"nested": 1}}}, [("events[0].params.p", "VALUE_INVALID")]),
        ({"name": "ok", "params": {"items": [{"price": 1}]}}, [("events[0].params.items[0]", "VALUE_REQUIRED")]),
        (
            {"name": "ok", "params": {"items": [{"item_id": "A", "price": "cheap"}]}},
            [("events[0].params.items[0].price", "VALUE_INVALID")],
        ),
        (
            {"name": "ok", "params": {"items": [{"item_id": "A", **{f"c{i}": 1 for i in range(11)}}]}},
            [("events[0].params.items[0]", "EXCEEDED_MAX_ENTITIES")],
        ),
        ("event", [("events[0]", "VALUE_INVALID")]),
    ],
)
def test_event_level_problems(event, expected):
    assert codes(v.validate_event(event, 0, NOW)) == expected


def test_descriptions_read_like_googles():
    [message] = v.validate_event({"name": "_badEventName"}, 0, NOW)
    assert message["description"].startswith("Event at index: [0] has invalid event name [_badEventName].")


def test_mapping_to_the_normalized_event():
    body = {
        "client_id": "123.456",
        "user_id": "u1",
        "timestamp_micros": NOW - 10,
        "ip_override": "198.51.100.9",
        "user_properties": {"tier": {"value": "gold"}},
        "consent": {"ad_user_data": "GRANTED", "ad_personalization": "DENIED"},
        "user_data": {"sha256_email_address": ["ab" * 32]},
        "device": {"language": "de", "screen_resolution": "1x1"},
        "user_location": {"city": "Berlin", "country_id": "DE", "region_id": "DE-BE"},
        "validation_behavior": "RELAXED",
        "events": [
            {
                "name": "purchase",
                "params": {
                    "session_id": 1700000000,
                    "engagement_time_msec": "100",
                    "value": "12.50",
                    "currency": "EUR",
                    "items": [{"item_id": "a", "price": "9.99", "quantity": 2}],
                    "debug_mode": True,
                    "source": "x",
                },
            },
            {"name": "login", "timestamp_micros": NOW - 5, "params": {"event_id": "E-1"}},
        ],
    }
    first = mp.mp_event(body, 0, "G-T", "raw", NOW)
    assert first["event_name"] == "purchase" and first["source"] == "mp" and first["client_id"] == "123.456"
    assert first["ga_session_id"] == "1700000000" and first["engagement_time_msec"] == 100 and first["value"] == 12.5
    assert first["items"] == [{"item_id": "a", "price": 9.99, "quantity": 2}] and first["debug_mode"] is True
    assert first["user_properties"] == {"tier": "gold"} and first["user_id"] == "u1"
    assert first["consent"]["ad_user_data"] == "granted" and first["consent"]["ad_personalization"] == "denied"
    assert first["timestamp_micros"] == NOW - 10 and first["ip_override"] == "198.51.100.9"
    assert first["language"] == "de" and first["event_location"] == {
        "city": "Berlin",
        "country": "DE",
        "region": "DE-BE",
    }
    assert first["x-ga-measurement_id"] == "G-T" and first["x-ga-mp2-validation_behavior"] == "RELAXED"
    assert first["x-ga-mp2-ep.source"] == "x" and first["user_data"] == body["user_data"]
    second = mp.mp_event(body, 1, "G-T", "raw", NOW)
    assert second["event_id"] == "E-1" and second["timestamp_micros"] == NOW - 5
    assert (
        first["event_id"]
        == mp.mp_event(body, 0, "G-T", "raw", NOW)["event_id"]
        != mp.mp_event(body, 0, "G-T", "raw2", NOW)["event_id"]
    )


@pytest.mark.parametrize("raw", [b'{"client_id": NaN}', b'{"v": Infinity}', b'{"v": 1e999}', b'{"v": -1e999}'])
def test_json_that_is_not_finite_is_refused(raw):
    with pytest.raises(ValueError):
        mp.parse_body(raw)


def test_large_finite_numbers_are_fine():
    assert mp.parse_body(b'{"v": 1e300, "w": 12345678901234567890}') == {"v": 1e300, "w": 12345678901234567890}


def test_names_that_look_like_emails_are_not_echoed():
    [message] = v.validate_event({"name": "ok", "params": {"test@example.com": 1}}, 0, NOW)
    assert "test@example.com" not in json.dumps(message) and message["validationCode"] == "NAME_INVALID"
