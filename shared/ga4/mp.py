"""Measurement Protocol request bodies (``POST /mp/collect``) → normalized events.

The body is validated first (:mod:`shared.ga4.mp_validation`); this module maps what passed
onto the same keys as gtag hits, with ``source: "mp"``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from shared.event import stable_event_id
from shared.ga4 import consent as consent_codec
from shared.ga4 import limits
from shared.ga4.mp_validation import NUMERIC_ITEM_PARAMS
from shared.ga4.normalize import NUMERIC_EVENT_PARAMS, OWNED_KEYS
from shared.ga4.numbers import set_number

# Request-body keys with a place of their own; any other top-level key is kept as x-ga-mp2-<key>.
_HANDLED_BODY_KEYS = frozenset(
    (
        "client_id",
        "app_instance_id",
        "user_id",
        "timestamp_micros",
        "user_properties",
        "consent",
        "non_personalized_ads",
        "user_data",
        "user_location",
        "ip_override",
        "user_agent",
        "device",
        "events",
    )
)
_DEVICE_KEYS = {"language": "language", "screen_resolution": "screen_resolution"}
_LOCATION_KEYS = {
    "city": "city",
    "region_id": "region",
    "country_id": "country",
    "subcontinent_id": "subcontinent",
    "continent_id": "continent",
}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text[:40]} is out of range")
    return number


def parse_body(body: bytes) -> Any:
    """JSON as the Measurement Protocol sends it. ``NaN``, ``Infinity``, numbers that
    overflow to infinity (``1e999``) and nesting deeper than ``limits.MAX_JSON_DEPTH`` raise
    ``ValueError``: events must stay valid JSON that every consumer can walk."""
    try:
        parsed = json.loads(body.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        # 50,000 "[" exhaust the parser's recursion: a refusal, not a crash.
        raise ValueError("the JSON nests too deeply") from None
    if limits.json_depth_exceeds(parsed):
        raise ValueError(f"the JSON nests deeper than {limits.MAX_JSON_DEPTH} levels")
    return parsed


def mp_event(
    body: Mapping[str, Any],
    index: int,
    measurement_id: str,
    raw_body: str,
    received_micros: int,
) -> dict[str, Any]:
    """The normalized event for ``body["events"][index]`` (which passed validation)."""
    source = body["events"][index]
    event: dict[str, Any] = {"event_name": source["name"]}
    debug = False
    params = source.get("params") or {}
    for key, value in params.items():
        if key == "items":
            event["items"] = [_item(item) for item in value]
        elif key == "session_id":
            event["ga_session_id"] = str(value)
        elif key == "session_number":
            _set_numeric(event, "ga_session_number", value, integer=True)
        elif key == "engagement_time_msec":
            _set_numeric(event, "engagement_time_msec", value, integer=True)
        elif key == "event_id":
            event["event_id"] = str(value)
        elif key == "debug_mode":
            debug = value is True or value in (1, "1", "true", "True")
        elif key in NUMERIC_EVENT_PARAMS:
            _set_numeric(event, key, value)
        elif key in OWNED_KEYS or key.startswith("x-"):
            event[f"x-ga-mp2-ep.{key}"] = value
        else:
            event[key] = value

    client_id = body.get("client_id")
    if client_id is not None:
        event["client_id"] = client_id
    if body.get("app_instance_id") is not None:
        event["x-ga-app_instance_id"] = body["app_instance_id"]
        event.setdefault("client_id", body["app_instance_id"])
    if body.get("user_id") is not None:
        event["user_id"] = body["user_id"]
    properties = body.get("user_properties")
    if properties:
        event["user_properties"] = {name: wrapped["value"] for name, wrapped in properties.items()}
    if body.get("user_data"):
        event["user_data"] = body["user_data"]
    device = body.get("device")
    if device:
        event["device"] = device
        for key, target in _DEVICE_KEYS.items():
            if key in device:
                event.setdefault(target, device[key])
    location = body.get("user_location")
    if location:
        event["event_location"] = {target: location[key] for key, target in _LOCATION_KEYS.items() if key in location}
    if body.get("ip_override"):
        event["ip_override"] = body["ip_override"]
    if isinstance(body.get("user_agent"), str):
        event["user_agent"] = body["user_agent"]
    # The request context the sender itself supplied: collect's caller (a backend) is not the
    # user, so vendors forward only these (functions/vendors/ga4/ga4_mp.py).
    event["x-ga-mp_sender_context"] = [key for key in ("ip_override", "user_agent") if key in event]
    for key, value in body.items():
        if key not in _HANDLED_BODY_KEYS:
            event[f"x-ga-mp2-{key}"] = value

    event["x-ga-measurement_id"] = measurement_id
    event["x-ga-protocol_version"] = "2"
    event["consent"] = consent_codec.from_mp(body)
    event["debug_mode"] = debug
    event.setdefault("event_id", stable_event_id(measurement_id, raw_body, str(index)))
    event["timestamp_micros"] = source.get("timestamp_micros") or body.get("timestamp_micros") or received_micros
    event["source"] = "mp"
    return event


def _set_numeric(event: dict[str, Any], key: str, value: Any, integer: bool = False) -> None:
    if isinstance(value, str):
        set_number(event, key, value, integer=integer)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        event[key] = int(value) if integer else value
    else:
        event[key] = None
        if value is not None:
            event[f"x-ga-raw-{key}"] = value


def _item(item: Mapping[str, Any]) -> dict[str, Any]:
    copy = dict(item)
    for key in NUMERIC_ITEM_PARAMS:
        value = copy.get(key)
        if isinstance(value, str):
            set_number(copy, key, value)
    return copy
